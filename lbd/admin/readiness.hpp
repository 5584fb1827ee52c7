// lbd's readiness to take the VIP: the preempt gate of vrrpd waits for it before a returning node
// takes the VIP back from a live peer. Ready = serving (not draining), every pool's round of
// health checks done (the first one, and again after a fault: until then server states are the
// configured initial ones, or what the checks saw while the node could reach nothing), and, with
// [replication], a session up over which the peer's full table sync was received (sticky
// clients and tracked connections are known here). Pure; the server evaluates it on its control
// thread and publishes every change on the control socket's watch streams.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lbd/replication/replicator.hpp"

namespace lbd::admin {

struct Readiness {
  bool ready = true;
  /// Why not, one phrase per cause ("pool web: health-check round not done", ...).
  std::vector<std::string> reasons;
  friend bool operator==(const Readiness&, const Readiness&) = default;
};

/// `pools_checking`: pools whose health-check round is not done (the first one, or the one that
/// began when the node came back from a fault). `replication`: nullopt
/// without [replication] (then in sync trivially).
Readiness assess_readiness(bool draining, const std::vector<std::string>& pools_checking,
                           const std::optional<repl::ReplicationStatus>& replication);

/// The watch-stream line: {"event":"ready","ready":B,"reasons":[...]}.
nlohmann::json readiness_json(const Readiness& r);

}  // namespace lbd::admin
