// A bounded, sequence-numbered ring of local updates that the replicator pulls from. Producers
// never block on a slow consumer: when the ring is full the oldest records are overwritten, and a
// consumer that asks for an overwritten sequence is told to do a full resync instead.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

namespace lbd::repl {

/// What `Journal::pull` returns. `overflowed` means records after `since_seq` were overwritten:
/// the consumer must send a full resync, then continue with `pull(head_seq, ...)` (`head_seq` read
/// *before* the resync snapshot, so nothing between the two is missed; duplicates are harmless
/// because the receiver applies last-writer-wins).
template <typename Record>
struct JournalBatch {
  std::vector<Record> records;  // in sequence order, each with .seq set
  bool overflowed = false;
  std::uint64_t head_seq = 0;    // last sequence number written so far (0 = nothing yet)
  std::uint64_t oldest_seq = 0;  // oldest sequence still held (0 = empty)
};

/// Fixed-capacity journal. `Record` must have a `std::uint64_t seq` member. Thread-safe: one
/// mutex guards the ring; `append` is O(1) (it moves the record in), `pull` copies at most `max`.
template <typename Record>
class Journal {
 public:
  /// `capacity` ≥ 1 records; the ring is allocated lazily as records arrive.
  explicit Journal(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  /// Stamps `r.seq` with the next sequence number and stores it; returns that number.
  std::uint64_t append(Record r) {
    std::lock_guard lock(mutex_);
    r.seq = ++head_;
    if (ring_.size() < capacity_) {
      ring_.push_back(std::move(r));
    } else {
      ring_[(r.seq - 1) % capacity_] = std::move(r);
      ++overwritten_;
    }
    return head_;
  }

  /// Records with seq > `since_seq`, at most `max` of them, oldest first.
  JournalBatch<Record> pull(std::uint64_t since_seq, std::size_t max) const {
    JournalBatch<Record> batch;
    std::lock_guard lock(mutex_);
    batch.head_seq = head_;
    batch.oldest_seq = oldest_locked();
    if (since_seq >= head_) return batch;
    if (since_seq + 1 < batch.oldest_seq) {
      batch.overflowed = true;
      return batch;
    }
    const std::uint64_t last = std::min<std::uint64_t>(head_, since_seq + max);
    batch.records.reserve(static_cast<std::size_t>(last - since_seq));
    for (std::uint64_t s = since_seq + 1; s <= last; ++s) {
      batch.records.push_back(ring_[(s - 1) % capacity_]);
    }
    return batch;
  }

  /// The last sequence number written (0 before the first record).
  std::uint64_t head_seq() const {
    std::lock_guard lock(mutex_);
    return head_;
  }
  /// How many records were pushed out of the full ring (pulled or not) over the journal's life.
  std::uint64_t overwritten() const {
    std::lock_guard lock(mutex_);
    return overwritten_;
  }
  std::size_t capacity() const { return capacity_; }

 private:
  std::uint64_t oldest_locked() const {
    if (head_ == 0) return 0;
    return head_ > capacity_ ? head_ - capacity_ + 1 : 1;
  }

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::vector<Record> ring_;
  std::uint64_t head_ = 0;
  std::uint64_t overwritten_ = 0;
};

}  // namespace lbd::repl
