// The seam between the core (server, workers, listeners, L4) and a client session of any mode.
//
// CONTRACT (read this before writing a session, e.g. the L7 `serve_http`):
// - A session runs as a coroutine on ONE worker's io_context and never leaves that thread. Every
//   member of WorkerContext is called on that thread only; nothing here is thread-safe, nothing
//   may block, and every I/O the session starts must carry a deadline (config().timeouts).
// - The worker accepts the client socket, applies the connection limits (global, listener), reads
//   the PROXY header when the listener asks for one, then hands the session a ClientConnection by
//   value. The session owns it: destroying it closes the client socket and releases the
//   connection slot (ConnectionTicket). The session must finish (return) on its own; on shutdown
//   the worker sets `draining()` — finish the exchange in flight, then close keep-alive clients.
// - `config` inside ClientConnection is the snapshot the connection was accepted under; keep using
//   it for the life of the connection (a reload publishes a new one for new connections only).
//   `client.listener` points into that snapshot.
// - Backends: `connect_upstream(pool, ...)` picks (balancer of this worker), applies per-server
//   max_connections, connects with the connect timeout, retries other servers `connect_retries`
//   times (PickContext::avoid), and sends the PROXY header when the pool asks for one. It returns
//   the socket plus a BackendLease that keeps Backend::active counted while it lives: keep the
//   lease with the socket (also when the socket sits in a keep-alive pool) and drop both together.
//   `pick()` alone is for sessions that manage their own upstream connections (e.g. reuse a pooled
//   connection to the picked backend); such a session must take a BackendLease itself.
// - Byte relaying between two sockets (L4, or an HTTP Upgrade after 101) goes through relay() in
//   lbd/l4/relay.hpp, which uses this worker's pipe and buffer pools (relay_resources()).
// - Session persistence (lbd/session/persistence.hpp): a session derives the pool's stick key,
//   looks it up (`lookup()` on the request path), passes the persisted server as
//   PickContext::prefer, and sticks only after a (re)pick chose another server.
// - `extension_slot()` is one opaque per-worker slot a session kind may use for its own per-worker
//   state (e.g. the HTTP upstream keep-alive pools); it is destroyed with the worker.
// - The mode="http" entry point is `serve_http` below. It is DECLARED here and DEFINED by the L7
//   session (lbd/http/http_session.cpp).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "common/asio.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/balance/balancer.hpp"
#include "lbd/balance/pool_snapshot.hpp"
#include "lbd/config.hpp"
#include "lbd/session/client_registry.hpp"
#include "lbd/session/released_vips.hpp"
#include "lbd/telemetry/stats.hpp"
#include "lbd/upstream/outlier_detector.hpp"

namespace lbd {

class StickyTable;
namespace repl {
class ConnTable;
}
namespace admin {
class AccessLog;
}

/// An immutable configuration snapshot shared by the control thread and the workers.
using ConfigPtr = std::shared_ptr<const Config>;

namespace proxy {

class RelayResources;

/// Live count of one listener's client connections, shared by every worker; survives reloads
/// while the listener keeps its name.
struct ListenerRuntime {
  explicit ListenerRuntime(std::string name_) : name(std::move(name_)) {}
  const std::string name;
  std::atomic<std::uint32_t> active{0};

  /// TLS listeners: one failed handshake with its reason ("unsupported protocol", "timeout",
  /// "http request", ...). Any thread; takes a mutex, which only failures pay.
  void count_tls_error(const std::string& reason) {
    std::lock_guard lock(tls_mutex_);
    ++tls_errors_[reason];
  }
  /// Failed TLS handshakes by reason since the listener was created (any thread).
  std::map<std::string, std::uint64_t> tls_errors() const {
    std::lock_guard lock(tls_mutex_);
    return tls_errors_;
  }

