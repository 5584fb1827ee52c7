// StickyTable implementation: per-shard chunked slots, intrusive LRU, linear-probing index.
#include "lbd/sticky/stick_table.hpp"

#include <algorithm>
#include <bit>
#include <limits>

namespace lbd {

namespace {

constexpr std::uint32_t kNil = std::numeric_limits<std::uint32_t>::max();
constexpr std::uint32_t kChunkBits = 12;  // 4096 slots per chunk: growth never moves entries
constexpr std::uint32_t kChunkSize = 1u << kChunkBits;
// An index entry packs an 8-bit hash tag above a 24-bit slot number, so a probe past a different
// key rarely has to touch that key's slot (a cache miss at a million entries).
constexpr std::uint32_t kSlotBits = 24;
constexpr std::uint32_t kSlotMask = (1u << kSlotBits) - 1;  // also caps entries per shard

std::uint32_t tag_of(std::uint64_t hash) { return static_cast<std::uint32_t>(hash >> 56); }
std::uint32_t pack(std::uint32_t tag, std::uint32_t slot) { return (tag << kSlotBits) | slot; }

std::int64_t to_ns(lb::SteadyTime t) {
  return std::chrono::duration_cast<lb::Duration>(t.time_since_epoch()).count();
}
lb::SteadyTime from_ns(std::int64_t ns) { return lb::SteadyTime(lb::Duration(ns)); }
std::uint32_t seconds_of(std::int64_t ns) { return static_cast<std::uint32_t>(ns / 1'000'000'000); }

}  // namespace

struct StickyTable::Slot {
  std::string key;
  const std::string* server = nullptr;
  std::int64_t expiry_ns = 0;
  std::uint64_t version = 0;
  std::uint32_t prev = kNil;  // LRU neighbours; `next` doubles as the free-list link
  std::uint32_t next = kNil;
  std::uint32_t hash = 0;         // low 32 bits of the key's hash (index position, rehash)
  std::uint32_t journaled_s = 0;  // steady seconds of the last journaled write (rate limit)
  StickOrigin origin = StickOrigin::local;
  bool used = false;
  std::uint8_t tag = 0;  // tag_of(full hash), to rebuild the index
};

/// One shard: everything below is guarded by `mutex`.
struct StickyTable::Shard {
  mutable std::mutex mutex;
  std::vector<std::unique_ptr<Slot[]>> chunks;
  std::uint32_t allocated = 0;  // slots handed out so far (used or on the free list)
  std::uint32_t free_head = kNil;
  std::uint32_t count = 0;
  std::uint32_t capacity = 0;     // max entries in this shard
  std::uint32_t lru_head = kNil;  // most recently used
  std::uint32_t lru_tail = kNil;  // least recently used
  std::uint32_t sweep_cursor = 0;
  std::vector<std::uint32_t> index;  // slot numbers, kNil = empty; size is a power of two

  Slot& slot(std::uint32_t i) { return chunks[i >> kChunkBits][i & (kChunkSize - 1)]; }
  const Slot& slot(std::uint32_t i) const { return chunks[i >> kChunkBits][i & (kChunkSize - 1)]; }
  std::uint32_t mask() const { return static_cast<std::uint32_t>(index.size() - 1); }

  std::uint32_t slot_at(std::uint32_t pos) const { return index[pos] & kSlotMask; }

  /// Index position holding `key` (whose full hash is `hash`), or kNil.
  std::uint32_t find(std::string_view key, std::uint64_t hash) const {
    if (index.empty()) return kNil;
    const auto h32 = static_cast<std::uint32_t>(hash);
    const std::uint32_t tag = tag_of(hash);
    for (std::uint32_t pos = h32 & mask();; pos = (pos + 1) & mask()) {
      const std::uint32_t e = index[pos];
      if (e == kNil) return kNil;
      if ((e >> kSlotBits) != tag) continue;
      const Slot& sl = slot(e & kSlotMask);
      if (sl.hash == h32 && sl.key == key) return pos;
    }
  }
  std::uint32_t position_of(std::uint32_t s) const {
    for (std::uint32_t pos = slot(s).hash & mask();; pos = (pos + 1) & mask()) {
      if (index[pos] != kNil && slot_at(pos) == s) return pos;
    }
  }

  void grow_index_if_needed() {
    // Load factor ≤ 3/4 keeps linear probes short.
    if (!index.empty() && (static_cast<std::uint64_t>(count) + 1) * 4 <= index.size() * 3) return;
    const std::size_t size = index.empty() ? 16 : index.size() * 2;
    index.assign(size, kNil);
    for (std::uint32_t s = lru_head; s != kNil; s = slot(s).next) {
      std::uint32_t pos = slot(s).hash & mask();
      while (index[pos] != kNil) pos = (pos + 1) & mask();
      index[pos] = pack(slot(s).tag, s);
    }
  }

  /// Backward-shift deletion: keeps every probe chain unbroken without tombstones.
  void index_erase(std::uint32_t pos) {
    std::uint32_t i = pos;
    std::uint32_t j = pos;
    for (;;) {
      j = (j + 1) & mask();
      if (index[j] == kNil) break;
      const std::uint32_t k = slot(slot_at(j)).hash & mask();
      const bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
      if (stays) continue;
      index[i] = index[j];
      i = j;
    }
    index[i] = kNil;
  }

  void lru_unlink(std::uint32_t s) {
    Slot& sl = slot(s);
    if (sl.prev != kNil)
      slot(sl.prev).next = sl.next;
    else
      lru_head = sl.next;
    if (sl.next != kNil)
      slot(sl.next).prev = sl.prev;
    else
      lru_tail = sl.prev;
    sl.prev = sl.next = kNil;
  }
  void lru_push_front(std::uint32_t s) {
    Slot& sl = slot(s);
    sl.prev = kNil;
    sl.next = lru_head;
    if (lru_head != kNil) slot(lru_head).prev = s;
    lru_head = s;
    if (lru_tail == kNil) lru_tail = s;
  }

  std::uint32_t allocate() {
    if (free_head != kNil) {
      const std::uint32_t s = free_head;
      free_head = slot(s).next;
      slot(s).next = kNil;
      return s;
    }
    if ((allocated >> kChunkBits) >= chunks.size()) {
      chunks.push_back(std::make_unique<Slot[]>(kChunkSize));
    }
    return allocated++;
  }

  /// Adds a new entry for `key` (not in the table) outside the LRU list, evicting the least
  /// recently used entry first when the shard is full (`evicted` tells). Returns its slot.
  std::uint32_t insert(std::string_view key, std::uint64_t hash, bool& evicted) {
    evicted = count >= capacity;
    if (evicted) remove(lru_tail, position_of(lru_tail));
    grow_index_if_needed();
    const std::uint32_t s = allocate();
    Slot& fresh = slot(s);
    fresh.key.assign(key);
    fresh.hash = static_cast<std::uint32_t>(hash);
    fresh.tag = static_cast<std::uint8_t>(tag_of(hash));
    fresh.used = true;
    std::uint32_t pos = fresh.hash & mask();
    while (index[pos] != kNil) pos = (pos + 1) & mask();
    index[pos] = pack(fresh.tag, s);
    ++count;
    return s;
  }

  /// Unlinks slot `s` (at index position `pos`) and returns it to the free list.
  void remove(std::uint32_t s, std::uint32_t pos) {
    index_erase(pos);
    lru_unlink(s);
    Slot& sl = slot(s);
    std::string().swap(sl.key);  // give a long key's heap block back now
    sl.server = nullptr;
    sl.used = false;
    sl.next = free_head;
    free_head = s;
    --count;
  }
};

StickyTable::StickyTable(std::string name, Options options, const lb::Clock& clock)
    : name_(std::move(name)),
      options_(options),
      clock_(clock),
      hash_key_(options.hash_key ? *options.hash_key : random_sip_key()),
      journal_(options.journal_capacity) {
  // No more shards than entries, so that every shard can hold one and the shares add up to
  // exactly max_entries (the remainder goes one each to the first shards).
  const std::size_t max_entries = std::max<std::size_t>(options_.max_entries, 1);
  unsigned n = std::bit_ceil(std::clamp(options_.shards, 1u, 1024u));
  while (n > 1 && n > max_entries) n /= 2;
  shard_shift_ = static_cast<unsigned>(std::countr_zero(n));
  for (unsigned i = 0; i < n; ++i) {
    auto s = std::make_unique<Shard>();
    const std::size_t share = max_entries / n + (i < max_entries % n ? 1 : 0);
    s->capacity = static_cast<std::uint32_t>(std::min<std::size_t>(share, kSlotMask - 1));
    shards_.push_back(std::move(s));
  }
}

StickyTable::~StickyTable() = default;

StickyTable::Shard& StickyTable::shard_for(std::size_t hash) const {
  // The upper half picks the shard; the lower 32 bits place the key inside it.
  const std::size_t i = (hash >> 32) & ((std::size_t{1} << shard_shift_) - 1);
  return *shards_[i];
}

std::int64_t StickyTable::now_ns() const { return to_ns(clock_.now()); }

const std::string* StickyTable::intern(std::string_view server) {
  std::lock_guard lock(names_mutex_);
  if (auto it = name_index_.find(server); it != name_index_.end()) return it->second;
  if (names_.size() >= options_.max_server_names) return nullptr;
  const std::string& stored = names_.emplace_back(server);
  name_index_.emplace(std::string_view(stored), &stored);
  return &stored;
}

std::uint64_t StickyTable::next_version() {
  const std::uint64_t counter = lamport_.fetch_add(1, std::memory_order_relaxed) + 1;
  return (counter << 8) | options_.node_id;
}

void StickyTable::observe_version(std::uint64_t version) {
  // Lamport rule: our next local write must beat every version we have seen.
  const std::uint64_t seen = version >> 8;
  std::uint64_t cur = lamport_.load(std::memory_order_relaxed);
  while (cur < seen && !lamport_.compare_exchange_weak(cur, seen, std::memory_order_relaxed)) {
  }
}

void StickyTable::journal(StickJournalRecord::Kind kind, const Slot& slot) {
  StickJournalRecord r;
  r.kind = kind;
  r.key = slot.key;
  if (kind == StickJournalRecord::Kind::insert || kind == StickJournalRecord::Kind::refresh) {
    r.server = *slot.server;
  }
  r.expiry = from_ns(slot.expiry_ns);
  r.version = slot.version;
  journal_.append(std::move(r));
}

std::optional<std::string_view> StickyTable::lookup(std::string_view key) {
  const std::size_t h = hash(key);
  Shard& sh = shard_for(h);
  const std::int64_t now = now_ns();
  std::lock_guard lock(sh.mutex);
  const std::uint32_t pos = sh.find(key, h);
  if (pos == kNil) {
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  const std::uint32_t s = sh.slot_at(pos);
  Slot& sl = sh.slot(s);
  if (sl.expiry_ns <= now) {
    if (sl.origin == StickOrigin::local) journal(StickJournalRecord::Kind::expire, sl);
    sh.remove(s, pos);
    entries_.fetch_sub(1, std::memory_order_relaxed);
    expirations_.fetch_add(1, std::memory_order_relaxed);
    misses_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  sl.expiry_ns = now + options_.ttl.count();
  sh.lru_unlink(s);
  sh.lru_push_front(s);
  const std::uint32_t now_s = seconds_of(now);
  const auto interval_s =
      std::chrono::ceil<std::chrono::seconds>(options_.refresh_journal_interval);
  if (now_s - sl.journaled_s >= static_cast<std::uint32_t>(interval_s.count())) {
    // A use on this node is a local write (even of an entry the peer made): it tells the peer
    // the client is still here, so the peer's copy does not expire under an active session.
    sl.version = next_version();
    sl.origin = StickOrigin::local;
    sl.journaled_s = now_s;
    journal(StickJournalRecord::Kind::refresh, sl);
  }
  hits_.fetch_add(1, std::memory_order_relaxed);
  return std::string_view(*sl.server);
}

std::optional<std::string_view> StickyTable::peek(std::string_view key) const {
  const std::size_t h = hash(key);
  Shard& sh = shard_for(h);
  const std::int64_t now = now_ns();
  std::lock_guard lock(sh.mutex);
  const std::uint32_t pos = sh.find(key, h);
  if (pos == kNil) return std::nullopt;
  const Slot& sl = sh.slot(sh.slot_at(pos));
  if (sl.expiry_ns <= now) return std::nullopt;
  return std::string_view(*sl.server);
}

bool StickyTable::stick(std::string_view key, std::string_view server) {
  if (key.size() > options_.max_key_size || server.size() > options_.max_server_name_size) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const std::string* name = intern(server);
  if (name == nullptr) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  const std::size_t h = hash(key);
  Shard& sh = shard_for(h);
  const std::int64_t now = now_ns();
  std::lock_guard lock(sh.mutex);
  const std::uint32_t pos = sh.find(key, h);
  std::uint32_t s;
  if (pos != kNil) {
    s = sh.slot_at(pos);
    sh.lru_unlink(s);
  } else {
    bool evicted = false;
    s = sh.insert(key, h, evicted);
    if (evicted) {
      evictions_.fetch_add(1, std::memory_order_relaxed);
    } else {
      entries_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  Slot& sl = sh.slot(s);
  sl.server = name;
  sl.expiry_ns = now + options_.ttl.count();
  sl.version = next_version();
  sl.origin = StickOrigin::local;
  sl.journaled_s = seconds_of(now);
  sh.lru_push_front(s);
  journal(StickJournalRecord::Kind::insert, sl);
  inserts_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool StickyTable::erase(std::string_view key) {
  const std::size_t h = hash(key);
  Shard& sh = shard_for(h);
  std::lock_guard lock(sh.mutex);
  const std::uint32_t pos = sh.find(key, h);
  if (pos == kNil) return false;
  const std::uint32_t s = sh.slot_at(pos);
  Slot& sl = sh.slot(s);
  sl.version = next_version();  // the delete must win over the peer's copy of this entry
  journal(StickJournalRecord::Kind::erase, sl);
  sh.remove(s, pos);
  entries_.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

StickyTable::RemoteResult StickyTable::apply_remote(std::string_view key, std::string_view server,
                                                    lb::Duration ttl_remaining,
                                                    std::uint64_t version) {
  if (ttl_remaining <= lb::Duration::zero()) return apply_remote_erase(key, version);
  if (key.size() > options_.max_key_size || server.size() > options_.max_server_name_size) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return RemoteResult::rejected;
  }
  const std::string* name = intern(server);
  if (name == nullptr) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return RemoteResult::rejected;
  }
  observe_version(version);
  const std::size_t h = hash(key);
  Shard& sh = shard_for(h);
  const std::int64_t now = now_ns();
  std::lock_guard lock(sh.mutex);
  const std::uint32_t pos = sh.find(key, h);
  std::uint32_t s;
  if (pos != kNil) {
    s = sh.slot_at(pos);
    // An expired entry is as good as gone: whatever version it had, it must not block the peer.
    if (sh.slot(s).version >= version && sh.slot(s).expiry_ns > now) {
      remote_stale_.fetch_add(1, std::memory_order_relaxed);
      return RemoteResult::stale;
    }
    sh.lru_unlink(s);
  } else {
    bool evicted = false;
    s = sh.insert(key, h, evicted);
    if (evicted) {
      evictions_.fetch_add(1, std::memory_order_relaxed);
    } else {
      entries_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  Slot& sl = sh.slot(s);
  sl.server = name;
  sl.expiry_ns = now + std::min(ttl_remaining, options_.ttl).count();
  sl.version = version;
  sl.origin = StickOrigin::remote;
  // The peer just wrote it: a local hit right after need not be journaled back.
  sl.journaled_s = seconds_of(now);
  sh.lru_push_front(s);
  remote_applied_.fetch_add(1, std::memory_order_relaxed);
  return RemoteResult::applied;
}

StickyTable::RemoteResult StickyTable::apply_remote_erase(std::string_view key,
                                                          std::uint64_t version) {
  observe_version(version);
  const std::size_t h = hash(key);
  Shard& sh = shard_for(h);
  std::lock_guard lock(sh.mutex);
  const std::uint32_t pos = sh.find(key, h);
  if (pos == kNil) {
    remote_applied_.fetch_add(1, std::memory_order_relaxed);
    return RemoteResult::applied;
  }
  const std::uint32_t s = sh.slot_at(pos);
  if (sh.slot(s).version > version) {
    remote_stale_.fetch_add(1, std::memory_order_relaxed);
    return RemoteResult::stale;
  }
  sh.remove(s, pos);
  entries_.fetch_sub(1, std::memory_order_relaxed);
  remote_applied_.fetch_add(1, std::memory_order_relaxed);
  return RemoteResult::applied;
}

std::size_t StickyTable::expire(std::size_t scan_budget) {
  const std::int64_t now = now_ns();
  std::size_t removed = 0;
  for (auto& shp : shards_) {
    Shard& sh = *shp;
    std::lock_guard lock(sh.mutex);
    auto drop = [&](std::uint32_t s, std::uint32_t pos) {
      const Slot& sl = sh.slot(s);
      if (sl.origin == StickOrigin::local) journal(StickJournalRecord::Kind::expire, sl);
      sh.remove(s, pos);
      ++removed;
    };
    while (sh.lru_tail != kNil && sh.slot(sh.lru_tail).expiry_ns <= now) {
      drop(sh.lru_tail, sh.position_of(sh.lru_tail));
    }
    const std::size_t visits = std::min<std::size_t>(scan_budget, sh.allocated);
    for (std::size_t i = 0; i < visits; ++i) {
      if (sh.sweep_cursor >= sh.allocated) sh.sweep_cursor = 0;
      const std::uint32_t s = sh.sweep_cursor++;
      const Slot& sl = sh.slot(s);
      if (sl.used && sl.expiry_ns <= now) drop(s, sh.position_of(s));
    }
  }
  entries_.fetch_sub(removed, std::memory_order_relaxed);
  expirations_.fetch_add(removed, std::memory_order_relaxed);
  return removed;
}

StickyTable::JournalBatch StickyTable::pull(std::uint64_t since_seq, std::size_t max) const {
  return journal_.pull(since_seq, max);
}

void StickyTable::for_each(const std::function<void(const StickEntryView&)>& fn) const {
  for (std::size_t i = 0; i < shards_.size(); ++i) for_each_in_shard(i, fn);
}

void StickyTable::for_each_in_shard(std::size_t index,
                                    const std::function<void(const StickEntryView&)>& fn) const {
  if (index >= shards_.size()) return;
  const std::int64_t now = now_ns();
  StickEntryView v;
  const Shard& sh = *shards_[index];
  std::lock_guard lock(sh.mutex);
  for (std::uint32_t s = sh.lru_head; s != kNil; s = sh.slot(s).next) {
    const Slot& sl = sh.slot(s);
    if (sl.expiry_ns <= now) continue;
    v.key = sl.key;
    v.server = *sl.server;
    v.remaining = lb::Duration(sl.expiry_ns - now);
    v.origin = sl.origin;
    v.version = sl.version;
    fn(v);
  }
}

std::vector<StickEntryView> StickyTable::dump(std::size_t limit) const {
  std::vector<StickEntryView> out;
  const std::int64_t now = now_ns();
  for (const auto& shp : shards_) {
    const Shard& sh = *shp;
    std::lock_guard lock(sh.mutex);
    for (std::uint32_t s = sh.lru_head; s != kNil && out.size() < limit; s = sh.slot(s).next) {
      const Slot& sl = sh.slot(s);
      if (sl.expiry_ns <= now) continue;
      out.push_back({sl.key, *sl.server, lb::Duration(sl.expiry_ns - now), sl.origin, sl.version});
    }
  }
  return out;
}

std::size_t StickyTable::size() const { return entries_.load(std::memory_order_relaxed); }

StickyCounters StickyTable::counters() const {
  StickyCounters c;
  c.entries = entries_.load(std::memory_order_relaxed);
  c.hits = hits_.load(std::memory_order_relaxed);
  c.misses = misses_.load(std::memory_order_relaxed);
  c.inserts = inserts_.load(std::memory_order_relaxed);
  c.evictions = evictions_.load(std::memory_order_relaxed);
  c.expirations = expirations_.load(std::memory_order_relaxed);
  c.remote_applied = remote_applied_.load(std::memory_order_relaxed);
  c.remote_stale = remote_stale_.load(std::memory_order_relaxed);
  c.rejected = rejected_.load(std::memory_order_relaxed);
  c.journal_dropped = journal_.overwritten();
  return c;
}

}  // namespace lbd
