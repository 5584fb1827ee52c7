// Reading pools and servers for the control socket: see status_collector.hpp.
#include "lbd/admin/status_collector.hpp"

#include "lbd/balance/options.hpp"
#include "lbd/sticky/persistence_options.hpp"

namespace lbd::admin {

std::string server_state(AdminState admin, bool healthy, bool ejected) {
  if (admin != AdminState::ready) return std::string(admin_state_name(admin));
  return healthy && !ejected ? "up" : "down";
}

PoolView collect_pool(const PoolConfig& pool, const HealthManager& manager,
                      const RuntimeOverrides& overrides, lb::SteadyTime now) {
  PoolView view;
  view.name = pool.name;
  view.algorithm = algorithm_name(pool.balance.algorithm);
  view.persistence = persistence_mode_name(pool.persistence.mode);
  const auto snapshot = manager.snapshot();
  if (snapshot) {
    view.generation = snapshot->generation;
    view.using_backups = snapshot->using_backups;
  }
  const auto health = manager.status();
  for (std::size_t i = 0; i < health.size(); ++i) {
    const auto& h = health[i];
    ServerView s;
    s.name = h.name;
    s.healthy = h.up;
    s.ejected = h.ejected;
    s.admin = admin_state_name(h.admin);
    s.state = server_state(h.admin, h.up, h.ejected);
    s.reason = h.last_reason;
    if (h.last_check) {
      s.last_check_age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *h.last_check);
    }
    s.weight = h.weight;
    s.checks = h.checks;
    s.failed_checks = h.failed_checks;
    if (i < pool.servers.size()) {
      s.address = pool.servers[i].address.to_string();
      s.backup = pool.servers[i].backup;
    }
    if (snapshot) {
      if (const Backend* b = snapshot->find(h.name)) {
        s.active = b->active.load(std::memory_order_relaxed);
        s.candidate = snapshot->find_candidate(b);
        for (const auto& c : snapshot->candidates) {
          if (c.backend == b) s.effective_weight = c.weight;
        }
      }
    }
    if (const auto* o = overrides.find(pool.name, h.name)) {
      if (o->admin) s.admin_override = std::string(admin_state_name(*o->admin));
      s.weight_override = o->weight;
    }
    view.servers.push_back(std::move(s));
  }
  return view;
}

}  // namespace lbd::admin
