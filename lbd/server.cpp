#include "lbd/server.hpp"

#include <csignal>
#include <future>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "common/control/protocol.hpp"
#include "common/log.hpp"
#include "common/sd_notify.hpp"
#include "common/signals.hpp"
#include "lbd/admin/control_handler.hpp"
#include "lbd/admin/status_collector.hpp"
#include "lbd/session/address_events.hpp"
#include "lbd/session/listen_socket.hpp"

namespace lbd {
namespace {

std::string group_key(const std::string& listener, const lb::Endpoint& bind) {
  return listener + " " + bind.to_string();
}

ConfigPtr load(const std::string& path, std::vector<std::string>& errors) {
  lb::config::Diagnostics diags;
  auto config = std::make_shared<Config>(load_config(path, diags));
  for (const auto& d : diags.items()) errors.push_back(d.to_string());
  if (!diags.empty()) return nullptr;
  return config;
}

}  // namespace

Server::Server(std::string config_path)
    : config_path_(std::move(config_path)),
      work_(control_.get_executor()),
      log_(lb::log::get("lbd")) {}

std::unique_ptr<Server> Server::create(const std::string& config_path,
                                       std::vector<std::string>& errors) {
  auto config = load(config_path, errors);
  if (!config) return nullptr;
  std::unique_ptr<Server> server(new Server(config_path));
  unsigned n = config->global.workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    server->workers_.push_back(
        std::make_unique<Worker>(i, server->active_, server->conns_, server->released_vips_));
  }
  server->registry_.set_sink([s = server.get()](const PoolSnapshotPtr& snapshot) {
    for (auto& w : s->workers_) w->update_pool(snapshot);
  });
  if (!server->apply(config, errors)) return nullptr;
  if (!server->start_replication(errors)) return nullptr;
  if (const auto& path = server->config_->global.control_socket; !path.empty()) {
    auto control = lb::control::Server::start(
        server->control_, path,
        [s = server.get()](const nlohmann::json& request) { return admin::handle(*s, request); });
    if (!control) {
      errors.push_back(control.error().message);
      return nullptr;
    }
    server->control_socket_ = std::move(*control);
  }
  for (auto& w : server->workers_) w->start();
  server->schedule_sticky_expiry();
  server->schedule_readiness();
  server->address_watch_ = proxy::AddressWatch::start(
      server->control_, [s = server.get()](const lb::IpAddress& address) {
        s->log_->info("address watch: {} removed from the host: ending the sessions on it",
                      address.to_string());
        for (auto& w : s->workers_) w->close_sessions_on(address);
      });
  server->tls_signature_ = server->tls_files_signature();
  server->schedule_tls_watch();
  return server;
}

Server::~Server() {
  address_watch_.reset();
  stop_forward();
  control_socket_.reset();
  for (auto& w : workers_) w->stop_and_join();
  // Managers are deleted by handlers posted to the control io_context: run those now.
  for (auto& [name, m] : health_) m->stop();
  health_.clear();
  agents_.clear();
  workers_.clear();
  if (admin_) admin_->stop();  // its coroutines end in the poll below
  control_.restart();
  control_.poll();
}

std::map<std::string, Server::BindGroup> Server::open_bind_groups(
    const Config& config, ListenGroups& opened, std::vector<std::string>& errors) {
  const unsigned n = static_cast<unsigned>(workers_.size());
  std::map<std::string, BindGroup> next;
  for (const auto& l : config.listeners) {
    if (l.mode == ListenerMode::forward) continue;  // the kernel serves it: no socket
    for (const auto& b : l.binds) {
      const auto key = group_key(l.name, b);
      if (next.contains(key)) continue;
      if (auto it = groups_.find(key); it != groups_.end()) {
        next[key] = it->second;
        continue;
      }
      auto sockets = proxy::open_listen_group(b, n);
      if (!sockets) {
        errors.push_back(fmt::format("listener \"{}\": {}", l.name, sockets.error().message));
        continue;
      }
      auto bound = proxy::local_endpoint(sockets->front().fd());
      next[key] = BindGroup{l.name, b, bound ? *bound : b};
      opened[key] = std::move(*sockets);
    }
  }
  return next;
}

