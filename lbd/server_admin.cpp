// The Server's operations side: applying [admin] and [access_log], gathering the view that
// /metrics and the status page show, and reopening the access log on SIGUSR1.
#include <unistd.h>

#include <fmt/format.h>

#include "lbd/server.hpp"
#include "lbd/tls/upstream_tls_context.hpp"

namespace lbd {

bool Server::apply_operations(const Config& config, std::vector<std::string>& errors) {
  // Access log: a new writer only when its section changed (the running one keeps its file).
  std::shared_ptr<admin::AccessLog> log;
  {
    std::lock_guard lock(groups_mutex_);
    log = access_log_;
  }
  const AccessLogConfig running = log ? log->config() : AccessLogConfig{};
  const bool log_changed = config.access_log != running;
  if (log_changed) {
    log.reset();
    if (config.access_log.enabled()) {
      auto opened = admin::AccessLog::open(config.access_log);
      if (!opened) {
        errors.push_back(opened.error().message);
        return false;
      }
      log = std::move(*opened);
    }
  }
  // Admin listener: restarted when its section changed.
  const std::optional<AdminConfig> running_admin =
      admin_ ? std::optional<AdminConfig>(admin_->config()) : std::nullopt;
  if (config.admin != running_admin) {
    if (admin_) admin_->stop();
    admin_.reset();
    std::optional<lb::Endpoint> bound;
    if (config.admin) {
      auto started =
          admin::AdminServer::start(control_, *config.admin, [this] { return admin_view(); });
      if (!started) {
        errors.push_back(started.error().message);
        std::lock_guard lock(groups_mutex_);
        admin_bound_.reset();
        return false;
      }
      admin_ = std::move(*started);
      bound = admin_->bound();
      log_->info("admin: listening on {} (/metrics, /status, /status.json)", bound->to_string());
    }
    std::lock_guard lock(groups_mutex_);
    admin_bound_ = bound;
  }
  if (log_changed) {
    for (auto& w : workers_) w->set_access_log(log);
    std::lock_guard lock(groups_mutex_);
    access_log_ = std::move(log);
  }
  return true;
}

std::optional<lb::Endpoint> Server::admin_endpoint() const {
  std::lock_guard lock(groups_mutex_);
  return admin_bound_;
}

std::shared_ptr<admin::AccessLog> Server::access_log() const {
  std::lock_guard lock(groups_mutex_);
  return access_log_;
}

void Server::reopen_logs() {
  if (auto log = access_log()) log->reopen();
}

std::optional<admin::ForwardView> Server::make_forward_view(bool with_ruleset) {
  if (!forward_) return std::nullopt;
  admin::ForwardView v;
  for (const auto& s : forward_->services()) {
    admin::ForwardServiceView sv;
    sv.listener = s.listener;
    for (const auto& vip : s.vips) sv.vips.push_back(vip.to_string());
    sv.selector = forward::selector_name(s.selector);
    sv.slots = s.slots;
    for (const auto& t : s.targets) ++sv.slots_per_backend[t.to_string()];
    sv.snat = s.snat ? s.snat->to_string() : std::string();
    sv.on_server_down = "keep";
    for (const auto& l : config_->listeners) {
      if (l.name == s.listener && l.forward.on_server_down == forward::OnServerDown::reset) {
        sv.on_server_down = "reset";
      }
    }
    v.services.push_back(std::move(sv));
  }
  const auto& c = forward_->counters();
  v.transactions_ok = c.transactions_ok.load(std::memory_order_relaxed);
  v.transactions_failed = c.transactions_failed.load(std::memory_order_relaxed);
  v.map_updates = c.map_updates.load(std::memory_order_relaxed);
  if (with_ruleset) {
    auto listed = forward_->list();
    v.ruleset = listed ? *listed : "error: " + listed.error().message;
  }
  if (ct_stream_) {
    const auto s = ct_stream_->view();
    v.conntrack = true;
    v.flows = s.flows;
    v.remote_flows = s.remote_flows;
    v.flows_per_backend = s.flows_per_backend;
    v.events = s.events;
    v.overflows = s.overflows;
    v.reconciles = s.reconciles;
    v.journaled = s.journaled;
    v.committed = s.committed;
    v.failed = s.failed;
    v.erased = s.erased;
    v.ignored = s.ignored;
    v.resets = s.resets;
    v.since_reconcile_s = s.since_reconcile_s;
    v.since_received_s = s.since_received_s;
  }
  return v;
}

admin::AdminView Server::admin_view() {
  admin::AdminView v;
  v.forward = make_forward_view(false);
  // The control socket's model (pools, replication, the roles vrrpd reported, health), so that
  // /status.json and `show status` say the same things the same way.
  v.status = collect_status();
  v.workers = worker_count();
  v.uptime_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  if (v.status.replication) {
    v.node_id = v.status.replication->node_id;
  } else {
    char host[256] = {};
    ::gethostname(host, sizeof host - 1);
    v.node_id = host;
  }
  {
    std::lock_guard lock(groups_mutex_);
    for (const auto& l : config_->listeners) {
      admin::ListenerView lv{.name = l.name, .mode = listener_mode_name(l.mode)};
      for (const auto& [key, g] : groups_) {
        if (g.listener == l.name) lv.binds.push_back(g.bound.to_string());
      }
      if (auto it = runtimes_.find(l.name); it != runtimes_.end()) {
        lv.active = it->second->active.load(std::memory_order_relaxed);
        lv.tls_handshake_errors = it->second->tls_errors();
      }
      v.listeners.push_back(std::move(lv));
    }
    for (const auto& [pool, ctx] : upstream_tls_) {
      v.upstream_tls[pool] = admin::UpstreamTlsView{.full = ctx->full_handshakes(),
                                                    .resumed = ctx->resumed_handshakes(),
                                                    .errors = ctx->handshake_errors()};
    }
    if (access_log_) {
      v.access_log_on = true;
      v.access_log_written = access_log_->written();
      v.access_log_dropped = access_log_->dropped();
      v.access_log_errors = access_log_->write_errors();
    }
  }
  for (const auto& pool : config_->pools) {
    auto& h = v.pool_health[pool.name];
    if (auto r = retired_health_.find(pool.name); r != retired_health_.end()) {
      h.flips = r->second.first;
      h.ejections = r->second.second;
    }
    if (auto m = health_.find(pool.name); m != health_.end()) {
      h.flips += m->second->flips();
      h.ejections += m->second->ejections();
    }
  }
  for (const auto& [pool, table] : sticky_.tables()) v.stick_tables[pool] = table->counters();
  std::vector<const admin::WorkerStats*> stats;
  for (const auto& w : workers_) stats.push_back(&w->stats_for_scrape());
  v.totals = admin::aggregate(stats);
  for (const auto& w : workers_) {
    const auto& c = w->counters();
    const auto get = [](const std::atomic<std::uint64_t>& x) {
      return x.load(std::memory_order_relaxed);
    };
    v.events.refused_limit += get(c.refused_limit);
    v.events.proxy_header_errors += get(c.proxy_header_errors);
    v.events.proxy_header_untrusted += get(c.proxy_header_untrusted);
    v.events.connect_failures += get(c.connect_failures);
    v.events.upstream_unavailable += get(c.upstream_errors);
    v.events.sticky_cookie_rejected += get(c.sticky_cookie_rejected);
    v.events.parked_clients += get(c.parked_clients);
    v.events.sessions_closed_address_removed += get(c.sessions_closed_address_removed);
  }
  if (admin_) v.admin_logins_throttled = admin_->logins_throttled();
  return v;
}

}  // namespace lbd