 private:
  mutable std::mutex tls_mutex_;
  std::map<std::string, std::uint64_t> tls_errors_;
};

/// One client connection slot: counted in the global and the listener totals while it lives.
/// Move-only; releasing is idempotent.
class ConnectionTicket {
 public:
  ConnectionTicket() = default;
  ConnectionTicket(std::atomic<std::uint32_t>* global, std::shared_ptr<ListenerRuntime> listener)
      : global_(global), listener_(std::move(listener)) {}
  ConnectionTicket(ConnectionTicket&& o) noexcept
      : global_(std::exchange(o.global_, nullptr)),
        listener_(std::move(o.listener_)),
        registry_(std::exchange(o.registry_, nullptr)),
        registry_id_(o.registry_id_) {}
  ConnectionTicket& operator=(ConnectionTicket&& o) noexcept {
    if (this != &o) {
      release();
      global_ = std::exchange(o.global_, nullptr);
      listener_ = std::move(o.listener_);
      registry_ = std::exchange(o.registry_, nullptr);
      registry_id_ = o.registry_id_;
    }
    return *this;
  }
  ~ConnectionTicket() { release(); }
  /// The listener this connection is counted on (null once released).
  const std::shared_ptr<ListenerRuntime>& listener() const { return listener_; }
  /// The client socket's entry in the worker's ClientRegistry, removed on release (worker
  /// thread).
  void track(ClientRegistry* registry, std::uint64_t id) {
    registry_ = registry;
    registry_id_ = id;
  }
  void release() {
    if (registry_) registry_->remove(registry_id_);
    registry_ = nullptr;
    if (global_) global_->fetch_sub(1, std::memory_order_relaxed);
    if (listener_) listener_->active.fetch_sub(1, std::memory_order_relaxed);
    global_ = nullptr;
    listener_.reset();
  }

 private:
  std::atomic<std::uint32_t>* global_ = nullptr;
  std::shared_ptr<ListenerRuntime> listener_;
  ClientRegistry* registry_ = nullptr;
  std::uint64_t registry_id_ = 0;
};

/// Keeps one connection to `backend()` counted in Backend::active while it carries a client's
/// request or TCP session; keeps the snapshot (and so the Backend) alive. An idle keep-alive
/// connection parked in the UpstreamPool is not counted (park/unpark): Backend::active — what
/// least_conn, p2c and bounded_load compare and `lbctl show servers` shows as ACTIVE — is the
/// in-flight load only. Move-only; single-threaded (the worker's).
class BackendLease {
 public:
  BackendLease() = default;
  BackendLease(const Backend* backend, PoolSnapshotPtr snapshot)
      : backend_(backend), snapshot_(std::move(snapshot)) {
    if (backend_) backend_->active.fetch_add(1, std::memory_order_relaxed);
  }
  BackendLease(BackendLease&& o) noexcept
      : backend_(std::exchange(o.backend_, nullptr)),
        snapshot_(std::move(o.snapshot_)),
        parked_(std::exchange(o.parked_, false)) {}
  BackendLease& operator=(BackendLease&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = std::exchange(o.backend_, nullptr);
      snapshot_ = std::move(o.snapshot_);
      parked_ = std::exchange(o.parked_, false);
    }
    return *this;
  }
  ~BackendLease() { reset(); }
  void reset() {
    if (backend_ && !parked_) backend_->active.fetch_sub(1, std::memory_order_relaxed);
    backend_ = nullptr;
    parked_ = false;
    snapshot_.reset();
  }
  /// The connection goes idle (into the keep-alive pool): no longer counted in Backend::active.
  void park() {
    if (backend_ && !parked_) backend_->active.fetch_sub(1, std::memory_order_relaxed);
    parked_ = true;
  }
  /// The idle connection carries a request again: counted again.
  void unpark() {
    if (backend_ && parked_) backend_->active.fetch_add(1, std::memory_order_relaxed);
    parked_ = false;
  }
  const Backend* backend() const { return backend_; }