void Server::on_pool_snapshot(PoolSnapshotPtr snapshot) {
  if (first_snapshots_) {
    (*first_snapshots_)[snapshot->pool_name] = std::move(snapshot);
    return;
  }
  for (auto& w : workers_) w->update_pool(snapshot);
  if (forward_) {
    if (auto r = forward_->on_snapshot(snapshot); !r) {
      log_->error("forward: pool={} {}", snapshot->pool_name, r.error().message);
    }
    reset_forward_flows();
  }
}

HealthManagers Server::make_health_managers(const Config& config, Agents& agents) {
  // One manager per pool, inheriting the up/down state of the previous one. Managers are
  // destroyed on the control thread only (their timers live there), whoever drops the last
  // reference: workers keep theirs until their next apply.
  HealthManagers health;
  for (const auto& pool : config.pools) {
    auto backends = make_backends(pool);
    if (pool.balance.algorithm == Algorithm::agent) {
      agents[pool.name] =
          std::make_unique<AgentPoller>(control_.get_executor(), backends, pool.balance.agent);
    }
    auto* raw = new HealthManager(
        control_, pool, std::move(backends),
        [this](PoolSnapshotPtr snapshot) { on_pool_snapshot(std::move(snapshot)); });
    std::shared_ptr<HealthManager> manager(
        raw, [io = &control_](HealthManager* m) { lb::asio::post(*io, [m] { delete m; }); });
    if (auto it = health_.find(pool.name); it != health_.end()) manager->inherit(*it->second);
    health[pool.name] = std::move(manager);
  }
  return health;
}

void Server::start_health(const Config& config, const HealthManagers& health,
                          std::vector<PoolSnapshotPtr>& pools) {
  // Start the managers now and hand their first snapshots to the workers together with the
  // config, so that no request is balanced over a snapshot without health state in between.
  for (auto& [name, m] : health_) {
    m->stop();
    auto& retired = retired_health_[name];
    retired.first += m->flips();
    retired.second += m->ejections();
  }
  std::map<std::string, PoolSnapshotPtr> first;
  first_snapshots_ = &first;
  for (auto& [name, m] : health) m->start();
  apply_overrides(config, health);
  first_snapshots_ = nullptr;
  for (auto& p : pools) {
    if (auto it = first.find(p->pool_name); it != first.end()) p = it->second;
  }
  health_ = health;
}

void Server::replace_agents(Agents agents) {
  // The new pollers take over the last reports of the servers they share by name.
  for (auto& [name, a] : agents_) a->stop();
  for (auto& [name, a] : agents) {
    if (auto it = agents_.find(name); it != agents_.end()) a->inherit(*it->second);
    a->start();
  }
  agents_ = std::move(agents);
}

void Server::publish_listeners(const Config& config, std::map<std::string, BindGroup> groups,
                               ListenerRuntimes runtimes) {
  std::lock_guard lock(groups_mutex_);
  groups_ = std::move(groups);
  runtimes_ = std::move(runtimes);  // under the lock: tls_handshake_errors() reads it
  upstream_tls_.clear();
  for (const auto& p : config.pools) {
    if (p.tls) upstream_tls_[p.name] = p.tls->context;
  }
}

