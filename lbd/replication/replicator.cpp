// Replicator: the sockets, timers and table registry around PeerSession. Every coroutine runs on
// the one io_context (the control thread), so the state below needs no lock except what
// status() reads from other threads (mutex_).
#include "lbd/replication/replicator.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>

#include "common/asio.hpp"
#include "common/format.hpp"
#include "common/log.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/replication/ct_table.hpp"
#include "lbd/replication/log_text.hpp"
#include "lbd/replication/peer_session.hpp"
#include "lbd/replication/secure_channel.hpp"
#include "lbd/replication/table_sync.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace lbd::repl {

namespace {

using namespace std::chrono_literals;
using lb::error_code;
using lb::tcp;
using lb::use_awaitable;
using lb::asio::redirect_error;
using lb::asio::steady_timer;
namespace asio = lb::asio;
using awaitable_void = lb::awaitable<void>;

constexpr std::size_t kReadBufferSize = 64 * 1024;
/// Unauthenticated incoming connections held at once, in total and from one source address. A
/// new connection beyond either bound replaces the oldest pending one (of its source first), so
/// half-open connections cannot keep the real peer out: its handshake takes one round trip.
constexpr std::size_t kMaxPendingSessions = 16;
constexpr std::size_t kMaxPendingPerSource = 4;
/// A full resync writes whenever this much is buffered (checked after each shard).
constexpr std::size_t kResyncFlushBytes = 256 * 1024;
/// The same warning (per reason) is logged at most this often.
constexpr auto kLogEvery = 10s;

tcp::endpoint to_asio(const lb::Endpoint& e) {
  sockaddr_storage storage{};
  const auto len = e.to_sockaddr(storage);
  tcp::endpoint out;
  std::memcpy(out.data(), &storage, len);
  out.resize(len);
  return out;
}

lb::Endpoint from_asio(const tcp::endpoint& e) {
  return lb::Endpoint::from_sockaddr(e.data()).value_or(lb::Endpoint{});
}

std::uint64_t random_incarnation() {
  for (;;) {
    const Nonce n = random_nonce();
    std::uint64_t v = 0;
    std::memcpy(&v, n.data(), sizeof v);
    if (v != 0) return v;
  }
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::unknown:
      return "unknown";
    case Role::backup:
      return "backup";
    case Role::master:
      return "master";
  }
  return "?";
}

class Replicator::Impl : public std::enable_shared_from_this<Impl> {
 public:
  /// One TCP connection and its session.
  struct Conn {
    Conn(asio::io_context& io, tcp::socket s, PeerSessionOptions o, PeerMemory& m,
         lb::SteadyTime now)
        : socket(std::move(s)), role(o.role), session(std::move(o), m, now), wake(io), tick(io) {}
    tcp::socket socket;
    HandshakeRole role;
    PeerSession session;
    SecureChannel channel;  // frames in and out: clear for the handshake, sealed after it
    std::string remote;
    lb::IpAddress source;         // the remote address, v4-mapped IPv6 unmapped
    lb::SteadyTime opened{};      // for evicting the oldest pending handshake
    bool keys_exhausted = false;  // the channel refused to seal: the session must end
    std::vector<Frame> control;   // hello, auth, acks, heartbeats: written before data
    steady_timer wake;            // the writer sleeps on it; cancel() wakes it
    steady_timer tick;
    bool closed = false;
    bool active = false;  // the session that carries data (at most one)
    bool counted_pending = false;
    bool resync_pending = false;
    std::map<std::string, std::uint64_t, std::less<>> sent;  // per table: last seq written
    lb::SteadyTime resync_started{};
    std::uint64_t resync_entries = 0;
    // Accumulated per read, flushed into the status under the mutex.
    std::uint64_t applied = 0, stale = 0, ct_received = 0, ct_sent = 0;
  };

  Impl(asio::io_context& io, ReplicationConfig config, const lb::Clock& clock)
      : io_(io),
        config_(std::move(config)),
        clock_(clock),
        log_(lb::log::get("lbd.repl")),
        incarnation_(random_incarnation()),
        dial_timer_(io),
        backoff_(config_.reconnect_interval) {
    stats_.node_id = config_.node_id;
  }

  // ---- registry ----------------------------------------------------------------------------

