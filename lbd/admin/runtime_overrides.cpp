// Runtime overrides kept across reloads: see runtime_overrides.hpp.
#include "lbd/admin/runtime_overrides.hpp"

#include <fmt/format.h>

namespace lbd::admin {

void RuntimeOverrides::set_admin(const std::string& pool, const std::string& server,
                                 AdminState state, AdminState configured) {
  auto& o = by_server_[{pool, server}];
  if (state == configured) {
    o.admin.reset();
  } else {
    o.admin = state;
    o.admin_base = configured;
  }
  if (!o.admin && !o.weight) by_server_.erase({pool, server});
}

void RuntimeOverrides::set_weight(const std::string& pool, const std::string& server,
                                  std::uint32_t weight, std::uint32_t configured) {
  auto& o = by_server_[{pool, server}];
  if (weight == configured) {
    o.weight.reset();
  } else {
    o.weight = weight;
    o.weight_base = configured;
  }
  if (!o.admin && !o.weight) by_server_.erase({pool, server});
}

const ServerOverride* RuntimeOverrides::find(const std::string& pool,
                                             const std::string& server) const {
  auto it = by_server_.find({pool, server});
  return it == by_server_.end() ? nullptr : &it->second;
}

std::vector<std::string> RuntimeOverrides::reconcile(const Config& config) {
  std::vector<std::string> dropped;
  for (auto it = by_server_.begin(); it != by_server_.end();) {
    const auto& [pool_name, server_name] = it->first;
    auto& o = it->second;
    const ServerConfig* server = nullptr;
    if (const auto* pool = config.find_pool(pool_name)) {
      for (const auto& s : pool->servers) {
        if (s.name == server_name) server = &s;
      }
    }
    if (server == nullptr) {
      dropped.push_back(fmt::format("pool={} server={} reason=\"server not in the config\"",
                                    pool_name, server_name));
      it = by_server_.erase(it);
      continue;
    }
    if (o.admin && server->health.state != o.admin_base) {
      dropped.push_back(fmt::format(
          "pool={} server={} admin={} reason=\"configured state changed from {} to {}\"", pool_name,
          server_name, admin_state_name(*o.admin), admin_state_name(o.admin_base),
          admin_state_name(server->health.state)));
      o.admin.reset();
    }
    if (o.weight && server->weight != o.weight_base) {
      dropped.push_back(fmt::format(
          "pool={} server={} weight={} reason=\"configured weight changed from {} to {}\"",
          pool_name, server_name, *o.weight, o.weight_base, server->weight));
      o.weight.reset();
    }
    if (!o.admin && !o.weight) {
      it = by_server_.erase(it);
    } else {
      ++it;
    }
  }
  return dropped;
}

std::vector<std::pair<std::string, ServerOverride>> RuntimeOverrides::of_pool(
    const std::string& pool) const {
  std::vector<std::pair<std::string, ServerOverride>> out;
  for (const auto& [key, o] : by_server_) {
    if (key.first == pool) out.emplace_back(key.second, o);
  }
  return out;
}

}  // namespace lbd::admin
