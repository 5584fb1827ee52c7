// Replicator: the connections. Accepting (only from the peer's address, pending handshakes
// bounded), dialling with backoff, what a session's events mean for the connection (keys,
// established, close), which of two simultaneous sessions survives, and the per-connection tick.
#include "lbd/replication/replicator_impl.hpp"

namespace lbd::repl {

using namespace std::chrono_literals;

// ---- accepting and dialling -----------------------------------------------------------------

awaitable_void Replicator::Impl::accept_loop(std::shared_ptr<Impl> /*keep_alive*/,
                                             std::uint64_t gen) {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor_->async_accept(redirect_error(use_awaitable, ec));
    if (gen != generation_) co_return;
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      // EMFILE and friends: say so, then pause instead of spinning on the error.
      warn_limited("accept", fmt::format("accept failed: error={}", ec.message()));
      steady_timer pause(io_);
      pause.expires_after(100ms);
      co_await pause.async_wait(redirect_error(use_awaitable, ec));
      if (gen != generation_) co_return;
      continue;
    }
    const lb::Endpoint remote = from_asio(socket.remote_endpoint(ec));
    const lb::IpAddress source = remote.address.unmapped();
    if (ec || source != config_.peer.address.unmapped()) {
      // Only the configured peer may even start a handshake (it dials from its listen address).
      count_error("not_peer");
      warn_limited("not_peer", fmt::format("connection refused: remote={} is not the peer {}",
                                           remote, config_.peer.address));
      socket.close(ec);
      continue;
    }
    bound_pending(source);
    start_conn(std::move(socket), HandshakeRole::acceptor);
  }
}

void Replicator::Impl::bound_pending(const lb::IpAddress& source) {
  ConnPtr oldest_same, oldest_any;
  std::size_t same = 0;
  for (const auto& c : conns_) {
    if (!c->counted_pending) continue;
    if (!oldest_any || c->opened < oldest_any->opened) oldest_any = c;
    if (c->source != source) continue;
    ++same;
    if (!oldest_same || c->opened < oldest_same->opened) oldest_same = c;
  }
  ConnPtr victim;
  if (same >= kMaxPendingPerSource) {
    victim = oldest_same;
  } else if (pending_incoming_ >= kMaxPendingSessions) {
    victim = oldest_any;
  }
  if (!victim) return;
  count_error("pending_evicted");
  warn_limited("pending_evicted",
               fmt::format("unauthenticated connection closed to make room: remote={} (too many "
                           "pending handshakes)",
                           victim->remote));
  close(victim, "", "evicted by a newer handshake");
}

awaitable_void Replicator::Impl::dial_loop(std::shared_ptr<Impl> /*keep_alive*/,
                                           std::uint64_t gen) {
  while (gen == generation_) {
    if (!active_ && !outgoing_ && std::chrono::steady_clock::now() >= next_dial_) {
      co_await dial(gen);
      continue;
    }
    // Connected (or dialling): sleep until a session ends; else until the next attempt.
    if (active_ || outgoing_) {
      dial_timer_.expires_at(std::chrono::steady_clock::time_point::max());
    } else {
      dial_timer_.expires_at(next_dial_);
    }
    error_code ec;
    co_await dial_timer_.async_wait(redirect_error(use_awaitable, ec));
  }
}

