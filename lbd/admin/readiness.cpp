// lbd's readiness: see readiness.hpp.
#include "lbd/admin/readiness.hpp"

namespace lbd::admin {

Readiness assess_readiness(bool draining, const std::vector<std::string>& pools_checking,
                           const std::optional<repl::ReplicationStatus>& replication) {
  Readiness r;
  if (draining) r.reasons.emplace_back("draining for shutdown");
  for (const auto& p : pools_checking) {
    r.reasons.push_back("pool " + p + ": health-check round not done");
  }
  if (replication) {
    if (!replication->connected) {
      r.reasons.emplace_back("replication: not connected to the peer");
    } else if (!replication->we_have_peer_data) {
      r.reasons.emplace_back("replication: full table sync from the peer not received yet");
    }
  }
  r.ready = r.reasons.empty();
  return r;
}

nlohmann::json readiness_json(const Readiness& r) {
  return {{"event", "ready"}, {"ready", r.ready}, {"reasons", r.reasons}};
}

}  // namespace lbd::admin
