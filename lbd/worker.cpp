#include "lbd/worker.hpp"

#include <algorithm>

#include <sys/socket.h>
#include <unistd.h>

#include "common/log.hpp"
#include "lbd/http/http_session.hpp"
#include "lbd/l4/tcp_session.hpp"
#include "lbd/session/deadline.hpp"
#include "lbd/session/proxy_header_reader.hpp"
#include "lbd/telemetry/access_log.hpp"
#include "lbd/upstream_conn/upstream_connect.hpp"
#include "lbd/upstream_conn/upstream_pool.hpp"

namespace lbd {

Worker::Worker(unsigned index, std::atomic<std::uint32_t>& global_active, repl::ConnTable& conns,
               const proxy::ReleasedVips& released_vips)
    : index_(index),
      global_active_(global_active),
      log_(lb::log::get("lbd.proxy")),
      conns_(conns),
      released_vips_(released_vips),
      work_(io_.get_executor()) {}

Worker::~Worker() {
  stop_and_join();
  extension_.reset();
  acceptors_.clear();
}

void Worker::start() {
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      log_->critical("worker: index={} stopped by an exception: {}", index_, e.what());
    }
  });
}

void Worker::stop_and_join() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void Worker::apply(ConfigPtr config, std::vector<PoolSnapshotPtr> pools, StickyTables sticky,
                   HealthManagers health, std::vector<AcceptorSpec> added,
                   std::vector<std::string> removed) {
  lb::asio::post(io_, [this, config = std::move(config), pools = std::move(pools),
                       sticky = std::move(sticky), health = std::move(health),
                       added = std::move(added), removed = std::move(removed)]() mutable {
    config_ = std::move(config);
    sticky_ = std::move(sticky);
    health_ = std::move(health);
    pools_.clear();
    for (auto& p : pools) install_pool(std::move(p));
    for (const auto& key : removed) {
      if (auto it = acceptors_.find(key); it != acceptors_.end()) {
        lb::error_code ignored;
        it->second->acceptor.close(ignored);
        acceptors_.erase(it);
      }
    }
    for (auto& spec : added) {
      if (draining_) {
        ::close(spec.fd);
      } else {
        add_acceptor(std::move(spec));
      }
    }
  });
}

void Worker::update_pool(PoolSnapshotPtr snapshot) {
  lb::asio::post(io_, [this, snapshot = std::move(snapshot)]() mutable {
    if (!config_ || !config_->find_pool(snapshot->pool_name)) return;
    install_pool(std::move(snapshot));
  });
}

void Worker::begin_drain() {
  lb::asio::post(io_, [this] {
    draining_ = true;
    for (auto& [key, a] : acceptors_) {
      lb::error_code ignored;
      a->acceptor.close(ignored);
    }
    acceptors_.clear();
  });
}

void Worker::set_access_log(std::shared_ptr<admin::AccessLog> log) {
  lb::asio::post(io_, [this, log = std::move(log)]() mutable { access_log_ = std::move(log); });
}

void Worker::close_sessions_on(const lb::IpAddress& address) {
  lb::asio::post(io_, [this, address] {
    const auto ended = clients_.shutdown_local(address);
    if (ended.empty()) return;
    const auto n = ended.size();
    counters_.sessions_closed_address_removed.fetch_add(n, std::memory_order_relaxed);
    log_->info("worker: address {} removed from the host: ended {} client session{} on it",
               address.to_string(), n, n == 1 ? "" : "s");
    keep_orphan_entries(ended);
  });
}

void Worker::keep_orphan_entries(const std::vector<lb::Endpoint>& clients) {
  // The sessions' connection-table entries go when they end, and the removals reach the peer,
  // which holds the VIP now and needs them for these clients' reconnections: copies stay for
  // kOrphanEntryLinger. A scan of the local table, on a rare event.
  std::vector<repl::ConnEntry> copies;
  conns_.for_each_local([&](const repl::ConnEntry& e) {
    if (std::ranges::find(clients, e.client) != clients.end()) copies.push_back(e);
  });
  std::vector<std::uint64_t> ids;
  for (const auto& e : copies) {
    if (const auto id =
            conns_.add_local(e.client, e.listener, e.pool, e.backend, e.start, e.mode)) {
      ids.push_back(id);
    }
  }
  if (ids.empty()) return;
  auto timer = std::make_shared<lb::asio::steady_timer>(io_, kOrphanEntryLinger);
  // Runs on expiry; a worker that stops first drops it (the process is ending).
  timer->async_wait([this, timer, ids = std::move(ids)](const lb::error_code&) {
    for (const auto id : ids) conns_.remove_local(id);
  });
}

