// Memory for the header fields of one HTTP/1.1 exchange. Beast's field container allocates one
// block per field, plus the request target and the response reason, so with std::allocator a
// small keep-alive request cost a malloc and a free per field of the request and the response.
// The session's exchange() keeps a block in its coroutine frame (one allocation it costs anyway)
// and its request and response parsers take their fields from it with a bump pointer; what does
// not fit goes to the heap. The block goes with the frame, so an idle connection holds none.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>

#include <boost/beast/http/fields.hpp>

namespace lbd::proxy {

/// A bump allocator over a caller's block. Frees are counted; when nothing allocated from the
/// block is live any more it starts again at its beginning (an interim response's fields, freed
/// before the final response's, make room for them). Requests that do not fit go to
/// ::operator new. Not thread-safe: one exchange on one worker thread uses it.
class HeaderArena {
 public:
  /// `block` must outlive every allocation made from it.
  HeaderArena(std::byte* block, std::size_t size) noexcept : block_(block), size_(size) {}
  HeaderArena(const HeaderArena&) = delete;
  HeaderArena& operator=(const HeaderArena&) = delete;

  void* allocate(std::size_t bytes, std::size_t align) {
    const auto base = reinterpret_cast<std::uintptr_t>(block_);
    const auto start = (base + used_ + align - 1) & ~(std::uintptr_t{align} - 1);
    if (start + bytes <= base + size_) {
      used_ = start + bytes - base;
      ++live_;
      return reinterpret_cast<void*>(start);
    }
    ++heap_allocations_;
    return ::operator new(bytes);
  }

  void deallocate(void* p, std::size_t bytes) noexcept {
    auto* b = static_cast<std::byte*>(p);
    if (b < block_ || b >= block_ + size_) {
      ::operator delete(p, bytes);
      return;
    }
    // The last allocation goes back at once (Beast replaces a field's storage in place).
    if (b + bytes == block_ + used_) used_ = static_cast<std::size_t>(b - block_);
    if (--live_ == 0) used_ = 0;
  }

  /// Allocations from the block not yet freed.
  std::size_t live() const noexcept { return live_; }
  /// Bytes of the block in use (up to the last live allocation, or beyond after frees).
  std::size_t used() const noexcept { return used_; }
  /// Allocations that did not fit and went to the heap.
  std::size_t heap_allocations() const noexcept { return heap_allocations_; }

 private:
  std::byte* block_;
  std::size_t size_;
  std::size_t used_ = 0;
  std::size_t live_ = 0;
  std::size_t heap_allocations_ = 0;
};

/// A standard allocator over a HeaderArena; without one (default-constructed) it uses the heap.
template <typename T>
class ArenaAllocator {
 public:
  using value_type = T;

  ArenaAllocator() noexcept = default;
  explicit ArenaAllocator(HeaderArena* arena) noexcept : arena_(arena) {}
  template <typename U>
  ArenaAllocator(const ArenaAllocator<U>& other) noexcept : arena_(other.arena()) {}

  T* allocate(std::size_t n) {
    if (!arena_) return static_cast<T*>(::operator new(n * sizeof(T)));
    static_assert(alignof(T) <= alignof(std::max_align_t));
    return static_cast<T*>(arena_->allocate(n * sizeof(T), alignof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (!arena_) {
      ::operator delete(p, n * sizeof(T));
      return;
    }
    arena_->deallocate(p, n * sizeof(T));
  }
  HeaderArena* arena() const noexcept { return arena_; }

  template <typename U>
  bool operator==(const ArenaAllocator<U>& other) const noexcept {
    return arena_ == other.arena();
  }

 private:
  HeaderArena* arena_ = nullptr;
};

/// The field container of the L7 session's request and response headers.
using HeaderFields = boost::beast::http::basic_fields<ArenaAllocator<char>>;

/// The block exchange() keeps for its headers: a field costs its name and value plus ~60 bytes
/// of Beast's node, so a browser's request (~10 fields, a cookie) and its response fit.
constexpr std::size_t kHeaderArenaBytes = 3072;

/// A HeaderArena with its block inline, to live in the frame of the exchange it serves.
struct HeaderMemory {
  std::array<std::byte, kHeaderArenaBytes> block;
  HeaderArena arena{block.data(), block.size()};
};

}  // namespace lbd::proxy
