// Replicator: the writer of a connection. Control frames (handshake, acks, heartbeats) go first;
// an active session then carries a full resync when one is due (replicator_resync.cpp), else the
// journals' increments, up to batch_max records per table in one write.
#include "lbd/replication/replicator_impl.hpp"

namespace lbd::repl {

void Replicator::Impl::encode_or_count(Conn& c, const Frame& f, Bytes& out, std::size_t& frames) {
  switch (c.channel.write(f, out)) {
    case WriteStatus::ok:
      ++frames;
      return;
    case WriteStatus::unencodable:
      count_error("encode");
      warn_limited("encode",
                   fmt::format("frame not sendable (field out of bounds): type={}", frame_name(f)));
      return;
    case WriteStatus::not_sealed:
      // A data frame before our Auth: never sent in clear (the session logic prevents it).
      count_error("encode");
      warn_limited("encode",
                   fmt::format("frame not sent before the session keys: type={}", frame_name(f)));
      return;
    case WriteStatus::exhausted:
      c.keys_exhausted = true;
      return;
  }
}

void Replicator::Impl::encode_control(Conn& c, Bytes& out, std::size_t& frames) {
  for (const auto& f : c.control) encode_or_count(c, f, out, frames);
  c.control.clear();
}

void Replicator::Impl::journal_overflow(Conn& c, std::string_view table) {
  c.resync_pending = true;
  {
    std::lock_guard lock(mutex_);
    ++stats_.overflow_resyncs;
  }
  log_->info("journal overflow: table={} peer={}: full resync", table,
             escape_for_log(c.session.peer_id()));
}

void Replicator::Impl::pull_increments(Conn& c, Bytes& out, std::size_t& frames) {
  const lb::SteadyTime now = clock_.now();
  for (const auto& [name, table] : tables_) {
    auto& cursor = c.sent.try_emplace(name, 0).first->second;
    auto batch = table->pull(cursor, config_.batch_max);
    if (batch.overflowed) {
      journal_overflow(c, name);
      return;
    }
    for (const auto& r : batch.records) {
      encode_or_count(c, to_frame(r, name, now), out, frames);
      cursor = r.seq;
    }
  }
  if (conn_table_ != nullptr) {
    auto& cursor = c.sent.try_emplace(std::string(kConnTableName), 0).first->second;
    auto batch = conn_table_->pull(cursor, config_.batch_max);
    if (batch.overflowed) {
      journal_overflow(c, kConnTableName);
      return;
    }
    for (const auto& r : batch.records) {
      encode_or_count(c, to_frame(r), out, frames);
      cursor = r.seq;
    }
  }
  if (ct_table_ != nullptr) pull_ct(c, out, frames);
}

lb::awaitable<bool> Replicator::Impl::write(ConnPtr cp, Bytes& out, std::size_t& frames) {
  Conn& c = *cp;
  if (c.keys_exhausted) {
    // Practically unreachable (2^64 frames); a new session brings fresh keys and resumes.
    close(cp, "key_limit", "frame sequence numbers used up");
    co_return false;
  }
  error_code ec;
  co_await asio::async_write(c.socket, asio::buffer(out), redirect_error(use_awaitable, ec));
  if (c.closed) co_return false;
  if (ec) {
    close(cp, "io", "write: " + ec.message());
    co_return false;
  }
  c.session.sent(clock_.now());
  {
    std::lock_guard lock(mutex_);
    stats_.bytes_sent += out.size();
    stats_.frames_sent += frames;
    stats_.ct_entries_sent += std::exchange(c.ct_sent, 0);
    if (c.active) sent_mirror_ = c.sent;
  }
  out.clear();
  frames = 0;
  co_return true;
}

awaitable_void Replicator::Impl::write_loop(std::shared_ptr<Impl> /*keep_alive*/, ConnPtr c) {
  Bytes out;
  std::size_t frames = 0;
  while (!c->closed) {
    encode_control(*c, out, frames);
    if (c->active && c->resync_pending) {
      if (!co_await send_resync(c, out, frames)) co_return;
      continue;
    }
    // Up to batch_max records per table in one write: under load the writes coalesce.
    if (c->active) pull_increments(*c, out, frames);
    if (!out.empty()) {
      if (!co_await write(c, out, frames)) co_return;
      continue;
    }
    if (c->resync_pending) continue;
    // Idle: poll the journals every flush_interval while the session carries data; before
    // that, sleep until there is something to say.
    if (c->active) {
      c->wake.expires_after(config_.flush_interval);
    } else {
      c->wake.expires_at(steady_timer::time_point::max());
    }
    error_code ec;
    co_await c->wake.async_wait(redirect_error(use_awaitable, ec));
  }
}

}  // namespace lbd::repl