awaitable_void Replicator::Impl::dial(std::uint64_t gen) {
  auto socket = std::make_shared<tcp::socket>(io_);
  auto timed_out = std::make_shared<bool>(false);
  steady_timer deadline(io_);
  deadline.expires_after(config_.handshake_timeout);
  deadline.async_wait([socket, timed_out](error_code ec) {
    if (ec) return;
    *timed_out = true;
    error_code ignored;
    socket->close(ignored);
  });
  error_code ec;
  const lb::Endpoint peer = config_.peer;
  const auto target = to_asio(peer);
  // Dial from our listen address: the peer accepts only the address it has as its `peer`.
  socket->open(target.protocol(), ec);
  const lb::Endpoint own = bound_.value_or(config_.listen);
  if (!ec && own.address.family() == peer.address.family() && own.address != lb::IpAddress{} &&
      !(own.address.is_v6() && own.address == lb::IpAddress::v6({}))) {
    socket->bind(to_asio(lb::Endpoint{own.address, 0}), ec);
    if (ec) {
      log_->debug("dial: cannot bind {}: {}", own.address, ec.message());
      ec.clear();  // the kernel then picks the source; the peer may refuse it
    }
  }
  if (!ec) co_await socket->async_connect(target, redirect_error(use_awaitable, ec));
  deadline.cancel();
  if (gen != generation_) co_return;
  if (ec) {
    log_->debug("connect failed: peer={} error={}", peer,
                *timed_out ? std::string("timed out") : ec.message());
    schedule_dial();
    co_return;
  }
  if (active_) co_return;  // the peer dialled us meanwhile
  outgoing_ = start_conn(std::move(*socket), HandshakeRole::connector);
}

void Replicator::Impl::schedule_dial() {
  next_dial_ = std::chrono::steady_clock::now() + backoff_ + dial_grace();
  backoff_ = std::min<lb::Duration>(backoff_ * 2, config_.reconnect_max_interval);
  dial_timer_.cancel();
}

Replicator::Impl::ConnPtr Replicator::Impl::start_conn(tcp::socket socket, HandshakeRole role) {
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  PeerSessionOptions o;
  o.node_id = config_.node_id;
  o.expected_peer_id = config_.peer_id;
  o.secret = config_.secret;
  o.role = role;
  o.incarnation = incarnation_;
  o.nonce = random_nonce();
  o.handshake_timeout = config_.handshake_timeout;
  o.heartbeat_interval = config_.heartbeat_interval;
  o.dead_after = config_.dead_peer_timeout;
  const auto remote = from_asio(socket.remote_endpoint(ec));
  auto c = std::make_shared<Conn>(io_, std::move(socket), std::move(o), memory_, clock_.now());
  c->remote = remote.to_string();
  c->source = remote.address.unmapped();
  c->opened = clock_.now();
  conns_.insert(c);
  if (role == HandshakeRole::acceptor) {
    c->counted_pending = true;
    ++pending_incoming_;
  }
  log_->debug("handshake: remote={} direction={}", c->remote,
              role == HandshakeRole::connector ? "outgoing" : "incoming");
  handle(c, c->session.start(clock_.now()));
  auto self = shared_from_this();
  asio::co_spawn(io_, read_loop(self, c), lb::log_exceptions(log_, "repl reader"));
  asio::co_spawn(io_, write_loop(self, c), lb::log_exceptions(log_, "repl writer"));
  asio::co_spawn(io_, tick_loop(self, c), lb::log_exceptions(log_, "repl ticker"));
  return c;
}

// ---- session events -------------------------------------------------------------------------

void Replicator::Impl::handle(const ConnPtr& c, SessionOutput out) {
  if (c->closed) return;
  // Keys before the Auth that comes with them is encoded: what follows it is sealed.
  if (out.keys) c->channel.install(*out.keys);
  if (out.established) c->channel.open_incoming();
  for (auto& f : out.send) c->control.push_back(std::move(f));
  if (out.close) {
    close(c, std::string(fault_name(out.close->fault)), out.close->reason);
    return;
  }
  if (out.established) {
    on_established(c, out.full_resync);
    if (c->closed) return;
  }
  for (const auto& f : out.deliver) apply_frame(*c, f);
  if (!c->control.empty()) wake(*c);
}

