#include "lbd/upstream_conn/upstream_connect.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "lbd/balance/least_time.hpp"
#include "lbd/session/deadline.hpp"
#include "lbd/session/proxy_protocol.hpp"
#include "lbd/tls/upstream_tls_context.hpp"
#include "lbd/upstream_conn/upstream_tls.hpp"

namespace lbd::proxy {

namespace {

/// connect(2) on a non-blocking socket, a wait for writability, then SO_ERROR. Asio's
/// async_connect does the same plus a poll(2) per connect before reading SO_ERROR.
lb::awaitable<void> connect_nonblocking(lb::tcp::socket& socket, const lb::tcp::endpoint& target,
                                        lb::error_code& ec) {
  const int fd = socket.native_handle();
  if (::connect(fd, target.data(), static_cast<socklen_t>(target.size())) == 0) co_return;
  if (errno != EINPROGRESS) {
    ec = lb::error_code(errno, boost::system::system_category());
    co_return;
  }
  // The deadline cancels this wait (operation_aborted) when the connect takes too long.
  co_await socket.async_wait(lb::tcp::socket::wait_write, redirect_error(lb::use_awaitable, ec));
  if (ec) co_return;
  int error = 0;
  socklen_t len = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0) error = errno;
  if (error != 0) ec = lb::error_code(error, boost::system::system_category());
}

}  // namespace

lb::awaitable<std::expected<UpstreamConnection, UpstreamError>> connect_with_retries(
    WorkerContext& worker, const PoolConfig& pool, std::chrono::nanoseconds connect_timeout,
    const ClientInfo& client, PickContext ctx) {
  auto snapshot = worker.pool_snapshot(pool.name);
  if (!snapshot) co_return std::unexpected(UpstreamError::no_backend);
  UpstreamError last = UpstreamError::no_backend;
  const unsigned attempts = 1 + pool.connect_retries;
  for (unsigned attempt = 0; attempt < attempts; ++attempt) {
    const Backend* backend = worker.pick(pool.name, ctx);
    if (!backend) break;
    if (backend->max_connections != 0 &&
        backend->active.load(std::memory_order_relaxed) >= backend->max_connections) {
      ctx.avoid = backend;
      continue;  // full: counts as an attempt so that a full pool ends in 503 quickly
    }
    BackendLease lease(backend, snapshot);
    lb::tcp::socket socket(worker.io());
    lb::error_code ec;
    bool expired = false;
    const auto started = std::chrono::steady_clock::now();
    const auto target = to_asio(backend->address);
    // Non-blocking before the connect: Asio would otherwise set its internal non-blocking mode
    // for the connect and the relay the user mode again, two ioctl(FIONBIO) instead of one.
    socket.open(target.protocol(), ec);
    if (!ec) socket.non_blocking(true, ec);
    if (!ec) {
      SocketDeadline deadline(socket, connect_timeout);
      co_await connect_nonblocking(socket, target, ec);
      expired = deadline.expired();
    }
    if (!ec && pool.balance.algorithm == Algorithm::least_time) {
      // L4 sees no responses: the connect time is its latency sample.
      const auto now = std::chrono::steady_clock::now();
      record_latency(*backend, now - started, now, pool.balance.least_time_decay);
    }
    if (!ec) {
      socket.set_option(lb::tcp::no_delay(true), ec);
      ec = {};
      if (pool.send_proxy_protocol != ProxyProtocolSend::off) {
        const std::string header = pool.send_proxy_protocol == ProxyProtocolSend::v1
                                       ? encode_proxy_v1(client.peer, client.local)
                                       : encode_proxy_v2(client.peer, client.local);
        // A fresh socket's send buffer takes these few bytes at once; a short write is an error.
        const auto n = socket.write_some(lb::asio::buffer(header), ec);
        if (!ec && n != header.size()) ec = lb::asio::error::message_size;
      }
      if (!ec && !pool.tls) co_return UpstreamConnection{std::move(socket), std::move(lease)};
      if (!ec) {
        // [pool.tls]: the handshake gets its own connect timeout; a failure is a failed
        // connect (another server is tried).
        UpstreamConnection conn{std::move(socket), std::move(lease)};
        auto failed =
            co_await start_upstream_tls(conn, pool.tls->context, backend->address, connect_timeout,
                                        pool.protocol == UpstreamProtocol::h2);
        if (!failed) co_return conn;
        worker.counters().connect_failures.fetch_add(1, std::memory_order_relaxed);
        worker.report(pool.name, *backend, TrafficEvent::connect_failure);
        last = UpstreamError::connect_failed;
        worker.logger()->warn(
            "tls: upstream handshake failed pool={} server={} address={} "
            "reason={}",
            pool.name, backend->name, backend->address.to_string(), *failed);
        ctx.avoid = backend;
        continue;
      }
    }
    worker.counters().connect_failures.fetch_add(1, std::memory_order_relaxed);
    worker.report(pool.name, *backend,
                  expired ? TrafficEvent::timeout : TrafficEvent::connect_failure);
    last = expired ? UpstreamError::timeout : UpstreamError::connect_failed;
    worker.logger()->debug("connect: pool={} server={} address={} error={}", pool.name,
                           backend->name, backend->address.to_string(),
                           expired ? "timeout" : ec.message());
    ctx.avoid = backend;
  }
  worker.counters().upstream_errors.fetch_add(1, std::memory_order_relaxed);
  co_return std::unexpected(last);
}

}  // namespace lbd::proxy