void Worker::install_pool(PoolSnapshotPtr snapshot) {
  const PoolConfig* pool = config_->find_pool(snapshot->pool_name);
  if (!pool) return;
  PoolState state;
  state.balancer = make_balancer(pool->balance, snapshot, index_);
  state.snapshot = std::move(snapshot);
  if (!state.balancer) {
    log_->error("worker: pool={} algorithm={} is not available", pool->name,
                algorithm_name(pool->balance.algorithm));
    return;
  }
  // Idle keep-alive connections to a server that went out of service are closed now rather than
  // found dead at their next use (or left in CLOSE-WAIT once the server closes them). Draining
  // servers keep theirs: they still serve existing clients.
  const auto& snap = *state.snapshot;
  for (std::size_t i = 0; extension_slot() && i < snap.backends.size() && i < snap.states.size();
       ++i) {
    if (snap.states[i].serves_existing()) continue;
    if (const auto n = proxy::http_upstream_pool(*this).drop(snap.backends[i].get()); n > 0) {
      log_->info(
          "worker: pool={} server={}: closed {} idle upstream connection{} (out of "
          "service)",
          pool->name, snap.backends[i]->name, n, n == 1 ? "" : "s");
    }
  }
  pools_.insert_or_assign(pool->name, std::move(state));
}

void Worker::add_acceptor(AcceptorSpec spec) {
  auto acceptor = std::make_shared<Acceptor>(io_, spec.listener, std::move(spec.runtime));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(spec.fd, reinterpret_cast<sockaddr*>(&ss), &len);
  const auto protocol = ss.ss_family == AF_INET6 ? lb::tcp::v6() : lb::tcp::v4();
  lb::error_code ec;
  acceptor->acceptor.assign(protocol, spec.fd, ec);
  if (ec) {
    log_->error("worker: listener={} cannot adopt its socket: {}", spec.listener, ec.message());
    ::close(spec.fd);
    return;
  }
  acceptors_[spec.key] = acceptor;
  lb::asio::co_spawn(io_, accept_loop(acceptor), lb::log_exceptions(log_, "accept loop"));
}