  void add_table(StickyTable& t) {
    std::lock_guard lock(mutex_);
    tables_[t.name()] = &t;
  }
  void remove_table(std::string_view name) {
    std::lock_guard lock(mutex_);
    if (auto it = tables_.find(name); it != tables_.end()) tables_.erase(it);
  }
  void set_conn_table(ConnTable* t) {
    std::lock_guard lock(mutex_);
    conn_table_ = t;
  }
  void set_ct_table(CtTable* t) {
    std::lock_guard lock(mutex_);
    ct_table_ = t;
  }
  void clear_tables() {
    std::lock_guard lock(mutex_);
    tables_.clear();
    conn_table_ = nullptr;
    ct_table_ = nullptr;
  }
  StickyTable* find_table(std::string_view name) const {
    auto it = tables_.find(name);
    return it == tables_.end() ? nullptr : it->second;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  lb::Result<void> start() {
    if (running_) return {};
    const lb::Endpoint where = bound_.value_or(config_.listen);
    acceptor_.emplace(io_);
    error_code ec;
    const auto ep = to_asio(where);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor_.reset();
      return lb::fail(fmt::format("replication: cannot listen on {}: {}", where, ec.message()));
    }
    bound_ = from_asio(acceptor_->local_endpoint(ec));
    const std::uint64_t gen = ++generation_;
    running_ = true;
    next_dial_ = std::chrono::steady_clock::now() + dial_grace();
    backoff_ = config_.reconnect_interval;
    {
      std::lock_guard lock(mutex_);
      stats_.running = true;
    }
    auto self = shared_from_this();
    asio::co_spawn(io_, accept_loop(self, gen), lb::log_exceptions(log_, "repl accept loop"));
    asio::co_spawn(io_, dial_loop(self, gen), lb::log_exceptions(log_, "repl dial loop"));
    log_->info("listening: address={} node_id={} peer={}", *bound_, config_.node_id, config_.peer);
    return {};
  }

  void stop() {
    if (!running_) return;
    ++generation_;
    running_ = false;
    error_code ignored;
    if (acceptor_) acceptor_->close(ignored);
    dial_timer_.cancel();
    const auto conns = conns_;
    for (const auto& c : conns) close(c, "", "replication stopped");
    {
      std::lock_guard lock(mutex_);
      stats_.running = false;
    }
    log_->info("stopped: node_id={}", config_.node_id);
  }

  void disconnect() {
    if (active_) close(active_, "", "disconnect requested");
  }

  void on_role(Role role) {
    if (role == role_) return;
    const Role previous = role_;
    role_ = role;
    std::uint64_t peer_conns = 0;
    if (role == Role::master && conn_table_ != nullptr) peer_conns = conn_table_->remote_size();
    {
      std::lock_guard lock(mutex_);
      stats_.role = role;
      if (role == Role::master) stats_.takeover_peer_connections = peer_conns;
    }
    if (role == Role::master) {
      // A terminating proxy cannot adopt the peer's TCP connections: if the peer failed they
      // are gone, and their clients come back through us to the backend the table names.
      log_->info(
          "role: {} -> master, peer_connections={} (lost if the peer failed; reconnecting "
          "clients go back to their backend)",
          role_name(previous), peer_conns);
    } else {
      log_->info("role: {} -> {}", role_name(previous), role_name(role));
    }
  }

  // ---- connections -------------------------------------------------------------------------

  awaitable_void accept_loop(std::shared_ptr<Impl> /*keep_alive*/, std::uint64_t gen);
  awaitable_void dial_loop(std::shared_ptr<Impl> /*keep_alive*/, std::uint64_t gen);
  awaitable_void dial(std::uint64_t gen);
  awaitable_void read_loop(std::shared_ptr<Impl> /*keep_alive*/, std::shared_ptr<Conn> c);
  awaitable_void write_loop(std::shared_ptr<Impl> /*keep_alive*/, std::shared_ptr<Conn> c);
  awaitable_void tick_loop(std::shared_ptr<Impl> /*keep_alive*/, std::shared_ptr<Conn> c);
  lb::awaitable<bool> write(std::shared_ptr<Conn> cp, std::vector<std::uint8_t>& out,
                            std::size_t& frames);
  lb::awaitable<bool> send_resync(std::shared_ptr<Conn> cp, std::vector<std::uint8_t>& out,
                                  std::size_t& frames);

