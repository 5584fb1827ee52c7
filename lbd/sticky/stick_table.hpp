// lbd::StickyTable: stick key (bytes) → backend NAME, with an idle TTL, an LRU bound, local vs
// remote origin and a bounded journal of local updates for the replicator (HAProxy stick_table.c
// habits: remote updates are applied last-writer-wins and never journaled, so never echoed).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.hpp"
#include "lbd/sticky/journal.hpp"
#include "lbd/sticky/siphash.hpp"

namespace lbd {

/// Who wrote an entry last: this node (a pick, a refresh on use, a local delete) or the peer.
enum class StickOrigin : std::uint8_t { local, remote };

struct StickyTableOptions {
  /// Upper bound on entries. Split over the shards (their shares add up to exactly this); each
  /// shard evicts its own least recently used entry when full, so LRU order is per shard and a
  /// shard that fills first evicts while others still have room. At most 16,777,214 entries per
  /// shard (24-bit slot numbers in the index).
  std::size_t max_entries = 1'000'000;
  /// Idle time-to-live: every hit pushes the expiry to now + ttl.
  lb::Duration ttl = std::chrono::minutes(30);
  /// A refresh of the same key is journaled at most once per this interval, so a hot key does
  /// not flood the peer; the peer's copy may therefore expire up to this much early.
  lb::Duration refresh_journal_interval = std::chrono::seconds(10);
  /// Journal records kept for the replicator before it has to fall back to a full resync.
  std::size_t journal_capacity = 65536;
  /// Number of shards (rounded up to a power of two, 1..1024). One mutex each.
  unsigned shards = 16;
  /// Low 8 bits of every local version: breaks last-writer-wins ties between the two nodes.
  std::uint8_t node_id = 0;
  /// Longest accepted key and server name, in bytes (longer ones are refused, not truncated).
  std::size_t max_key_size = 512;
  std::size_t max_server_name_size = 255;
  /// Distinct server names interned over the table's life (a hostile peer cannot grow it past).
  std::size_t max_server_names = 4096;
  /// SipHash key for shard and slot placement; nullopt = a random one (tests pin it).
  std::optional<SipKey> hash_key;
};

/// One journaled local change, for the replicator. `expiry` is when the entry expires on this
/// node: the replicator sends `expiry - now` as the TTL remaining, so the peer needs no clock sync.
struct StickJournalRecord {
  enum class Kind : std::uint8_t { insert, refresh, erase, expire };
  std::uint64_t seq = 0;
  Kind kind = Kind::insert;
  std::string key;
  std::string server;  // empty for erase / expire
  lb::SteadyTime expiry{};
  std::uint64_t version = 0;
};

/// A copy of one entry, for the control socket dump and full resyncs.
struct StickEntryView {
  std::string key;
  std::string server;
  lb::Duration remaining{};
  StickOrigin origin = StickOrigin::local;
  std::uint64_t version = 0;
};

/// Counter snapshot (each value read atomically; the set is not one consistent instant).
struct StickyCounters {
  std::uint64_t entries = 0;
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;
  std::uint64_t inserts = 0;  // local inserts and overwrites
  std::uint64_t evictions = 0;
  std::uint64_t expirations = 0;
  std::uint64_t remote_applied = 0;
  std::uint64_t remote_stale = 0;     // remote updates older than what we hold (LWW lost)
  std::uint64_t rejected = 0;         // keys/names too long, or too many server names
  std::uint64_t journal_dropped = 0;  // journal records pushed out of the ring
};

/// The table. Thread-safe: every call locks only the shard its key hashes to (the journal has
/// its own mutex, always taken after a shard's); no call blocks on I/O. The `string_view`s it
/// returns point to interned server names that live as long as the table.
///
/// Memory: entries live in per-shard chunked slot arrays (no node per entry) with an intrusive
/// doubly linked LRU (32-bit slot indices) and a linear-probing index of 32-bit entries (8-bit hash
/// tag + 24-bit slot number, so probes past other keys rarely touch their slots);
/// server names are interned and each entry holds a pointer. About 80 bytes per entry plus the
/// index (~8 bytes at 1M) plus the key's heap block when the key exceeds 15 bytes.
///
/// Keys are hashed with SipHash-1-3 under a per-table random key, so clients who choose their keys
/// (header, cookie modes) cannot aim them all at one probe chain.
class StickyTable {
 public:
  using Options = StickyTableOptions;
  using JournalBatch = repl::JournalBatch<StickJournalRecord>;

