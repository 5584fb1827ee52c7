// The L4 session (see tcp_session.hpp), with TLS pass-through routing by the ClientHello's SNI.
#include "lbd/l4/tcp_session.hpp"

#include <algorithm>
#include <memory>
#include <vector>

#include "lbd/l4/relay.hpp"
#include "lbd/l4/sni_route.hpp"
#include "lbd/session/conn_tracking.hpp"
#include "lbd/session/deadline.hpp"
#include "lbd/session/first_record_wait.hpp"
#include "lbd/session/persistence.hpp"
#include "lbd/session/pick_hash.hpp"
#include "lbd/session/request_log.hpp"
#include "lbd/sticky/key_derivation.hpp"
#include "lbd/tls/client_hello.hpp"
#include "lbd/upstream_conn/upstream_connect.hpp"

namespace lbd::proxy {

namespace {

/// The first bytes of a client on an SNI-routed listener and the server name they carry.
struct ClientHelloPrefix {
  std::string server_name;  // "" without one or when the client does not speak TLS
  std::vector<std::uint8_t> bytes;
};

/// Reads the client's first bytes until they hold a whole ClientHello (bounded by
/// kMaxClientHello and `timeout`). Nothing is read, and no buffer held, until the first TLS
/// record is wholly queued in the socket (wait_for_first_record): a client stalled mid-hello
/// costs a pending wait. The bytes are then consumed, not peeked: a hello spread over several
/// records is read record after record, and bytes left queued in the socket would complete every
/// readiness wait at once (a client that stalls in a later record would spin the worker). The
/// caller replays them to the backend before relaying. nullopt when the client timed out or went
/// away.
lb::awaitable<std::optional<ClientHelloPrefix>> read_client_hello(
    lb::tcp::socket& socket, std::chrono::nanoseconds timeout, const std::string& listener,
    const std::shared_ptr<spdlog::logger>& log) {
  SocketDeadline deadline(socket, timeout);
  if (co_await wait_for_first_record(socket)) co_return std::nullopt;
  ClientHelloPrefix out;
  std::size_t size = 0;
  lb::error_code ec;
  for (;;) {
    // Real ClientHellos are below 2 KiB: start there and grow only for a bigger one.
    if (size == out.bytes.size()) out.bytes.resize(std::min(kMaxClientHello, 2 * size + 2048));
    const std::size_t n = co_await socket.async_read_some(
        lb::asio::buffer(out.bytes.data() + size, out.bytes.size() - size),
        redirect_error(lb::use_awaitable, ec));
    if (deadline.expired() || ec) co_return std::nullopt;
    size += n;
    const auto r = parse_client_hello_sni(std::span<const std::uint8_t>(out.bytes.data(), size));
    if (r.status == SniStatus::need_more && size < kMaxClientHello) continue;
    if (r.status == SniStatus::found) {
      out.server_name = r.name;
    } else if (r.status != SniStatus::no_sni) {
      log->debug("sni: listener={} no usable ClientHello: {}", listener,
                 r.status == SniStatus::invalid ? r.error : "longer than 16 KiB");
    }
    out.bytes.resize(size);
    co_return out;
  }
}

// Persistence for a tcp client: only source_ip is possible without HTTP (the loader refuses
// other modes here). After a failover, a client of the old master goes back to the backend it
// was using there.
StickyChoice choose_sticky(WorkerContext& worker, const PoolConfig& pool,
                           const ClientConnection& client) {
  StickyChoice sticky;
  if (pool.persistence.mode == PersistenceMode::source_ip) {
    sticky =
        lookup_sticky(worker, pool.name,
                      stick_key::from_address(client.info.peer.address, pool.persistence.ipv4_mask,
                                              pool.persistence.ipv6_mask));
  }
  if (!sticky.prefer) {
    sticky.prefer = peer_connection_target(worker, pool.name, client.info.peer.address,
                                           client.info.listener->name);
  }
  return sticky;
}

// A backend answered: its connect time, name and persistence outcome, and the success the
// outlier detector counts (L4 sees no responses: a completed connect is the success).
void note_connected(WorkerContext& worker, admin::ListenerCounters& lstats, const PoolConfig& pool,
                    StickyChoice& sticky, const UpstreamConnection& upstream,
                    std::chrono::steady_clock::time_point connect_start, RequestObservation& obs) {
  obs.connect = std::chrono::steady_clock::now() - connect_start;
  lstats.tcp_connect.observe(*obs.connect, admin::kLatencyBounds);
  obs.server = upstream.lease.backend()->name;
  if (sticky.table) obs.sticky = upstream.lease.backend() == sticky.prefer ? "hit" : "miss";
  commit_sticky(worker, sticky, upstream.lease.backend(), true);
  worker.report(pool.name, *upstream.lease.backend(), TrafficEvent::success);
}

const char* connect_error_text(UpstreamError e) {
  return e == UpstreamError::no_backend ? "no backend"
         : e == UpstreamError::timeout  ? "connect timeout"
                                        : "connect failed";
}

// Hands both sockets to the relay. This coroutine (and the caller's) end right after, so an idle
// L4 connection costs only the relay's state. The ticket, lease and config snapshot live in the
// completion callback until the relay ends.
void start_tcp_relay(WorkerContext& worker, admin::ListenerCounters& lstats,
                     ClientConnection& client, UpstreamConnection& upstream, const PoolConfig& pool,
                     RequestObservation obs, std::uint64_t replayed) {
  const Config& config = *client.config;
  TrackedConnection tracked(worker.conn_table(), client.info.peer, client.info.listener->name,
                            pool.name, upstream.lease.backend()->name, repl::ConnMode::l4);
  RelayOptions options;
  options.client_idle = config.timeouts.client_idle;
  options.server_idle = config.timeouts.server_idle;
  options.use_splice = config.global.splice;
  start_relay(
      std::move(client.socket), std::move(upstream.socket), worker.relay_resources(), options,
      [&worker, &lstats, obs = std::move(obs), peer = client.info.peer,
       listener = client.info.listener, config = std::move(client.config), replayed,
       ticket = std::move(client.ticket), lease = std::move(upstream.lease),
       tracked = std::move(tracked)](const RelayResult& result) mutable {
        auto& counters = worker.counters();
        counters.bytes_client_to_server.fetch_add(result.client_to_server + replayed,
                                                  std::memory_order_relaxed);
        counters.bytes_server_to_client.fetch_add(result.server_to_client,
                                                  std::memory_order_relaxed);
        if (result.timed_out || result.error) {
          worker.logger()->debug("tcp: listener={} client={} server={} end={} up={} down={}",
                                 listener->name, peer.to_string(), lease.backend()->name,
                                 result.timed_out ? "idle timeout" : result.error.message(),
                                 result.client_to_server, result.server_to_client);
        }
        lstats.tcp_session.observe(std::chrono::steady_clock::now() - obs.start,
                                   admin::kSessionBounds);
        obs.bytes_in = result.client_to_server + replayed;
        obs.bytes_out = result.server_to_client;
        finish_request(worker, lstats, listener->name,
                       worker.access_log() ? peer.to_string() : std::string(), obs);
        lease.reset();
        ticket.release();
      });
}

}  // namespace

lb::awaitable<void> serve_tcp(WorkerContext& worker, ClientConnection client) {
  const Config& config = *client.config;
  const ListenerConfig& listener = *client.info.listener;
  const std::string* pool_name = &listener.default_pool;
  std::vector<std::uint8_t> replay;  // client bytes read for routing, owed to the backend
  if (!listener.sni_routes.empty()) {
    auto hello = co_await read_client_hello(client.socket, config.timeouts.request_header,
                                            listener.name, worker.logger());
    if (!hello) {
      worker.logger()->debug("sni: listener={} client={} sent no ClientHello in time",
                             listener.name, client.info.peer.to_string());
      co_return;
    }
    pool_name = &sni_pool(listener, hello->server_name);
    replay = std::move(hello->bytes);
  }
  const PoolConfig* pool = config.find_pool(*pool_name);
  if (!pool) co_return;  // the loader guarantees the pool exists
  RequestObservation obs{.start = std::chrono::steady_clock::now(), .kind = "tcp"};
  obs.pool = pool->name;
  auto& lstats = worker.stats().listener(listener.name);
  auto end = [&worker, &lstats, &listener, &client](const RequestObservation& o) {
    finish_request(worker, lstats, listener.name,
                   worker.access_log() ? client.info.peer.to_string() : std::string(), o);
  };
  StickyChoice sticky = choose_sticky(worker, *pool, client);
  const auto connect_start = std::chrono::steady_clock::now();
  auto upstream = co_await connect_with_retries(
      worker, *pool, config.timeouts.connect, client.info,
      PickContext{.hash = pick_hash(pool->balance, {.client = &client.info.peer.address}),
                  .prefer = sticky.prefer});
  if (!upstream) {
    end(obs);
    // No backend at all: close at once (the health manager logs the pool going down once).
    if (upstream.error() == UpstreamError::no_backend) co_return;
    worker.logger()->warn("tcp: listener={} client={} pool={} error={}", listener.name,
                          client.info.peer.to_string(), pool->name,
                          connect_error_text(upstream.error()));
    co_return;
  }
  note_connected(worker, lstats, *pool, sticky, *upstream, connect_start, obs);
  if (!replay.empty()) {
    // A fresh connection's send buffer takes a ClientHello at once; the deadline covers a
    // backend that accepted but does not read.
    SocketDeadline deadline(upstream->socket, config.timeouts.connect);
    lb::error_code ec;
    co_await lb::asio::async_write(upstream->socket, lb::asio::buffer(replay),
                                   redirect_error(lb::use_awaitable, ec));
    if (ec) {
      end(obs);
      worker.logger()->warn(
          "tcp: listener={} client={} server={} error=writing the ClientHello: {}", listener.name,
          client.info.peer.to_string(), upstream->lease.backend()->name,
          deadline.expired() ? "timeout" : ec.message());
      co_return;
    }
  }
  start_tcp_relay(worker, lstats, client, *upstream, *pool, std::move(obs), replay.size());
}

}  // namespace lbd::proxy
