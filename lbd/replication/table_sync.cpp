// Journal records ⇄ replication frames.
#include "lbd/replication/table_sync.hpp"

#include <algorithm>
#include <limits>

namespace lbd::repl {

namespace {

std::uint32_t ms_remaining(lb::Duration remaining) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(remaining).count();
  return static_cast<std::uint32_t>(
      std::clamp<std::int64_t>(ms, 0, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

Frame to_frame(const StickJournalRecord& r, std::string_view table, lb::SteadyTime now) {
  using Kind = StickJournalRecord::Kind;
  const std::uint32_t ttl = ms_remaining(r.expiry - now);
  if ((r.kind == Kind::insert || r.kind == Kind::refresh) && ttl > 0) {
    return Update{r.seq, std::string(table), r.key, r.server, ttl, r.version};
  }
  return Erase{r.seq, std::string(table), r.key, r.version};
}

Update to_update(const StickEntryView& e, std::string_view table) {
  return Update{0, std::string(table), e.key, e.server, ms_remaining(e.remaining), e.version};
}

ConnAdd to_conn_add(const ConnEntry& e, std::uint64_t seq) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(e.start.time_since_epoch()).count();
  return ConnAdd{seq,
                 e.id,
                 e.client,
                 e.listener,
                 e.pool,
                 e.backend,
                 static_cast<std::uint64_t>(std::max<std::int64_t>(ms, 0)),
                 e.mode};
}

Frame to_frame(const ConnJournalRecord& r) {
  if (r.kind == ConnJournalRecord::Kind::remove) return ConnRemove{r.seq, r.entry.id};
  return to_conn_add(r.entry, r.seq);
}

StickyTable::RemoteResult apply(const Update& u, StickyTable& t) {
  return t.apply_remote(u.key, u.server, std::chrono::milliseconds(u.ttl_ms), u.version);
}

StickyTable::RemoteResult apply(const Erase& e, StickyTable& t) {
  return t.apply_remote_erase(e.key, e.version);
}

bool apply(const ConnAdd& a, ConnTable& t) {
  const auto start = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::milliseconds(
          std::min<std::uint64_t>(a.start_unix_ms, std::uint64_t{1} << 52))));
  return t.apply_remote_add(
      ConnEntry{a.conn_id, a.client, a.listener, a.pool, a.backend, start, a.mode});
}

void apply(const ConnRemove& r, ConnTable& t) { t.apply_remote_remove(r.conn_id); }

}  // namespace lbd::repl