  std::shared_ptr<Conn> start_conn(tcp::socket socket, HandshakeRole role);
  void handle(const std::shared_ptr<Conn>& c, SessionOutput out);
  void on_established(const std::shared_ptr<Conn>& c, bool full_resync);
  void close(std::shared_ptr<Conn> c, const std::string& category, const std::string& reason);
  /// The node whose dialled session would lose the tie-break (it has the larger id) waits one
  /// more reconnect_interval, so that after a start or a cut the pair rarely builds two
  /// sessions (and two full resyncs) only to close one.
  lb::Duration dial_grace() const {
    const bool loses = !config_.peer_id.empty() && config_.node_id > config_.peer_id;
    return loses ? config_.reconnect_interval : lb::Duration::zero();
  }
  void schedule_dial() {
    next_dial_ = std::chrono::steady_clock::now() + backoff_ + dial_grace();
    backoff_ = std::min<lb::Duration>(backoff_ * 2, config_.reconnect_max_interval);
    dial_timer_.cancel();
  }
  static void wake(Conn& c) { c.wake.cancel(); }
  bool preferred(const Conn& c) const {
    // The session dialled by the node with the smaller id wins: both nodes agree on it.
    return (c.role == HandshakeRole::connector) == (config_.node_id < c.session.peer_id());
  }