  /// `clock` must outlive the table. `name` is the table's name on the wire (the pool name).
  StickyTable(std::string name, Options options, const lb::Clock& clock);
  ~StickyTable();
  StickyTable(const StickyTable&) = delete;
  StickyTable& operator=(const StickyTable&) = delete;

  const std::string& name() const { return name_; }
  const Options& options() const { return options_; }

  /// The server stuck to `key`, or nullopt (a miss; an expired entry is a miss and is removed).
  /// A hit refreshes the idle TTL and the LRU position, and journals a refresh at most once per
  /// `refresh_journal_interval`. Counts a hit or a miss.
  std::optional<std::string_view> lookup(std::string_view key);
  /// Like lookup, but changes nothing and counts nothing (tests, diagnostics).
  std::optional<std::string_view> peek(std::string_view key) const;

  /// Sticks `key` to `server` (insert, or overwrite after a re-pick), expiry = now + ttl, and
  /// journals it. Evicts the shard's least recently used entry when the shard is full. Returns
  /// false (and counts `rejected`) when the key or name is too long or the name table is full.
  bool stick(std::string_view key, std::string_view server);
  /// Removes `key` (e.g. its server left the config) and journals it. True when it existed.
  bool erase(std::string_view key);

  enum class RemoteResult { applied, stale, rejected };
  /// Applies an update from the peer: last writer wins on `version` (equal or older is `stale`).
  /// Never journaled. `ttl_remaining` is capped at the table's ttl.
  RemoteResult apply_remote(std::string_view key, std::string_view server,
                            lb::Duration ttl_remaining, std::uint64_t version);
  /// Applies a delete (or expiry) from the peer if our entry's version ≤ `version`. Never
  /// journaled. `applied` also when there was nothing to delete.
  RemoteResult apply_remote_erase(std::string_view key, std::uint64_t version);

  /// Removes expired entries; call it from a timer on the control thread. Each shard is swept
  /// from its LRU tail until the first live entry, then up to `scan_budget` more slots are
  /// visited round-robin (entries stored with a shorter remaining TTL than their LRU neighbours —
  /// remote ones — are found that way). Expiry of local entries is journaled. Returns the count.
  std::size_t expire(std::size_t scan_budget = 1024);

  /// Journal records with seq > `since_seq` (at most `max`); see repl::JournalBatch.
  JournalBatch pull(std::uint64_t since_seq, std::size_t max) const;
  std::uint64_t journal_head() const { return journal_.head_seq(); }

  /// Calls `fn` for every live entry, one shard at a time under that shard's lock (so `fn` must
  /// not call back into the table). For full resyncs; not a consistent snapshot across shards.
  void for_each(const std::function<void(const StickEntryView&)>& fn) const;
  /// The shard count, and for_each over one shard (`index` < shard_count()): a full resync walks
  /// the table a shard at a time and writes in between, so its buffer stays one shard's worth.
  std::size_t shard_count() const { return shards_.size(); }
  void for_each_in_shard(std::size_t index,
                         const std::function<void(const StickEntryView&)>& fn) const;
  /// Up to `limit` live entries, for the control socket.
  std::vector<StickEntryView> dump(std::size_t limit) const;

  std::size_t size() const;
  StickyCounters counters() const;

 private:
  struct Shard;
  struct Slot;

  std::uint64_t hash(std::string_view key) const { return siphash13(hash_key_, key); }
  Shard& shard_for(std::size_t hash) const;
  const std::string* intern(std::string_view server);
  std::uint64_t next_version();
  void observe_version(std::uint64_t version);
  void journal(StickJournalRecord::Kind kind, const Slot& slot);
  std::int64_t now_ns() const;

  const std::string name_;
  const Options options_;
  const lb::Clock& clock_;
  const SipKey hash_key_;
  std::vector<std::unique_ptr<Shard>> shards_;
  unsigned shard_shift_ = 0;

  std::mutex names_mutex_;
  std::deque<std::string> names_;  // deque: stable addresses for the pointers in slots
  std::unordered_map<std::string_view, const std::string*> name_index_;

  std::atomic<std::uint64_t> lamport_{0};
  repl::Journal<StickJournalRecord> journal_;

  std::atomic<std::uint64_t> hits_{0}, misses_{0};
  std::atomic<std::uint64_t> inserts_{0}, evictions_{0}, expirations_{0};
  std::atomic<std::uint64_t> remote_applied_{0}, remote_stale_{0}, rejected_{0};
  std::atomic<std::uint64_t> entries_{0};
};

}  // namespace lbd
