#include "lbd/forward/services.hpp"

#include "lbd/forward/slot_table.hpp"

namespace lbd::forward {

std::vector<const ListenerConfig*> forward_listeners(const Config& config) {
  std::vector<const ListenerConfig*> out;
  for (const auto& l : config.listeners) {
    if (l.mode == ListenerMode::forward) out.push_back(&l);
  }
  return out;
}

Service make_service(const Config& config, const ListenerConfig& listener,
                     const PoolSnapshot* snapshot) {
  Service s;
  s.listener = listener.name;
  s.vips = listener.binds;
  s.slots = listener.forward.slots;
  s.seed = seed_for(listener.name);
  s.snat = listener.forward.snat_address;
  // A loop rather than Config::find_pool: that lives in the process library, above this one.
  for (const auto& pool : config.pools) {
    if (pool.name != listener.default_pool) continue;
    if (auto selector = selector_for(pool.balance, pool.persistence.mode)) s.selector = *selector;
  }
  if (snapshot != nullptr) {
    for (const auto* b : build_slot_table(*snapshot, s.slots)) s.targets.push_back(b->address);
  }
  return s;
}

std::vector<lb::Endpoint> forward_vips(const Config& config) {
  std::vector<lb::Endpoint> out;
  for (const auto* l : forward_listeners(config)) {
    out.insert(out.end(), l->binds.begin(), l->binds.end());
  }
  return out;
}

}  // namespace lbd::forward