  void encode_control(Conn& c, std::vector<std::uint8_t>& out, std::size_t& frames);
  /// Makes room for a new incoming handshake from `source` by closing the oldest pending one
  /// (from the same source when it holds its share, else from any source) when a bound is hit.
  void bound_pending(const lb::IpAddress& source);
  void pull_increments(Conn& c, std::vector<std::uint8_t>& out, std::size_t& frames);
  /// Encodes `records` of the conntrack journal as CtUpdate / CtErase frames (runs of one kind,
  /// at most kMaxCtBatch entries each, the frame's seq its last record's).
  void encode_ct(Conn& c, const std::vector<CtJournalRecord>& records,
                 std::vector<std::uint8_t>& out, std::size_t& frames);
  void apply_frame(Conn& c, const Frame& f);
  void encode_or_count(Conn& c, const Frame& f, std::vector<std::uint8_t>& out,
                       std::size_t& frames) {
    switch (c.channel.write(f, out)) {
      case WriteStatus::ok:
        ++frames;
        return;
      case WriteStatus::unencodable:
        count_error("encode");
        warn_limited("encode", fmt::format("frame not sendable (field out of bounds): type={}",
                                           frame_name(f)));
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

  void count_error(const std::string& category, std::uint64_t n = 1) {
    std::lock_guard lock(mutex_);
    stats_.errors[category] += n;
  }
  void warn_limited(const std::string& key, const std::string& message) {
    const auto now = std::chrono::steady_clock::now();
    auto& [last, suppressed] = limiter_[key];
    if (last != std::chrono::steady_clock::time_point{} && now - last < kLogEvery) {
      ++suppressed;
      return;
    }
    if (suppressed > 0) {
      log_->warn("{} (and {} more like it)", message, suppressed);
    } else {
      log_->warn("{}", message);
    }
    last = now;
    suppressed = 0;
  }

  ReplicationStatus status() const;

  asio::io_context& io_;
  ReplicationConfig config_;
  const lb::Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  const std::uint64_t incarnation_;
  PeerMemory memory_;

  std::optional<tcp::acceptor> acceptor_;
  std::optional<lb::Endpoint> bound_;
  steady_timer dial_timer_;
  std::chrono::steady_clock::time_point next_dial_{};
  lb::Duration backoff_;
  std::uint64_t generation_ = 0;
  bool running_ = false;
  std::shared_ptr<Conn> active_;
  std::shared_ptr<Conn> outgoing_;  // dialled and not yet established
  std::set<std::shared_ptr<Conn>> conns_;
  std::size_t pending_incoming_ = 0;
  bool logged_in_sync_sent_ = false;
  bool logged_in_sync_received_ = false;
  Role role_ = Role::unknown;
  std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> limiter_;

  // Written on the io thread under mutex_; status() reads them from any thread. The io thread
  // reads tables_ / conn_table_ without the lock (it is their only writer).
  mutable std::mutex mutex_;
  std::map<std::string, StickyTable*, std::less<>> tables_;
  ConnTable* conn_table_ = nullptr;
  CtTable* ct_table_ = nullptr;
  ReplicationStatus stats_;
  std::map<std::string, std::uint64_t, std::less<>> acked_mirror_;
  std::map<std::string, std::uint64_t, std::less<>> sent_mirror_;
};

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
  std::shared_ptr<Conn> oldest_same, oldest_any;
  std::size_t same = 0;
  for (const auto& c : conns_) {
    if (!c->counted_pending) continue;
    if (!oldest_any || c->opened < oldest_any->opened) oldest_any = c;
    if (c->source != source) continue;
    ++same;
    if (!oldest_same || c->opened < oldest_same->opened) oldest_same = c;
  }
  std::shared_ptr<Conn> victim;
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

std::shared_ptr<Replicator::Impl::Conn> Replicator::Impl::start_conn(tcp::socket socket,
                                                                     HandshakeRole role) {
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

void Replicator::Impl::handle(const std::shared_ptr<Conn>& c, SessionOutput out) {
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

void Replicator::Impl::on_established(const std::shared_ptr<Conn>& c, bool full_resync) {
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

void Replicator::Impl::close(std::shared_ptr<Conn> c, const std::string& category,
                             const std::string& reason) {
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

// ---- reading --------------------------------------------------------------------------------

awaitable_void Replicator::Impl::read_loop(std::shared_ptr<Impl> /*keep_alive*/,
                                           std::shared_ptr<Conn> c) {
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
    for (;;) {
      auto r = c->channel.next();
      if (std::holds_alternative<NeedMore>(r)) break;
      if (const auto* e = std::get_if<DecodeError>(&r)) {
        close(c, "decode", "corrupt frame: " + e->message);
        co_return;
      }
      if (const auto* e = std::get_if<IntegrityError>(&r)) {
        // Nothing of the frame was decoded; a sealed stream cannot be resynchronised.
        close(c, "integrity", e->message);
        co_return;
      }
      ++frames;
      handle(c, c->session.on_frame(std::get<Decoded>(r).frame, clock_.now()));
      if (c->closed) co_return;
    }
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

void Replicator::Impl::apply_frame(Conn& c, const Frame& f) {
  auto unknown = [&](std::string_view table) {
    count_error("unknown_table");
    warn_limited("unknown_table",
                 fmt::format("update for a table this node does not have: table=\"{}\"",
                             escape_for_log(table)));
  };
  auto count = [&](StickyTable::RemoteResult r) {
    if (r == StickyTable::RemoteResult::applied) {
      ++c.applied;
    } else if (r == StickyTable::RemoteResult::stale) {
      ++c.stale;
    } else {
      count_error("rejected");
    }
  };
  if (const auto* u = std::get_if<Update>(&f)) {
    ++c.resync_entries;
    if (auto* t = find_table(u->table)) {
      count(apply(*u, *t));
    } else {
      unknown(u->table);
    }
  } else if (const auto* e = std::get_if<Erase>(&f)) {
    if (auto* t = find_table(e->table)) {
      count(apply(*e, *t));
    } else {
      unknown(e->table);
    }
  } else if (const auto* a = std::get_if<ConnAdd>(&f)) {
    ++c.resync_entries;
    if (conn_table_ == nullptr) {
      unknown(kConnTableName);
    } else if (apply(*a, *conn_table_)) {
      ++c.applied;
    } else {
      count_error("rejected");
    }
  } else if (const auto* r = std::get_if<ConnRemove>(&f)) {
    if (conn_table_ != nullptr) apply(*r, *conn_table_);
  } else if (const auto* cu = std::get_if<CtUpdate>(&f)) {
    c.resync_entries += cu->entries.size();
    c.ct_received += cu->entries.size();
    if (ct_table_ == nullptr) {
      unknown(kCtTableName);
    } else {
      ct_table_->apply(*cu);
    }
  } else if (const auto* ce = std::get_if<CtErase>(&f)) {
    c.ct_received += ce->originals.size();
    if (ct_table_ != nullptr) ct_table_->apply(*ce);
  } else if (std::holds_alternative<ResyncBegin>(f)) {
    c.resync_started = clock_.now();
    c.resync_entries = 0;
    if (ct_table_ != nullptr) ct_table_->resync_begin();
    // The peer's live connections come whole; ones it closed while we were apart must go.
    if (conn_table_ != nullptr) conn_table_->clear_remote();
  } else if (std::holds_alternative<ResyncEnd>(f)) {
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
}

// ---- writing --------------------------------------------------------------------------------

void Replicator::Impl::encode_control(Conn& c, std::vector<std::uint8_t>& out,
                                      std::size_t& frames) {
  for (const auto& f : c.control) encode_or_count(c, f, out, frames);
  c.control.clear();
}

void Replicator::Impl::pull_increments(Conn& c, std::vector<std::uint8_t>& out,
                                       std::size_t& frames) {
  const lb::SteadyTime now = clock_.now();
  auto overflow = [&](std::string_view table) {
    c.resync_pending = true;
    {
      std::lock_guard lock(mutex_);
      ++stats_.overflow_resyncs;
    }
    log_->info("journal overflow: table={} peer={}: full resync", table,
               escape_for_log(c.session.peer_id()));
  };
  for (const auto& [name, table] : tables_) {
    auto& cursor = c.sent.try_emplace(name, 0).first->second;
    auto batch = table->pull(cursor, config_.batch_max);
    if (batch.overflowed) {
      overflow(name);
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
      overflow(kConnTableName);
      return;
    }
    for (const auto& r : batch.records) {
      encode_or_count(c, to_frame(r), out, frames);
      cursor = r.seq;
    }
  }
  if (ct_table_ != nullptr) {
    auto& cursor = c.sent.try_emplace(std::string(kCtTableName), 0).first->second;
    auto batch = ct_table_->pull(cursor, config_.batch_max);
    if (batch.overflowed) {
      overflow(kCtTableName);
      return;
    }
    if (!batch.records.empty()) {
      encode_ct(c, batch.records, out, frames);
      cursor = batch.records.back().seq;
    }
  }
}

void Replicator::Impl::encode_ct(Conn& c, const std::vector<CtJournalRecord>& records,
                                 std::vector<std::uint8_t>& out, std::size_t& frames) {
  CtUpdate update;
  CtErase erase;
  auto flush = [&] {
    if (!update.entries.empty()) {
      c.ct_sent += update.entries.size();
      encode_or_count(c, update, out, frames);
      update.entries.clear();
    }
    if (!erase.originals.empty()) {
      c.ct_sent += erase.originals.size();
      encode_or_count(c, erase, out, frames);
      erase.originals.clear();
    }
  };
  for (const auto& r : records) {
    // A change of kind ends the run: the peer applies the frames in journal order.
    if (r.erase ? !update.entries.empty() : !erase.originals.empty()) flush();
    if (r.erase) {
      erase.originals.push_back(r.entry.original);
      erase.seq = r.seq;
      if (erase.originals.size() == kMaxCtBatch) flush();
    } else {
      update.entries.push_back(r.entry);
      update.seq = r.seq;
      if (update.entries.size() == kMaxCtBatch) flush();
    }
  }
  flush();
}

lb::awaitable<bool> Replicator::Impl::write(std::shared_ptr<Conn> cp,
                                            std::vector<std::uint8_t>& out, std::size_t& frames) {
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

lb::awaitable<bool> Replicator::Impl::send_resync(std::shared_ptr<Conn> cp,
                                                  std::vector<std::uint8_t>& out,
                                                  std::size_t& frames) {
  Conn& c = *cp;
  c.resync_pending = false;
  const auto started = std::chrono::steady_clock::now();
  // Journal heads before the snapshot: whatever changes while we walk the tables follows as
  // increments (an entry may then arrive twice; last-writer-wins makes that harmless).
  std::map<std::string, std::uint64_t, std::less<>> heads;
  std::vector<std::string> names;
  for (const auto& [name, table] : tables_) {
    heads[name] = table->journal_head();
    names.push_back(name);
  }
  if (conn_table_ != nullptr) heads[std::string(kConnTableName)] = conn_table_->journal_head();
  if (ct_table_ != nullptr) heads[std::string(kCtTableName)] = ct_table_->journal_head();
  encode_or_count(c, ResyncBegin{}, out, frames);
  std::uint64_t entries = 0;
  for (const auto& name : names) {
    for (std::size_t shard = 0;; ++shard) {
      // Looked up again after every write: the table may have been removed meanwhile.
      const StickyTable* table = find_table(name);
      if (table == nullptr || shard >= table->shard_count()) break;
      table->for_each_in_shard(shard, [&](const StickEntryView& e) {
        encode_or_count(c, to_update(e, name), out, frames);
        ++entries;
      });
      if (out.size() >= kResyncFlushBytes) {
        encode_control(c, out, frames);  // acks and heartbeats are not held back by a resync
        if (!co_await write(cp, out, frames)) co_return false;
      }
    }
  }
  if (conn_table_ != nullptr) {
    conn_table_->for_each_local([&](const ConnEntry& e) {
      encode_or_count(c, to_conn_add(e, 0), out, frames);
      ++entries;
    });
  }
  if (ct_table_ != nullptr) {
    // Read from the kernel now (lbd/forward/), in frames of kMaxCtBatch entries, seq 0.
    const auto flows = ct_table_->snapshot();
    for (std::size_t at = 0; at < flows.size(); at += kMaxCtBatch) {
      CtUpdate batch;
      const auto end = std::min(flows.size(), at + kMaxCtBatch);
      batch.entries.assign(flows.begin() + static_cast<std::ptrdiff_t>(at),
                           flows.begin() + static_cast<std::ptrdiff_t>(end));
      c.ct_sent += batch.entries.size();
      entries += batch.entries.size();
      encode_or_count(c, batch, out, frames);
      if (out.size() >= kResyncFlushBytes) {
        encode_control(c, out, frames);
        if (!co_await write(cp, out, frames)) co_return false;
      }
    }
  }
  encode_or_count(c, ResyncEnd{}, out, frames);
  encode_control(c, out, frames);
  if (!co_await write(cp, out, frames)) co_return false;
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
  co_return true;
}

awaitable_void Replicator::Impl::write_loop(std::shared_ptr<Impl> /*keep_alive*/,
                                            std::shared_ptr<Conn> c) {
  std::vector<std::uint8_t> out;
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

awaitable_void Replicator::Impl::tick_loop(std::shared_ptr<Impl> /*keep_alive*/,
                                           std::shared_ptr<Conn> c) {
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

// ---- status ---------------------------------------------------------------------------------

ReplicationStatus Replicator::Impl::status() const {
  std::lock_guard lock(mutex_);
  ReplicationStatus s = stats_;
  auto fill = [&](TableStatus& t) {
    if (auto it = acked_mirror_.find(t.name); it != acked_mirror_.end()) t.acked_seq = it->second;
    if (auto it = sent_mirror_.find(t.name); it != sent_mirror_.end()) t.sent_seq = it->second;
    // Connected: what is not written yet; apart: what the peer has not acknowledged.
    const std::uint64_t done = s.connected ? t.sent_seq : t.acked_seq;
    t.backlog = t.journal_head > done ? t.journal_head - done : 0;
  };
  for (const auto& [name, table] : tables_) {
    TableStatus t;
    t.name = name;
    t.journal_head = table->journal_head();
    t.entries = table->size();
    fill(t);
    s.tables.push_back(std::move(t));
  }
  if (conn_table_ != nullptr) {
    TableStatus t;
    t.name = std::string(kConnTableName);
    t.journal_head = conn_table_->journal_head();
    t.entries = conn_table_->local_size();
    t.remote_entries = conn_table_->remote_size();
    fill(t);
    s.tables.push_back(std::move(t));
  }
  if (ct_table_ != nullptr) {
    TableStatus t;
    t.name = std::string(kCtTableName);
    t.journal_head = ct_table_->journal_head();
    t.entries = ct_table_->size();
    t.remote_entries = ct_table_->remote_size();
    fill(t);
    s.tables.push_back(std::move(t));
  }
  return s;
}

// ---- Replicator -----------------------------------------------------------------------------

Replicator::Replicator(boost::asio::io_context& io, ReplicationConfig config,
                       const lb::Clock& clock)
    : impl_(std::make_shared<Impl>(io, std::move(config), clock)) {}

Replicator::~Replicator() {
  impl_->stop();
  // Coroutines still queued hold the Impl; they see their sessions closed and touch no table.
  impl_->clear_tables();
}

void Replicator::add_table(StickyTable& table) { impl_->add_table(table); }
void Replicator::remove_table(std::string_view name) { impl_->remove_table(name); }
void Replicator::set_conn_table(ConnTable* table) { impl_->set_conn_table(table); }
void Replicator::set_ct_table(CtTable* table) { impl_->set_ct_table(table); }
lb::Result<void> Replicator::start() { return impl_->start(); }
void Replicator::stop() { impl_->stop(); }
void Replicator::disconnect() { impl_->disconnect(); }
void Replicator::on_role(Role role) { impl_->on_role(role); }
lb::Endpoint Replicator::listen_endpoint() const {
  return impl_->bound_.value_or(impl_->config_.listen);
}
void Replicator::set_peer_endpoint(const lb::Endpoint& peer) { impl_->config_.peer = peer; }
ReplicationStatus Replicator::status() const { return impl_->status(); }

}  // namespace lbd::repl