 private:
  const Backend* backend_ = nullptr;
  PoolSnapshotPtr snapshot_;
  bool parked_ = false;
};

/// Where a client connection came from and went to (after the PROXY header, if any).
struct ClientInfo {
  lb::Endpoint peer;   // the original client
  lb::Endpoint local;  // the address the client connected to; only known (getsockname) when a
                       // pool of the config sends PROXY headers, or from a received PROXY header
  const ListenerConfig* listener = nullptr;  // points into ClientConnection::config
};

/// What a session receives from the worker; see the contract at the top of this file.
struct ClientConnection {
  lb::tcp::socket socket;
  ClientInfo info;
  ConfigPtr config;
  ConnectionTicket ticket;
  /// Time already spent waiting for the client's first bytes (TLS listeners): the handshake's
  /// share of timeouts.request_header is what is left of it.
  std::chrono::nanoseconds waited_for_first_bytes{0};
};

class UpstreamTls;  // lbd/upstream_conn/upstream_tls_stream.hpp (Asio SSL stays out of this header)
struct UpstreamTlsDelete {
  void operator()(UpstreamTls* tls) const noexcept;
};
/// Points `tls`'s stream at `socket` after the connection moved (upstream_tls.cpp).
void rebind_upstream_tls(UpstreamTls& tls, lb::tcp::socket& socket) noexcept;

/// A connected backend socket, the lease that counts it and, for a pool with [pool.tls], the
/// TLS state layered over the socket (the socket stays the connection's lowest layer: watchdogs,
/// probes and close act on it; bytes go through UpstreamStream). Move-only; move it only while
/// no operation is pending on it.
struct UpstreamConnection {
  UpstreamConnection(lb::tcp::socket s, BackendLease l)
      : socket(std::move(s)), lease(std::move(l)) {}
  UpstreamConnection(UpstreamConnection&& o) noexcept
      : socket(std::move(o.socket)), lease(std::move(o.lease)), tls(std::move(o.tls)) {
    if (tls) rebind_upstream_tls(*tls, socket);
  }
  UpstreamConnection& operator=(UpstreamConnection&& o) noexcept {
    if (this != &o) {
      tls.reset();
      socket = std::move(o.socket);
      lease = std::move(o.lease);
      tls = std::move(o.tls);
      if (tls) rebind_upstream_tls(*tls, socket);
    }
    return *this;
  }

  lb::tcp::socket socket;
  BackendLease lease;
  std::unique_ptr<UpstreamTls, UpstreamTlsDelete> tls;  // null = plain TCP
};

/// Why connect_upstream gave up; sessions map these to 503 / 502 / 504.
enum class UpstreamError {
  no_backend,      // the pool has no candidate, or every one is at max_connections (503)
  connect_failed,  // every attempt was refused or reset (502)
  timeout,         // the last attempt hit the connect timeout (504)
};

/// Per-worker counters (relaxed atomics: written by the worker, read by stats on other threads).
struct WorkerCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused_limit{0};  // over a global / listener limit
  std::atomic<std::uint64_t> proxy_header_errors{0};
  std::atomic<std::uint64_t> proxy_header_untrusted{
      0};                                          // served as plain: not in proxy_protocol_from
  std::atomic<std::uint64_t> connect_failures{0};  // individual failed attempts
  std::atomic<std::uint64_t> upstream_errors{0};   // connections that got no backend at all
  std::atomic<std::uint64_t> bytes_client_to_server{0};
  std::atomic<std::uint64_t> bytes_server_to_client{0};
  std::atomic<std::uint64_t> sticky_hits{0};     // requests sent to their persisted server
  std::atomic<std::uint64_t> sticky_repicks{0};  // persisted server down/maint/gone: re-picked
  std::atomic<std::uint64_t> sticky_cookie_rejected{0};  // forged, altered or expired cookies
  std::atomic<std::uint64_t> parked_clients{0};  // idle L7 clients held without a session now
  // Client sessions ended because their local address (the VIP) was removed from the host.
  std::atomic<std::uint64_t> sessions_closed_address_removed{0};
};

