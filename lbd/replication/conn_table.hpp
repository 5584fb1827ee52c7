// The connection table: one entry per live proxied connection on this node (local) and on the
// peer (remote, replicated). After a failover the new master looks a reconnecting client up in
// the peer's entries and sends it back to the backend it had, even for pools without stickiness.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/net/ip_address.hpp"
#include "lbd/replication/name_table.hpp"
#include "lbd/replication/wire.hpp"
#include "lbd/sticky/journal.hpp"

namespace lbd::repl {

struct ConnEntry {
  std::uint64_t id = 0;  // local: assigned by the table; remote: the peer's id
  lb::Endpoint client;
  std::string listener;
  std::string pool;
  std::string backend;
  std::chrono::system_clock::time_point start{};  // wall clock: it crosses nodes
  ConnMode mode = ConnMode::l4;
  friend bool operator==(const ConnEntry&, const ConnEntry&) = default;
};

struct ConnJournalRecord {
  enum class Kind : std::uint8_t { add, remove };
  std::uint64_t seq = 0;
  Kind kind = Kind::add;
  ConnEntry entry;  // for remove only `id` is set
};

struct ConnTableOptions {
  std::size_t max_local = 200'000;   // connections tracked; more are served but not tracked
  std::size_t max_remote = 200'000;  // peer entries held; more are dropped (counted)
  std::size_t journal_capacity = 65536;
  unsigned shards = 16;  // local side, rounded up to a power of two (1..1024)
};

struct ConnTableCounters {
  std::uint64_t local = 0;
  std::uint64_t remote = 0;
  std::uint64_t local_untracked = 0;  // add_local refused: table full
  std::uint64_t remote_dropped = 0;   // apply_remote_add refused: table full
  std::uint64_t remote_matches = 0;   // lookups that found a peer entry
};

/// Thread-safe. The local side is sharded by connection id (mutex per shard): workers add and
/// remove without contending. The remote side is written only by the replicator and read by
/// workers for new connections, under one shared_mutex; `find_remote` skips the lock entirely
/// while the remote side is empty (the normal case on a healthy pair's master).
class ConnTable {
 public:
  using Options = ConnTableOptions;
  using JournalBatch = repl::JournalBatch<ConnJournalRecord>;

  explicit ConnTable(Options options = {});
  ~ConnTable();
  ConnTable(const ConnTable&) = delete;
  ConnTable& operator=(const ConnTable&) = delete;

  /// Records a live local connection and journals it. Returns its id, or 0 when the table is
  /// full (the connection is still served; it just won't survive a failover).
  std::uint64_t add_local(const lb::Endpoint& client, std::string_view listener,
                          std::string_view pool, std::string_view backend,
                          std::chrono::system_clock::time_point start, ConnMode mode);
  /// Forgets a local connection (on close) and journals it. Unknown ids (0, already removed)
  /// are ignored.
  void remove_local(std::uint64_t id);

  /// From the peer; never journaled. False when the remote side is full.
  bool apply_remote_add(ConnEntry entry);
  void apply_remote_remove(std::uint64_t id);
  /// Drops every peer entry (the peer restarted, or is about to send a full resync).
  void clear_remote();

  struct Match {
    std::string pool;
    std::string backend;
  };
  /// The backend the peer last gave this client address (port ignored) on `listener`: the
  /// entry with the latest start wins. Counts a match.
  std::optional<Match> find_remote(const lb::IpAddress& client, std::string_view listener);

  /// Journal records after `since_seq` (at most `max`), adds with their entry as it is now. An
  /// add whose connection was removed before this pull comes as a remove of that id: the peer
  /// needs neither, and the cursor still moves past it.
  JournalBatch pull(std::uint64_t since_seq, std::size_t max) const;
  std::uint64_t journal_head() const { return journal_.head_seq(); }
  /// Every local entry, one shard at a time (for a full resync); `fn` must not call back in.
  void for_each_local(const std::function<void(const ConnEntry&)>& fn) const;
  /// Every remote entry (for the control socket and for counting orphans after a failover).
  void for_each_remote(const std::function<void(const ConnEntry&)>& fn) const;

  std::size_t local_size() const { return local_count_.load(std::memory_order_relaxed); }
  /// Distinct listener, pool and backend names the local entries refer to (interned once).
  std::size_t interned_names() const { return names_.size(); }
  std::size_t remote_size() const { return remote_count_.load(std::memory_order_relaxed); }
  ConnTableCounters counters() const;

 private:
  struct Shard;
  struct IpHash {
    std::size_t operator()(const lb::IpAddress& a) const;
  };

  struct LocalEntry;
  ConnEntry expand(std::uint64_t id, const LocalEntry& e) const;

  const Options options_;
  NameTable names_;  // local entries hold ids of their names
  std::vector<std::unique_ptr<Shard>> shards_;
  unsigned shard_bits_ = 0;
  std::atomic<std::uint64_t> next_id_{0};
  std::atomic<std::size_t> local_count_{0};
  std::atomic<std::uint64_t> local_untracked_{0};
  // The journal holds ids only (24 bytes a record, not a whole entry): pull() copies an added
  // entry out of its shard, so a full 65,536-record journal costs 1.5 MB instead of 10 MB and an
  // idle connection costs one entry, not two.
  struct JournalSlot {
    std::uint64_t seq = 0;
    ConnJournalRecord::Kind kind = ConnJournalRecord::Kind::add;
    std::uint64_t id = 0;
  };
  Journal<JournalSlot> journal_;

  mutable std::shared_mutex remote_mutex_;
  std::unordered_map<std::uint64_t, ConnEntry> remote_;
  std::unordered_multimap<lb::IpAddress, std::uint64_t, IpHash> remote_by_client_;
  std::atomic<std::size_t> remote_count_{0};
  std::atomic<std::uint64_t> remote_dropped_{0};
  std::atomic<std::uint64_t> remote_matches_{0};
};

}  // namespace lbd::repl
