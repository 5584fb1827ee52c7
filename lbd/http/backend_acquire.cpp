// The backend side of an L7 exchange: a connection for the request (an idle pooled one to the
// server the balancer picks, or a new one), and what the session notes about the backend it
// forwards to (observation, the replicated connection table, the watchdog).
#include <functional>

#include "lbd/http/http_exchange.hpp"
#include "lbd/http/replay_policy.hpp"
#include "lbd/session/deadline.hpp"
#include "lbd/upstream_conn/upstream_tls.hpp"

namespace lbd::proxy::http_detail {

PooledPick HttpExchange::take_pooled(const RequestFacts& facts, int attempt, const Backend* avoid) {
  PooledPick pick{.start = Clock::now()};
  const auto& pool = *facts.pool;
  pick.reuse = attempt == 0 && pool.upstream_keepalive > 0 &&
               pool.send_proxy_protocol == ProxyProtocolSend::off;
  if (!pick.reuse) return pick;
  pick.picked = worker_.pick(
      *facts.pool_name,
      PickContext{.hash = pick_hash_, .avoid = avoid, .prefer = persistence_.prefer()});
  if (!pick.picked) return pick;
  // Probing costs a syscall; without a body a dead connection is caught by the replay.
  const UpstreamTlsContext* tls = pool.tls ? pool.tls->context.get() : nullptr;
  if (auto c = state_.upstreams.take(pick.picked, Clock::now(), cfg_.timeouts.server_idle,
                                     facts.has_body, tls)) {
    pick.pooled = Upstream{std::move(*c), true};
  }
  return pick;
}

/// With `reuse` (the pool keeps idle connections) to `picked`, the server the balancer chose for
/// a pooled one that was not there (null: no server is healthy); else through the worker, which
/// retries other servers. On failure the status and the reason for the error response.
lb::awaitable<Acquired> HttpExchange::acquire(const std::string& pool_name, const PoolConfig& pool,
                                              const Backend* avoid, bool reuse,
                                              const Backend* picked) {
  if (reuse) {
    const auto* b = picked;
    if (!b) co_return std::unexpected(Refusal{503, "no healthy backend"});
    // Connect to the server just picked, not to a second pick: with two picks per request a
    // round robin can fall into a cycle where one server's connections are always parked and
    // never taken again (they pile up and churn).
    if (b->max_connections == 0 || b->active.load(std::memory_order_relaxed) < b->max_connections) {
      BackendLease lease(b, worker_.pool_snapshot(pool_name));
      tcp::socket socket(worker_.io());
      error_code ec;
      watchdog_.watch(&raw_socket(), &socket);
      watchdog_.arm(cfg_.timeouts.connect);
      co_await socket.async_connect(to_asio(b->address),
                                    asio::redirect_error(lb::use_awaitable, ec));
      watchdog_.watch(&raw_socket(), nullptr);
      std::optional<std::string> tls_failed;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        UpstreamConnection conn{std::move(socket), std::move(lease)};
        if (!pool.tls) co_return Upstream{std::move(conn), false};
        watchdog_.disarm();  // the handshake has its own connect timeout
        tls_failed =
            co_await start_upstream_tls(conn, pool.tls->context, b->address, cfg_.timeouts.connect);
        if (!tls_failed) co_return Upstream{std::move(conn), false};
      }
      worker_.counters().connect_failures.fetch_add(1, std::memory_order_relaxed);
      worker_.report(
          pool_name, *b,
          !tls_failed && watchdog_.fired() ? TrafficEvent::timeout : TrafficEvent::connect_failure);
      if (tls_failed) {
        log_->warn("tls: upstream handshake failed pool={} server={} address={} reason={}",
                   pool_name, b->name, b->address.to_string(), *tls_failed);
      } else {
        log_->debug("connect: pool={} server={} error={}", pool_name, b->name,
                    watchdog_.fired() ? "timeout" : ec.message());
      }
    }
    avoid = b;  // the worker's connect below retries the other servers
  }
  watchdog_.disarm();  // connect_upstream applies the connect timeout itself
  auto r = co_await worker_.connect_upstream(
      pool_name, client_.info,
      PickContext{.hash = pick_hash_, .avoid = avoid, .prefer = persistence_.prefer()});
  if (!r) co_return std::unexpected(unreachable_refusal(r.error()));
  co_return Upstream{std::move(*r), false};
}

Refusal unreachable_refusal(UpstreamError error) {
  switch (error) {
    case UpstreamError::no_backend:
      return Refusal{503, "no healthy backend"};
    case UpstreamError::timeout:
      return Refusal{504, "connect to the backend timed out"};
    case UpstreamError::connect_failed:
      break;
  }
  return Refusal{502, "connect to the backend failed"};
}

void HttpExchange::start_forwarding(Upstream& up, const RequestFacts& facts,
                                    Clock::time_point acquire_start) {
  note_backend(up.conn.lease.backend(), facts,
               up.reused ? std::nullopt : std::optional<nanoseconds>(Clock::now() - acquire_start));
  watchdog_.watch(&raw_socket(), &up.conn.socket);
}

void HttpExchange::note_backend(const Backend* backend, const RequestFacts& facts,
                                std::optional<nanoseconds> connect) {
  backend_name_ = backend ? std::string_view(backend->name) : std::string_view("-");
  if (backend) {
    obs_.server = backend->name;
    obs_.connect = connect;
    obs_.sticky = !persistence_.active() ? "" : backend == persistence_.prefer() ? "hit" : "miss";
  }
  // The client connection is tracked under the backend of its latest request, re-pointed at
  // most once a second: under round robin every request changes backend, and each re-point
  // is a remove and an add in the table and in the journal the peer is sent.
  const auto backend_hash = backend ? std::hash<std::string_view>{}(backend->name) : 0;
  const auto now_s = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(obs_.start.time_since_epoch()).count());
  if (backend &&
      (tracked_.id() == 0 || (backend_hash != tracked_backend_ && now_s != tracked_at_s_))) {
    tracked_ = TrackedConnection(worker_.conn_table(), client_.info.peer, listener_.name,
                                 *facts.pool_name, backend->name, repl::ConnMode::l7);
    tracked_backend_ = backend_hash;
    tracked_at_s_ = now_s;
  }
}

std::optional<Refusal> HttpExchange::request_replay(const Upstream& up, bool can_retry,
                                                    bool written, const Backend*& avoid) {
  // An idempotent request always, another only if none of its bytes went out (RFC 9110 §9.2.2).
  if (can_retry && up.reused && !watchdog_.fired() && may_replay(method_, written)) {
    retry_elsewhere(up, avoid);
    return std::nullopt;
  }
  return Refusal{watchdog_.fired() ? 504u : 502u, "writing the request to the backend failed"};
}

void HttpExchange::retry_elsewhere(const Upstream& up, const Backend*& avoid) {
  avoid = up.conn.lease.backend();
  watchdog_.watch(&raw_socket(), nullptr);
}

}  // namespace lbd::proxy::http_detail
