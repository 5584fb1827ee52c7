// Replicator: the reader of a connection. Bytes go through the SecureChannel, whole frames
// through PeerSession, and the data frames it delivers into the tables (last-writer-wins for the
// stick tables, the peer's side of the connection table); acks go out once per read.
#include "lbd/replication/replicator_impl.hpp"

namespace lbd::repl {

awaitable_void Replicator::Impl::read_loop(std::shared_ptr<Impl> /*keep_alive*/, ConnPtr c) {
  std::vector<std::uint8_t> buffer(kReadBufferSize);
  for (;;) {
    error_code ec;
    const std::size_t n =
        co_await c->socket.async_read_some(asio::buffer(buffer), redirect_error(use_awaitable, ec));
    if (c->closed) co_return;
    if (ec) {
      close(c, "io", ec == asio::error::eof ? "closed by peer" : "read: " + ec.message());
      co_return;
    }
    c->channel.feed(std::span<const std::uint8_t>(buffer.data(), n));
    std::uint64_t frames = 0;
    if (!drain_frames(c, frames)) co_return;
    if (c->active) {
      // One Ack per table per read: acks are batched like the data they answer.
      for (auto& f : c->session.take_acks()) c->control.push_back(std::move(f));
      if (!c->control.empty()) wake(*c);
    }
    std::lock_guard lock(mutex_);
    stats_.bytes_received += n;
    stats_.frames_received += frames;
    stats_.updates_applied += std::exchange(c->applied, 0);
    stats_.updates_stale += std::exchange(c->stale, 0);
    stats_.ct_entries_received += std::exchange(c->ct_received, 0);
    if (c->active) acked_mirror_ = memory_.acked;
  }
}

bool Replicator::Impl::drain_frames(const ConnPtr& c, std::uint64_t& frames) {
  for (;;) {
    auto r = c->channel.next();
    if (std::holds_alternative<NeedMore>(r)) return true;
    if (const auto* e = std::get_if<DecodeError>(&r)) {
      close(c, "decode", "corrupt frame: " + e->message);
      return false;
    }
    if (const auto* e = std::get_if<IntegrityError>(&r)) {
      // Nothing of the frame was decoded; a sealed stream cannot be resynchronised.
      close(c, "integrity", e->message);
      return false;
    }
    ++frames;
    handle(c, c->session.on_frame(std::get<Decoded>(r).frame, clock_.now()));
    if (c->closed) return false;
  }
}

void Replicator::Impl::apply_frame(Conn& c, const Frame& f) {
  std::visit([&](const auto& frame) { on_peer(c, frame); }, f);
}

void Replicator::Impl::unknown_table(std::string_view table) {
  count_error("unknown_table");
  warn_limited("unknown_table", fmt::format("update for a table this node does not have: "
                                            "table=\"{}\"",
                                            escape_for_log(table)));
}

void Replicator::Impl::count_remote(Conn& c, StickyTable::RemoteResult r) {
  if (r == StickyTable::RemoteResult::applied) {
    ++c.applied;
  } else if (r == StickyTable::RemoteResult::stale) {
    ++c.stale;
  } else {
    count_error("rejected");
  }
}

void Replicator::Impl::on_peer(Conn& c, const Update& u) {
  ++c.resync_entries;
  if (auto* t = find_table(u.table)) {
    count_remote(c, apply(u, *t));
  } else {
    unknown_table(u.table);
  }
}

void Replicator::Impl::on_peer(Conn& c, const Erase& e) {
  if (auto* t = find_table(e.table)) {
    count_remote(c, apply(e, *t));
  } else {
    unknown_table(e.table);
  }
}

void Replicator::Impl::on_peer(Conn& c, const ConnAdd& a) {
  ++c.resync_entries;
  if (conn_table_ == nullptr) {
    unknown_table(kConnTableName);
  } else if (apply(a, *conn_table_)) {
    ++c.applied;
  } else {
    count_error("rejected");
  }
}

void Replicator::Impl::on_peer(Conn& /*c*/, const ConnRemove& r) {
  if (conn_table_ != nullptr) apply(r, *conn_table_);
}

void Replicator::Impl::on_peer(Conn& c, const ResyncBegin&) {
  c.resync_started = clock_.now();
  c.resync_entries = 0;
  if (ct_table_ != nullptr) ct_table_->resync_begin();
  // The peer's live connections come whole; ones it closed while we were apart must go.
  if (conn_table_ != nullptr) conn_table_->clear_remote();
}

void Replicator::Impl::on_peer(Conn& c, const ResyncEnd&) {
  // The conntrack entries of the resync were installed as they came (CtTable::apply is
  // synchronous): from here "we have the peer's data" includes its forward-mode flows.
  if (ct_table_ != nullptr) ct_table_->resync_end();
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - c.resync_started);
  {
    std::lock_guard lock(mutex_);
    ++stats_.resyncs_received;
    stats_.we_have_peer_data = true;
  }
  if (!logged_in_sync_received_) {
    logged_in_sync_received_ = true;
    log_->info("in sync: received full resync from peer={} entries={} took={}ms",
               escape_for_log(c.session.peer_id()), c.resync_entries, ms.count());
  } else {
    log_->debug("resync received: peer={} entries={} took={}ms",
                escape_for_log(c.session.peer_id()), c.resync_entries, ms.count());
  }
}

}  // namespace lbd::repl
