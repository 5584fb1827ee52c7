#include "lbd/http/header_arena.hpp"

#include <doctest/doctest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

namespace {

namespace http = boost::beast::http;
using lbd::proxy::ArenaAllocator;
using lbd::proxy::HeaderArena;

using Parser = http::request_parser<http::empty_body, ArenaAllocator<char>>;

bool inside(const void* p, const std::array<std::byte, 512>& block) {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= block.data() && b < block.data() + block.size();
}

/// Parses `raw` (a whole request header) with fields from `arena`; returns the number of fields.
std::size_t parse_fields(HeaderArena& arena, std::string_view raw) {
  Parser p(std::piecewise_construct, std::make_tuple(),
           std::make_tuple(ArenaAllocator<char>(&arena)));
  boost::system::error_code ec;
  p.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  REQUIRE_FALSE(ec);
  REQUIRE(p.is_header_done());
  CHECK(arena.live() > 0);
  std::size_t n = 0;
  for (const auto& f : p.get()) n += f.value().empty() ? 0 : 1;
  return n;
}

}  // namespace

TEST_CASE("header_arena: allocations come from the block, aligned, and go to the heap when full") {
  std::array<std::byte, 512> block{};
  HeaderArena arena(block.data(), block.size());
  void* a = arena.allocate(3, 1);
  void* b = arena.allocate(16, 8);
  CHECK(inside(a, block));
  CHECK(inside(b, block));
  CHECK(reinterpret_cast<std::uintptr_t>(b) % 8 == 0);
  CHECK(static_cast<std::byte*>(b) >= static_cast<std::byte*>(a) + 3);
  CHECK(arena.live() == 2);
  void* big = arena.allocate(600, 8);  // more than the block holds: the heap
  CHECK_FALSE(inside(big, block));
  CHECK(arena.heap_allocations() == 1);
  arena.deallocate(big, 600);
  CHECK(arena.live() == 2);  // a heap block is not counted
  arena.deallocate(a, 3);
  arena.deallocate(b, 16);
  CHECK(arena.live() == 0);
  CHECK(arena.used() == 0);
}

TEST_CASE("header_arena: the block starts over when every allocation is freed, not before") {
  std::array<std::byte, 512> block{};
  HeaderArena arena(block.data(), block.size());
  void* a = arena.allocate(100, 8);
  void* b = arena.allocate(100, 8);
  arena.deallocate(a, 100);  // not the last one: its bytes stay taken while b lives
  void* c = arena.allocate(100, 8);
  CHECK(c != a);
  CHECK(static_cast<std::byte*>(c) >= static_cast<std::byte*>(b) + 100);
  arena.deallocate(c, 100);  // the last one: its bytes are taken again at once
  void* d = arena.allocate(100, 8);
  CHECK(d == c);
  arena.deallocate(d, 100);
  arena.deallocate(b, 100);
  CHECK(arena.live() == 0);
  CHECK(arena.allocate(8, 8) == block.data());
}

TEST_CASE("header_arena: a parser's fields live in the block and are all freed with the parser") {
  std::array<std::byte, 2048> block{};
  HeaderArena arena(block.data(), block.size());
  const auto fields = parse_fields(arena,
                                   "GET /some/longer/target?with=query HTTP/1.1\r\n"
                                   "Host: example.com\r\nUser-Agent: test/1.0\r\nAccept: */*\r\n"
                                   "X-Custom-Header: a value long enough to leave the SSO\r\n\r\n");
  CHECK(fields == 4);
  CHECK(arena.heap_allocations() == 0);
  CHECK(arena.live() == 0);
  CHECK(arena.used() == 0);
}

TEST_CASE("header_arena: a header larger than the block spills to the heap and parses whole") {
  std::array<std::byte, 256> block{};
  HeaderArena arena(block.data(), block.size());
  std::string raw = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (int i = 0; i < 20; ++i) raw += "X-Field-" + std::to_string(i) + ": some value\r\n";
  raw += "\r\n";
  CHECK(parse_fields(arena, raw) == 21);
  CHECK(arena.heap_allocations() > 0);
  CHECK(arena.live() == 0);
}

TEST_CASE("header_arena: moving a header parser into a body parser keeps the arena's fields") {
  std::array<std::byte, 2048> block{};
  HeaderArena arena(block.data(), block.size());
  const std::string_view raw =
      "POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n";
  {
    Parser header(std::piecewise_construct, std::make_tuple(),
                  std::make_tuple(ArenaAllocator<char>(&arena)));
    header.eager(false);
    boost::system::error_code ec;
    header.put(boost::asio::buffer(raw.data(), raw.size()), ec);
    REQUIRE(header.is_header_done());
    http::parser<true, http::buffer_body, ArenaAllocator<char>> body(std::move(header));
    CHECK(body.get().target() == "/upload");
    CHECK(body.get()[http::field::host] == "example.com");
    CHECK(body.get().get_allocator().arena() == &arena);
    CHECK(arena.live() > 0);
  }
  CHECK(arena.live() == 0);
  CHECK(arena.heap_allocations() == 0);
}

TEST_CASE("header_arena: a default-constructed allocator uses the heap") {
  ArenaAllocator<std::uint64_t> heap;
  auto* p = heap.allocate(4);
  p[3] = 7;
  CHECK(p[3] == 7);
  heap.deallocate(p, 4);
  std::array<std::byte, 64> block{};
  HeaderArena arena(block.data(), block.size());
  CHECK(ArenaAllocator<char>(&arena) == ArenaAllocator<int>(&arena));
  CHECK_FALSE(ArenaAllocator<char>(&arena) == heap);
}

TEST_CASE("header_arena: HeaderMemory's arena hands out its own inline block") {
  lbd::proxy::HeaderMemory memory;
  void* p = memory.arena.allocate(64, 8);
  const auto* b = static_cast<const std::byte*>(p);
  CHECK(b >= memory.block.data());
  CHECK(b + 64 <= memory.block.data() + memory.block.size());
  memory.arena.deallocate(p, 64);
  CHECK(memory.arena.live() == 0);
}