void Replicator::Impl::on_established(const ConnPtr& c, bool full_resync) {
  if (c->counted_pending) {
    c->counted_pending = false;
    --pending_incoming_;
  }
  if (active_ && active_ != c) {
    if (preferred(*active_) && !preferred(*c)) {
      log_->debug("duplicate session closed: peer={} remote={}",
                  escape_for_log(c->session.peer_id()), c->remote);
      close(c, "", "duplicate session");
      return;
    }
    close(active_, "", "replaced by the session the smaller node id dialled");
  }
  if (outgoing_ == c) outgoing_ = nullptr;
  active_ = c;
  c->active = true;
  backoff_ = config_.reconnect_interval;
  c->resync_pending = full_resync;
  if (!full_resync) {
    for (const auto& [table, seq] : memory_.acked) c->sent[table] = seq;
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.sessions;
    stats_.connected = true;
    stats_.peer_id = escape_for_log(c->session.peer_id());
    stats_.peer_address = c->remote;
    sent_mirror_ = c->sent;
  }
  log_->info("connected: peer={} remote={} direction={} send={}",
             escape_for_log(c->session.peer_id()), c->remote,
             c->role == HandshakeRole::connector ? "outgoing" : "incoming",
             full_resync ? "full_resync" : "resume");
  dial_timer_.cancel();
  wake(*c);
}

void Replicator::Impl::close(ConnPtr c, const std::string& category, const std::string& reason) {
  if (c->closed) return;
  c->closed = true;
  error_code ignored;
  if (!c->control.empty() && c->socket.is_open()) {
    // Best effort, never blocking: the frames the session still had to say (typically our
    // Auth) let the other side see *why* (a wrong secret is then logged on both nodes).
    std::vector<std::uint8_t> last;
    for (const auto& f : c->control) (void)c->channel.write(f, last);
    c->control.clear();
    c->socket.non_blocking(true, ignored);
    c->socket.write_some(asio::buffer(last), ignored);
  }
  c->socket.shutdown(tcp::socket::shutdown_both, ignored);
  c->socket.close(ignored);
  c->wake.cancel();
  c->tick.cancel();
  conns_.erase(c);
  if (c->counted_pending) {
    c->counted_pending = false;
    --pending_incoming_;
  }
  if (!category.empty()) count_error(category);
  if (c == active_) {
    active_ = nullptr;
    {
      std::lock_guard lock(mutex_);
      stats_.connected = false;
      ++stats_.disconnects;
    }
    const auto line = fmt::format("disconnected: peer={} remote={} reason={}",
                                  escape_for_log(c->session.peer_id()), c->remote, reason);
    if (category == "integrity" || category == "decode" || category == "protocol") {
      warn_limited(category, line);  // a hostile or broken stream: once per interval
    } else {
      log_->info("{}", line);
    }
    if (running_) schedule_dial();
  } else {
    if (c == outgoing_) {
      outgoing_ = nullptr;
      if (running_) schedule_dial();
    }
    if (!category.empty() && category != "io") {
      // Before authentication this is a refused peer (wrong secret, garbage, timeout). A plain
      // hang-up is not: it is how the losing session of a simultaneous dial ends.
      warn_limited(category,
                   fmt::format("session refused: remote={} reason={}", c->remote, reason));
    } else {
      log_->debug("session closed: remote={} reason={}", c->remote, reason);
    }
  }
}

// ---- ticks ----------------------------------------------------------------------------------

awaitable_void Replicator::Impl::tick_loop(std::shared_ptr<Impl> /*keep_alive*/, ConnPtr c) {
  // Fine enough for heartbeats and the dead-peer timeout, coarse enough to cost nothing.
  const auto period = std::clamp<lb::Duration>(config_.heartbeat_interval / 4, 5ms, 100ms);
  while (!c->closed) {
    c->tick.expires_after(period);
    error_code ec;
    co_await c->tick.async_wait(redirect_error(use_awaitable, ec));
    if (c->closed) co_return;
    handle(c, c->session.on_tick(clock_.now()));
  }
}

}  // namespace lbd::repl