lb::awaitable<void> Worker::accept_loop(std::shared_ptr<Acceptor> a) {
  lb::asio::steady_timer backoff(io_);
  for (;;) {
    lb::tcp::socket socket(io_);
    lb::tcp::endpoint peer;
    lb::error_code ec;
    co_await a->acceptor.async_accept(socket, peer, redirect_error(lb::use_awaitable, ec));
    if (!a->acceptor.is_open() || ec == lb::asio::error::operation_aborted) co_return;
    if (ec) {
      // EMFILE / ENFILE / ENOBUFS: back off briefly instead of spinning on the same error.
      log_->warn("accept: listener={} error={}", a->listener, ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(redirect_error(lb::use_awaitable, ec));
      continue;
    }
    counters_.accepted.fetch_add(1, std::memory_order_relaxed);
    stats_.listener(a->runtime->name).connections.add();
    lb::asio::co_spawn(io_, handle_client(std::move(socket), peer, a->runtime),
                       lb::log_exceptions(log_, "session"));
  }
}

lb::awaitable<void> Worker::handle_client(lb::tcp::socket socket, lb::tcp::endpoint peer,
                                          std::shared_ptr<proxy::ListenerRuntime> runtime) {
  ConfigPtr config = config_;
  const ListenerConfig* listener = nullptr;
  for (const auto& l : config->listeners) {
    if (l.name == runtime->name) listener = &l;
  }
  if (!listener) co_return;  // removed by a reload while the connection was in the backlog

  // Limits: count first, then check, so concurrent workers cannot overshoot together.
  const auto global_before = global_active_.fetch_add(1, std::memory_order_relaxed);
  const auto listener_before = runtime->active.fetch_add(1, std::memory_order_relaxed);
  proxy::ConnectionTicket ticket(&global_active_, runtime);
  if (global_before >= config->limits.max_connections ||
      (listener->max_connections != 0 && listener_before >= listener->max_connections)) {
    counters_.refused_limit.fetch_add(1, std::memory_order_relaxed);
    log_->debug("accept: listener={} refused: connection limit", listener->name);
    co_return;
  }

  lb::error_code ec;  // TCP_NODELAY comes from the listener (listen_socket.cpp)
  proxy::ClientInfo info;
  info.listener = listener;
  info.peer = proxy::from_asio(peer);
  // Registered by its own address so that a removal of that address (the VIP moving to the other
  // node) ends the session at once (close_sessions_on).
  const auto own = proxy::from_asio(socket.local_endpoint(ec));
  if (ec) co_return;  // already gone
  ticket.track(&clients_, clients_.add(socket.native_handle(), own, info.peer));
  // The local address goes into PROXY headers sent to backends only when a pool sends them (a
  // PROXY header received sets it below).
  if (std::ranges::any_of(config->pools, [](const PoolConfig& p) {
        return p.send_proxy_protocol != ProxyProtocolSend::off;
      })) {
    info.local = own;
  }
  if (listener->accept_proxy_protocol &&
      !listener->expects_proxy_header(info.peer.address.unmapped())) {
    // Not a trusted proxy: served as a plain connection, its own address kept (a PROXY header
    // it sends is data, never read as one).
    counters_.proxy_header_untrusted.fetch_add(1, std::memory_order_relaxed);
  } else if (listener->accept_proxy_protocol) {
    auto header = co_await proxy::read_proxy_header(socket, config->timeouts.request_header);
    if (!header) {
      counters_.proxy_header_errors.fetch_add(1, std::memory_order_relaxed);
      log_->info("proxy-protocol: listener={} client={} error={}", listener->name,
                 info.peer.to_string(), header.error());
      co_return;
    }
    if (header->source) info.peer = *header->source;
    if (header->destination) info.local = *header->destination;
  }

  proxy::ClientConnection client{std::move(socket), info, std::move(config), std::move(ticket)};
  if (listener->mode == ListenerMode::http && listener->tls) {
    co_await proxy::serve_https(*this, std::move(client));
  } else if (listener->mode == ListenerMode::http) {
    co_await proxy::serve_http(*this, std::move(client));
  } else {
    co_await proxy::serve_tcp(*this, std::move(client));
  }
}

const Backend* Worker::pick(std::string_view pool, const PickContext& ctx) {
  auto it = pools_.find(pool);
  if (it == pools_.end()) return nullptr;
  // The session resolved `prefer` against a snapshot of this pool; it must still be current
  // (a health update between the lookup and the pick may have dropped the backend).
  if (ctx.prefer && ctx.prefer != ctx.avoid && it->second.snapshot->accepts_sticky(ctx.prefer)) {
    return ctx.prefer;
  }
  return it->second.balancer->pick(ctx);
}

void Worker::report(std::string_view pool, const Backend& backend, TrafficEvent event) {
  // Every session reports each use of a server here: the per-server counters come for free.
  auto& c = stats_.backend(pool, backend.name);
  switch (event) {
    case TrafficEvent::success:
      c.requests.add();
      break;
    case TrafficEvent::http_5xx:
      c.requests.add();
      c.responses_5xx.add();
      break;
    case TrafficEvent::connect_failure:
      c.connect_failures.add();
      break;
    case TrafficEvent::timeout:
      c.timeouts.add();
      break;
  }
  if (auto it = health_.find(pool); it != health_.end()) it->second->report(backend, event);
}

std::shared_ptr<StickyTable> Worker::sticky_table(std::string_view pool) const {
  auto it = sticky_.find(pool);
  return it == sticky_.end() ? nullptr : it->second;
}

PoolSnapshotPtr Worker::pool_snapshot(std::string_view pool) const {
  auto it = pools_.find(pool);
  return it == pools_.end() ? nullptr : it->second.snapshot;
}

lb::awaitable<std::expected<proxy::UpstreamConnection, proxy::UpstreamError>>
Worker::connect_upstream(std::string_view pool, const proxy::ClientInfo& client, PickContext ctx) {
  // Keep the config alive across the suspension points of the connect.
  ConfigPtr config = config_;
  const PoolConfig* p = config->find_pool(pool);
  if (!p) co_return std::unexpected(proxy::UpstreamError::no_backend);
  co_return co_await proxy::connect_with_retries(*this, *p, config->timeouts.connect, client, ctx);
}

}  // namespace lbd
