// Replicator: a full resync to the peer. Every table's entries between ResyncBegin and
// ResyncEnd, written in chunks of kResyncFlushBytes with the control frames in between (acks and
// heartbeats are not held back), then the journals resume from the heads taken before the walk.
#include "lbd/replication/replicator_impl.hpp"

namespace lbd::repl {

lb::awaitable<bool> Replicator::Impl::send_resync(ConnPtr cp, Bytes& out, std::size_t& frames) {
  Conn& c = *cp;
  c.resync_pending = false;
  const auto started = std::chrono::steady_clock::now();
  // Journal heads before the snapshot: whatever changes while we walk the tables follows as
  // increments (an entry may then arrive twice; last-writer-wins makes that harmless).
  const Heads heads = journal_heads();
  encode_or_count(c, ResyncBegin{}, out, frames);
  std::uint64_t entries = 0;
  if (!co_await send_stick_snapshot(cp, out, frames, entries)) co_return false;
  encode_conn_snapshot(c, out, frames, entries);
  if (!co_await send_ct_snapshot(cp, out, frames, entries)) co_return false;
  encode_or_count(c, ResyncEnd{}, out, frames);
  encode_control(c, out, frames);
  if (!co_await write(cp, out, frames)) co_return false;
  resync_sent(c, heads, entries, started);
  co_return true;
}

Replicator::Impl::Heads Replicator::Impl::journal_heads() const {
  Heads heads;
  for (const auto& [name, table] : tables_) heads[name] = table->journal_head();
  if (conn_table_ != nullptr) heads[std::string(kConnTableName)] = conn_table_->journal_head();
  if (ct_table_ != nullptr) heads[std::string(kCtTableName)] = ct_table_->journal_head();
  return heads;
}

lb::awaitable<bool> Replicator::Impl::flush_resync(ConnPtr cp, Bytes& out, std::size_t& frames) {
  if (out.size() < kResyncFlushBytes) co_return true;
  encode_control(*cp, out, frames);
  co_return co_await write(cp, out, frames);
}

lb::awaitable<bool> Replicator::Impl::send_stick_snapshot(ConnPtr cp, Bytes& out,
                                                          std::size_t& frames,
                                                          std::uint64_t& entries) {
  std::vector<std::string> names;
  for (const auto& [name, table] : tables_) names.push_back(name);
  for (const auto& name : names) {
    for (std::size_t shard = 0;; ++shard) {
      // Looked up again after every write: the table may have been removed meanwhile.
      const StickyTable* table = find_table(name);
      if (table == nullptr || shard >= table->shard_count()) break;
      table->for_each_in_shard(shard, [&](const StickEntryView& e) {
        encode_or_count(*cp, to_update(e, name), out, frames);
        ++entries;
      });
      if (!co_await flush_resync(cp, out, frames)) co_return false;
    }
  }
  co_return true;
}

void Replicator::Impl::encode_conn_snapshot(Conn& c, Bytes& out, std::size_t& frames,
                                            std::uint64_t& entries) {
  if (conn_table_ == nullptr) return;
  conn_table_->for_each_local([&](const ConnEntry& e) {
    encode_or_count(c, to_conn_add(e, 0), out, frames);
    ++entries;
  });
}

void Replicator::Impl::resync_sent(Conn& c, const Heads& heads, std::uint64_t entries,
                                   std::chrono::steady_clock::time_point started) {
  for (const auto& [name, head] : heads) {
    auto& cursor = c.sent[name];
    cursor = std::max(cursor, head);
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.resyncs_sent;
    stats_.peer_has_our_data = true;
    sent_mirror_ = c.sent;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (!logged_in_sync_sent_) {
    logged_in_sync_sent_ = true;
    log_->info("in sync: sent full resync to peer={} entries={} took={}ms",
               escape_for_log(c.session.peer_id()), entries, ms.count());
  } else {
    log_->debug("resync sent: peer={} entries={} took={}ms", escape_for_log(c.session.peer_id()),
                entries, ms.count());
  }
}

}  // namespace lbd::repl