/// Everything a session needs from its worker. Implemented by lbd::Worker; single-threaded.
class WorkerContext {
 public:
  virtual ~WorkerContext() = default;

  /// The worker's io_context; every socket and timer of the session lives on it.
  virtual lb::asio::io_context& io() = 0;
  /// Index of this worker (0..N-1), e.g. for seeds and logs.
  virtual unsigned index() const = 0;
  /// The newest configuration snapshot (sessions normally use ClientConnection::config).
  virtual const ConfigPtr& config() const = 0;
  /// Picks a backend of `pool` with this worker's balancer (or `ctx.prefer`, see PickContext);
  /// nullptr when the pool is unknown or has no candidate. Does not count the connection: take a
  /// BackendLease for that.
  virtual const Backend* pick(std::string_view pool, const PickContext& ctx) = 0;
  /// The current snapshot of `pool` (for BackendLease), or nullptr when unknown.
  virtual PoolSnapshotPtr pool_snapshot(std::string_view pool) const = 0;
  /// Picks, connects (with the connect timeout) and retries per the pool's connect_retries,
  /// avoiding the server that just failed; sends the pool's PROXY header built from `client`.
  virtual lb::awaitable<std::expected<UpstreamConnection, UpstreamError>> connect_upstream(
      std::string_view pool, const ClientInfo& client, PickContext ctx) = 0;
  /// The stick table of `pool` (persistence modes source_ip / learned_cookie / header), or
  /// nullptr. Thread-safe object shared by every worker and the replicator; valid while the
  /// worker keeps the config snapshot it came with (keep the returned shared_ptr across awaits).
  virtual std::shared_ptr<StickyTable> sticky_table(std::string_view pool) const = 0;
  /// Passive health: what the session saw when it used `backend` of `pool` (connect failure, 5xx,
  /// timeout, success), for the pool's outlier detector. Cheap (lock-free); ignored for unknown
  /// pools or backends of an older snapshot.
  virtual void report(std::string_view pool, const Backend& backend, TrafficEvent event) = 0;
  /// The process's connection table (live proxied connections, replicated to the peer), which
  /// outlives every worker. Thread-safe.
  virtual repl::ConnTable& conn_table() = 0;
  /// Pipe and buffer pools for relay().
  virtual RelayResources& relay_resources() = 0;
  virtual WorkerCounters& counters() = 0;
  /// The "lbd.proxy" logger.
  virtual const std::shared_ptr<spdlog::logger>& logger() const = 0;
  /// True once shutdown began: finish what is in flight, accept no new requests on keep-alive.
  virtual bool draining() const = 0;
  /// The VIPs this node handed over (vrrpd's handover drain): a keep-alive client connected to
  /// one is asked to reconnect after its current request. Thread-safe object; nullptr = none.
  virtual const ReleasedVips* released_vips() const { return nullptr; }
  /// One opaque per-worker slot for a session kind's own state (see the contract above).
  virtual std::shared_ptr<void>& extension_slot() = 0;
  /// This worker's counters for /metrics by listener and server (this thread is their only
  /// writer; references stay valid for the worker's life).
  virtual admin::WorkerStats& stats() = 0;
  /// The access log, or nullptr when it is off. Use it at once (write() never blocks), do not
  /// keep the pointer across a co_await: a reload may replace it.
  virtual admin::AccessLog* access_log() = 0;
};

/// Serves one mode="http" client connection until it closes. Defined by the L7 session; called by
/// the worker on its own thread for every accepted connection of an http listener.
lb::awaitable<void> serve_http(WorkerContext& ctx, ClientConnection client);
/// Same for an http listener with [listener.tls]: the TLS handshake (with the listener's
/// context from `client.config`), then the same L7 session over TLS. Defined in
/// lbd/http/https_session.cpp.
lb::awaitable<void> serve_https(WorkerContext& ctx, ClientConnection client);

}  // namespace proxy
}  // namespace lbd