bool Server::apply(ConfigPtr config, std::vector<std::string>& errors) {
  // Bind every new address first: a failure leaves the running state untouched.
  ListenGroups opened;
  auto next = open_bind_groups(*config, opened, errors);
  if (!errors.empty()) return false;
  if (!apply_operations(*config, errors)) return false;

  std::vector<std::string> removed;
  for (const auto& [key, g] : groups_) {
    if (!next.contains(key)) removed.push_back(key);
  }
  ListenerRuntimes runtimes;
  for (const auto& l : config->listeners) {
    auto it = runtimes_.find(l.name);
    runtimes[l.name] =
        it != runtimes_.end() ? it->second : std::make_shared<proxy::ListenerRuntime>(l.name);
  }
  auto pools = registry_.rebuild(*config);
  auto sticky = sticky_.rebuild(*config);
  Agents agents;
  HealthManagers health = make_health_managers(*config, agents);
  start_health(*config, health, pools);
  apply_forward(config, pools, errors);
  if (!config_ && !errors.empty()) return false;  // at start: refuse to run without the table
  replace_agents(std::move(agents));
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    std::vector<AcceptorSpec> added;
    for (auto& [key, sockets] : opened) {
      const auto& g = next[key];
      added.push_back(AcceptorSpec{key, g.listener, sockets[i].release(), runtimes[g.listener]});
    }
    workers_[i]->apply(config, pools, sticky, health, std::move(added), removed);
  }
  publish_listeners(*config, std::move(next), std::move(runtimes));
  if (replicator_) {
    if (config->replication != config_->replication) {
      log_->warn("reload: [replication] changes take effect on restart; keeping the running one");
    }
    sync_replicated_tables(sticky);
  }
  config_ = std::move(config);
  if (auto level = lb::log::parse_level(config_->global.log_level)) lb::log::init(*level);
  return true;
}

void Server::request_reload() {
  lb::asio::post(control_, [this] { reload(); });
}

void Server::request_shutdown() {
  lb::asio::post(control_, [this] { shutdown(); });
}

void Server::reload() {
  std::vector<std::string> errors;
  reload_now(errors);
}

bool Server::reload_now(std::vector<std::string>& errors) {
  if (draining_) {
    errors.push_back("shutting down");
    return false;
  }
  // systemd (Type=notify) waits for READY=1 after RELOADING=1, whatever the outcome.
  lb::sd_notify("RELOADING=1");
  struct ReadyAgain {
    ~ReadyAgain() { lb::sd_notify("READY=1"); }
  } ready_again;
  auto config = load(config_path_, errors);
  struct RememberFiles {  // whatever the outcome: a broken file is retried when it changes again
    Server* self;
    ~RememberFiles() { self->tls_signature_ = self->tls_files_signature(); }
  } remember{this};
  if (config) {
    const unsigned wanted = config->global.workers;
    if (wanted != 0 && wanted != workers_.size()) {
      log_->warn("reload: workers={} needs a restart; keeping workers={}", wanted, workers_.size());
    }
    if (config->global.control_socket != config_->global.control_socket) {
      log_->warn("reload: control_socket changes take effect on restart; keeping {}",
                 config_->global.control_socket.empty() ? "none" : config_->global.control_socket);
    }
    if (apply(config, errors)) {
      ++reloads_ok_;
      log_->info("reload: ok config={} {}", config_path_, describe());
      return true;
    }
  }
  ++reloads_failed_;
  for (const auto& e : errors) log_->error("reload: {}", e);
  log_->error("reload: {} error(s); keeping the running configuration", errors.size());
  return false;
}

void Server::shutdown() {
  if (draining_) return;
  draining_ = true;
  lb::sd_notify("STOPPING=1");
  drain_deadline_ = std::chrono::steady_clock::now() + config_->global.drain_timeout;
  log_->info(
      "shutdown: draining connections={} timeout={}ms", active_.load(),
      std::chrono::duration_cast<std::chrono::milliseconds>(config_->global.drain_timeout).count());
  for (auto& w : workers_) w->begin_drain();
  poll_drain();
}

void Server::poll_drain() {
  const auto left = active_.load();
  const auto now = std::chrono::steady_clock::now();
  if (left == 0 || now >= drain_deadline_) {
    if (left != 0) log_->warn("shutdown: drain timeout; closing connections={}", left);
    for (auto& w : workers_) w->stop_and_join();
    for (auto& [name, m] : health_) m->stop();
    for (auto& [name, a] : agents_) a->stop();
    if (replicator_) replicator_->stop();
    stop_forward();
    if (admin_) admin_->stop();
    // The control socket answers until here: vrrpd's tracking sees "stopping" while we drain.
    if (control_socket_) control_socket_->stop();
    log_->info("shutdown: done");
    work_.reset();
    control_.stop();
    return;
  }
  drain_timer_.expires_after(std::chrono::milliseconds(20));
  drain_timer_.async_wait([this](const lb::error_code& ec) {
    if (!ec) poll_drain();
  });
}

