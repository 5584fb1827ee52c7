#include "lbd/forward/forward_manager.hpp"

#include <fmt/format.h>

#include "lbd/forward/services.hpp"

namespace lbd::forward {

lb::Result<void> ForwardManager::run(const std::string& commands) {
  if (auto r = nft_->run(commands); !r) {
    counters_.transactions_failed.fetch_add(1, std::memory_order_relaxed);
    return lb::fail(fmt::format("nftables: {}", r.error().message));
  }
  counters_.transactions_ok.fetch_add(1, std::memory_order_relaxed);
  return {};
}

lb::Result<void> ForwardManager::apply(const std::shared_ptr<const Config>& config,
                                       const std::vector<PoolSnapshotPtr>& pools) {
  std::vector<Service> services;
  for (const auto* l : forward_listeners(*config)) {
    const PoolSnapshot* snapshot = nullptr;
    for (const auto& p : pools) {
      if (p && p->pool_name == l->default_pool) snapshot = p.get();
    }
    services.push_back(make_service(*config, *l, snapshot));
  }
  // A node that never had forward listeners leaves the kernel alone; one that had them (or a
  // killed run that did: installed_ is false after a restart, so the first apply replaces the
  // table in any case when there are services) removes the table.
  if (services.empty() && !installed_) {
    config_ = config;
    services_.clear();
    return {};
  }
  if (auto r = run(full_ruleset(services)); !r) return r;
  // What is down now is the baseline: only a later change to down resets flows.
  for (const auto& p : pools) {
    if (p) down_[p->pool_name] = down_backends(*p);
  }
  installed_ = !services.empty();
  config_ = config;
  services_ = std::move(services);
  return {};
}

std::set<lb::Endpoint> down_backends(const PoolSnapshot& snapshot) {
  std::set<lb::Endpoint> out;
  for (std::size_t i = 0; i < snapshot.backends.size() && i < snapshot.states.size(); ++i) {
    if (!snapshot.states[i].serves_existing()) out.insert(snapshot.backends[i]->address);
  }
  return out;
}

lb::Result<void> ForwardManager::on_snapshot(const PoolSnapshotPtr& snapshot) {
  if (!config_ || !snapshot) return {};
  lb::Result<void> result;
  const auto listeners = forward_listeners(*config_);
  auto down = down_backends(*snapshot);
  if (auto before = down_.find(snapshot->pool_name); before != down_.end()) {
    for (const auto& b : snapshot->backends) {
      if (!down.contains(b->address) || before->second.contains(b->address)) continue;
      for (const auto* l : listeners) {
        if (l->default_pool != snapshot->pool_name ||
            l->forward.on_server_down != OnServerDown::reset) {
          continue;
        }
        resets_.push_back(BackendReset{l->name, b->name, b->address, l->binds});
      }
    }
  }
  down_[snapshot->pool_name] = std::move(down);
  for (std::size_t i = 0; i < listeners.size() && i < services_.size(); ++i) {
    if (listeners[i]->default_pool != snapshot->pool_name) continue;
    auto next = make_service(*config_, *listeners[i], snapshot.get());
    if (next.targets == services_[i].targets) continue;  // e.g. a health flip of a backup
    if (auto r = run(map_update(i, next)); !r) {
      result = r;
      continue;
    }
    counters_.map_updates.fetch_add(1, std::memory_order_relaxed);
    services_[i] = std::move(next);
  }
  return result;
}

lb::Result<void> ForwardManager::stop() {
  if (!installed_) return {};
  auto r = run(delete_table());
  if (r) installed_ = false;
  return r;
}

lb::Result<std::string> ForwardManager::list() {
  auto r = nft_->run(fmt::format("list table ip {}", kTableName));
  if (!r) return lb::fail(fmt::format("nftables: {}", r.error().message));
  return r;
}

}  // namespace lbd::forward
