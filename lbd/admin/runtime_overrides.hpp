// Runtime overrides of a server's admin state and weight, set through the control socket. They
// are kept by pool and server name across reloads (what operators expect: a drained server
// stays drained when someone reloads for an unrelated change) until lbd restarts, the server
// leaves the config, or the config's own value for that field changes (the edited file is then
// the newer decision). Pure; the control thread owns it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "lbd/balance/admin_state.hpp"
#include "lbd/config.hpp"

namespace lbd::admin {

struct ServerOverride {
  std::optional<AdminState> admin;
  AdminState admin_base = AdminState::ready;  // the config's value when it was set
  std::optional<std::uint32_t> weight;
  std::uint32_t weight_base = 0;
};

class RuntimeOverrides {
 public:
  /// Records an admin state set by an operator; `configured` is the config's value now. Setting
  /// the configured value again removes the override (nothing to keep).
  void set_admin(const std::string& pool, const std::string& server, AdminState state,
                 AdminState configured);
  void set_weight(const std::string& pool, const std::string& server, std::uint32_t weight,
                  std::uint32_t configured);
  /// nullptr when the server has no override.
  const ServerOverride* find(const std::string& pool, const std::string& server) const;
  std::size_t size() const { return by_server_.size(); }

  /// After a reload to `config`: drops the overrides of servers that are gone and the fields
  /// whose configured value changed. Returns one human line per dropped override (for the log).
  std::vector<std::string> reconcile(const Config& config);

  /// Every override of `pool` (server name, override).
  std::vector<std::pair<std::string, ServerOverride>> of_pool(const std::string& pool) const;

 private:
  std::map<std::pair<std::string, std::string>, ServerOverride> by_server_;
};

}  // namespace lbd::admin