bool Server::start_replication(std::vector<std::string>& errors) {
  if (!config_->replication) return true;
  replicator_ = std::make_unique<repl::Replicator>(control_, *config_->replication);
  replicator_->set_conn_table(&conns_);
  if (ct_stream_) replicator_->set_ct_table(ct_stream_.get());
  sync_replicated_tables(sticky_.tables());
  if (auto started = replicator_->start(); !started) {
    errors.push_back(fmt::format("replication: {}", started.error().message));
    replicator_.reset();
    return false;
  }
  return true;
}

void Server::sync_replicated_tables(const StickyTables& tables) {
  for (auto it = replicated_.begin(); it != replicated_.end();) {
    const auto now = tables.find(it->first);
    if (now == tables.end() || now->second != it->second) {
      replicator_->remove_table(it->first);
      it = replicated_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [name, table] : tables) {
    if (replicated_.emplace(name, table).second) replicator_->add_table(*table);
  }
}

void Server::apply_overrides(const Config& config, const HealthManagers& managers) {
  for (const auto& line : overrides_.reconcile(config)) {
    log_->info("runtime override dropped: {}", line);
  }
  for (const auto& pool : config.pools) {
    auto m = managers.find(pool.name);
    if (m == managers.end()) continue;
    for (const auto& [server, o] : overrides_.of_pool(pool.name)) {
      // The override was made by name on a server that is still configured (reconcile checked).
      if (o.admin) (void)m->second->set_admin_state(server, *o.admin);
      if (o.weight) (void)m->second->set_weight(server, *o.weight);
    }
  }
}

std::optional<std::vector<admin::PoolView>> Server::pool_views(std::optional<std::string> pool) {
  std::vector<admin::PoolView> out;
  const auto now = lb::SteadyClock::instance().now();
  for (const auto& p : config_->pools) {
    if (pool && p.name != *pool) continue;
    auto m = health_.find(p.name);
    if (m == health_.end()) continue;
    out.push_back(admin::collect_pool(p, *m->second, overrides_, now));
  }
  if (pool && out.empty()) return std::nullopt;
  return out;
}

namespace {

const ServerConfig* find_server(const Config& config, const std::string& pool,
                                const std::string& server, std::string& error) {
  const auto* p = config.find_pool(pool);
  if (p == nullptr) {
    error = fmt::format("no pool {}", pool);
    return nullptr;
  }
  for (const auto& s : p->servers) {
    if (s.name == server) return &s;
  }
  error = fmt::format("no server {}/{} in pool {}", pool, server, pool);
  return nullptr;
}

}  // namespace

lb::Result<void> Server::set_server_admin(const std::string& pool, const std::string& server,
                                          AdminState state) {
  std::string error;
  const auto* s = find_server(*config_, pool, server, error);
  if (s == nullptr) return lb::fail(error);
  auto m = health_.find(pool);
  if (m == health_.end()) return lb::fail(fmt::format("no pool {}", pool));
  if (auto r = m->second->set_admin_state(server, state); !r) return r;
  overrides_.set_admin(pool, server, state, s->health.state);
  return {};
}

lb::Result<void> Server::set_server_weight(const std::string& pool, const std::string& server,
                                           std::uint32_t weight) {
  std::string error;
  const auto* s = find_server(*config_, pool, server, error);
  if (s == nullptr) return lb::fail(error);
  auto m = health_.find(pool);
  if (m == health_.end()) return lb::fail(fmt::format("no pool {}", pool));
  if (auto r = m->second->set_weight(server, weight); !r) return r;
  overrides_.set_weight(pool, server, weight, s->weight);
  return {};
}

void Server::on_vrrp_state(admin::VridRole role) {
  log_->info("vrrp: instance={} vrid={} interface={} from={} to={} reason=\"{}\"", role.instance,
             role.vrid, role.interface, role.from, role.state, role.reason);
  if (role.from == "fault" && role.state != "fault") {
    // Back from a fault (link down, tracking failed): the health states are what the checks saw
    // while this node could reach nothing. Until a fresh round settles them lbd is not ready, so
    // vrrpd's preempt gate keeps the peer, whose states are current, as master.
    for (const auto& [name, m] : health_) m->start_round();
  }
  const bool changed = roles_.update(std::move(role));
  released_vips_.set(roles_.released_vips());
  if (!changed) return;
  const auto node = roles_.node_role();
  log_->info("role: node={} (master when master of any vrid)", repl::role_name(node));
  if (replicator_) replicator_->on_role(node);
  if (ct_stream_) ct_stream_->on_role(node == repl::Role::master, node == repl::Role::backup);
}

admin::NodeStatus Server::collect_status() {
  admin::NodeStatus st;
  st.version = LBPAIR_VERSION;
  if (auto pools = pool_views()) st.pools = std::move(*pools);
  st.replication = replication_status();
  st.roles = roles_.view();
  st.health = admin::assess_health(st.pools, draining_);
  st.active_connections = active_.load();
  st.reloads_ok = reloads_ok_.load();
  st.reloads_failed = reloads_failed_.load();
  return st;
}

admin::NodeStatus Server::node_status() {
  if (control_.get_executor().running_in_this_thread()) return collect_status();
  auto promise = std::make_shared<std::promise<admin::NodeStatus>>();
  auto future = promise->get_future();
  lb::asio::post(control_, [this, promise] { promise->set_value(collect_status()); });
  if (future.wait_for(std::chrono::seconds(2)) != std::future_status::ready) {
    admin::NodeStatus st;
    st.version = LBPAIR_VERSION;
    st.health.status = "unknown";
    st.health.reasons.push_back("control thread did not answer within 2s");
    return st;
  }
  return future.get();
}

std::string Server::control_socket_path() const {
  return control_socket_ ? control_socket_->path() : std::string();
}

std::optional<repl::ReplicationStatus> Server::replication_status() const {
  if (!replicator_) return std::nullopt;
  return replicator_->status();
}

int Server::run(bool handle_signals) {
  std::unique_ptr<lb::SignalHandler> signals;
  if (handle_signals) {
    signals = std::make_unique<lb::SignalHandler>(
        control_, [this] { reload(); },
        [this](int sig) {
          log_->info("signal: {} received", sig == SIGINT ? "SIGINT" : "SIGTERM");
          shutdown();
        });
    signals->on_user1([this] {
      log_->info("signal: SIGUSR1 received; reopening the access log");
      reopen_logs();
    });
    lb::unblock_daemon_signals();  // main() blocked them until this handler existed
    lb::sd_notify("READY=1");      // listening, and signals are handled: systemd may go on
  }
  control_.run();
  if (signals) signals->stop();
  return 0;
}

std::vector<lb::Endpoint> Server::bound(const std::string& listener) const {
  std::lock_guard lock(groups_mutex_);
  std::vector<lb::Endpoint> out;
  for (const auto& [key, g] : groups_) {
    if (g.listener == listener) out.push_back(g.bound);
  }
  return out;
}

std::map<std::string, std::uint64_t> Server::tls_handshake_errors(
    const std::string& listener) const {
  std::lock_guard lock(groups_mutex_);
  auto it = runtimes_.find(listener);
  return it == runtimes_.end() ? std::map<std::string, std::uint64_t>{} : it->second->tls_errors();
}

std::shared_ptr<const proxy::UpstreamTlsContext> Server::upstream_tls(
    const std::string& pool) const {
  std::lock_guard lock(groups_mutex_);
  auto it = upstream_tls_.find(pool);
  return it == upstream_tls_.end() ? nullptr : it->second;
}

std::string Server::describe() const {
  std::string out = fmt::format("workers={} listeners=", workers_.size());
  std::lock_guard lock(groups_mutex_);
  bool first = true;
  for (const auto& l : config_->listeners) {
    if (l.mode == ListenerMode::forward) {
      for (const auto& b : l.binds) {
        out += fmt::format("{}{}={}/forward", first ? "" : ",", l.name, b.to_string());
        first = false;
      }
    }
    for (const auto& [key, g] : groups_) {
      if (g.listener != l.name) continue;
      out += fmt::format("{}{}={}/{}", first ? "" : ",", l.name, g.bound.to_string(),
                         listener_mode_name(l.mode));
      first = false;
    }
  }
  return out;
}

}  // namespace lbd
