// ConnTable implementation.
#include "lbd/replication/conn_table.hpp"

#include <algorithm>
#include <bit>

namespace lbd::repl {

/// A local entry as stored: ConnEntry with interned names (an idle client costs ~80 bytes here,
/// not ~180 with three strings).
struct ConnTable::LocalEntry {
  lb::Endpoint client;
  NameTable::Id listener;
  NameTable::Id pool;
  NameTable::Id backend;
  ConnMode mode;
  std::chrono::system_clock::time_point start;
};

struct ConnTable::Shard {
  mutable std::mutex mutex;
  std::unordered_map<std::uint64_t, LocalEntry> entries;
};

ConnEntry ConnTable::expand(std::uint64_t id, const LocalEntry& e) const {
  return ConnEntry{id,
                   e.client,
                   std::string(names_.name(e.listener)),
                   std::string(names_.name(e.pool)),
                   std::string(names_.name(e.backend)),
                   e.start,
                   e.mode};
}

ConnTable::ConnTable(Options options) : options_(options), journal_(options.journal_capacity) {
  const unsigned n = std::bit_ceil(std::clamp(options_.shards, 1u, 1024u));
  shard_bits_ = static_cast<unsigned>(std::countr_zero(n));
  for (unsigned i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>());
}

ConnTable::~ConnTable() = default;

std::size_t ConnTable::IpHash::operator()(const lb::IpAddress& a) const {
  return std::hash<std::string_view>{}(
             std::string_view(reinterpret_cast<const char*>(a.data()), a.size())) ^
         static_cast<std::size_t>(a.family());
}

std::uint64_t ConnTable::add_local(const lb::Endpoint& client, std::string_view listener,
                                   std::string_view pool, std::string_view backend,
                                   std::chrono::system_clock::time_point start, ConnMode mode) {
  // Reserve a place first so concurrent adds cannot overshoot the bound.
  if (local_count_.fetch_add(1, std::memory_order_relaxed) >= options_.max_local) {
    local_count_.fetch_sub(1, std::memory_order_relaxed);
    local_untracked_.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  // Ids start at 1 (0 means "not tracked"); consecutive ids land on consecutive shards.
  const std::uint64_t id = next_id_.fetch_add(1, std::memory_order_relaxed) + 1;
  const LocalEntry e{
      client, names_.intern(listener), names_.intern(pool), names_.intern(backend), mode, start};
  Shard& sh = *shards_[id & ((1u << shard_bits_) - 1)];
  std::lock_guard lock(sh.mutex);
  sh.entries.emplace(id, e);
  journal_.append(JournalSlot{0, ConnJournalRecord::Kind::add, id});
  return id;
}

void ConnTable::remove_local(std::uint64_t id) {
  if (id == 0) return;
  Shard& sh = *shards_[id & ((1u << shard_bits_) - 1)];
  std::lock_guard lock(sh.mutex);
  if (sh.entries.erase(id) == 0) return;
  local_count_.fetch_sub(1, std::memory_order_relaxed);
  journal_.append(JournalSlot{0, ConnJournalRecord::Kind::remove, id});
}

bool ConnTable::apply_remote_add(ConnEntry entry) {
  std::unique_lock lock(remote_mutex_);
  auto it = remote_.find(entry.id);
  if (it != remote_.end()) {
    // A resync resends entries we may hold: replace, keeping the client index right.
    auto range = remote_by_client_.equal_range(it->second.client.address);
    for (auto r = range.first; r != range.second; ++r) {
      if (r->second == entry.id) {
        remote_by_client_.erase(r);
        break;
      }
    }
    remote_by_client_.emplace(entry.client.address, entry.id);
    it->second = std::move(entry);
    return true;
  }
  if (remote_.size() >= options_.max_remote) {
    remote_dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  remote_by_client_.emplace(entry.client.address, entry.id);
  remote_.emplace(entry.id, std::move(entry));
  remote_count_.store(remote_.size(), std::memory_order_relaxed);
  return true;
}

void ConnTable::apply_remote_remove(std::uint64_t id) {
  std::unique_lock lock(remote_mutex_);
  auto it = remote_.find(id);
  if (it == remote_.end()) return;
  auto range = remote_by_client_.equal_range(it->second.client.address);
  for (auto r = range.first; r != range.second; ++r) {
    if (r->second == id) {
      remote_by_client_.erase(r);
      break;
    }
  }
  remote_.erase(it);
  remote_count_.store(remote_.size(), std::memory_order_relaxed);
}

void ConnTable::clear_remote() {
  std::unique_lock lock(remote_mutex_);
  remote_.clear();
  remote_by_client_.clear();
  remote_count_.store(0, std::memory_order_relaxed);
}

std::optional<ConnTable::Match> ConnTable::find_remote(const lb::IpAddress& client,
                                                       std::string_view listener) {
  if (remote_count_.load(std::memory_order_relaxed) == 0) return std::nullopt;
  std::shared_lock lock(remote_mutex_);
  const ConnEntry* best = nullptr;
  auto range = remote_by_client_.equal_range(client);
  for (auto r = range.first; r != range.second; ++r) {
    const ConnEntry& e = remote_.at(r->second);
    if (e.listener != listener) continue;
    if (best == nullptr || e.start > best->start) best = &e;
  }
  if (best == nullptr) return std::nullopt;
  remote_matches_.fetch_add(1, std::memory_order_relaxed);
  return Match{best->pool, best->backend};
}

ConnTable::JournalBatch ConnTable::pull(std::uint64_t since_seq, std::size_t max) const {
  // The journal's lock is released before the shards are locked: add/remove lock a shard, then
  // the journal, and the opposite order here could deadlock.
  auto slots = journal_.pull(since_seq, max);
  JournalBatch batch;
  batch.overflowed = slots.overflowed;
  batch.head_seq = slots.head_seq;
  batch.oldest_seq = slots.oldest_seq;
  batch.records.reserve(slots.records.size());
  for (const auto& slot : slots.records) {
    ConnJournalRecord r{.seq = slot.seq, .kind = ConnJournalRecord::Kind::remove, .entry = {}};
    r.entry.id = slot.id;
    if (slot.kind == ConnJournalRecord::Kind::add) {
      const Shard& sh = *shards_[slot.id & ((1u << shard_bits_) - 1)];
      std::lock_guard lock(sh.mutex);
      if (auto it = sh.entries.find(slot.id); it != sh.entries.end()) {
        r.kind = ConnJournalRecord::Kind::add;
        r.entry = expand(slot.id, it->second);
      }
    }
    batch.records.push_back(std::move(r));
  }
  return batch;
}

void ConnTable::for_each_local(const std::function<void(const ConnEntry&)>& fn) const {
  for (const auto& sh : shards_) {
    std::lock_guard lock(sh->mutex);
    for (const auto& [id, e] : sh->entries) fn(expand(id, e));
  }
}

void ConnTable::for_each_remote(const std::function<void(const ConnEntry&)>& fn) const {
  std::shared_lock lock(remote_mutex_);
  for (const auto& [id, e] : remote_) fn(e);
}

ConnTableCounters ConnTable::counters() const {
  return ConnTableCounters{local_count_.load(std::memory_order_relaxed),
                           remote_count_.load(std::memory_order_relaxed),
                           local_untracked_.load(std::memory_order_relaxed),
                           remote_dropped_.load(std::memory_order_relaxed),
                           remote_matches_.load(std::memory_order_relaxed)};
}

}  // namespace lbd::repl
