// The nftables text lbd programs for its forward-mode listeners: one table of its own
// (`table ip lbpair`), per listener a map slot → backend address . port and a DNAT rule per VIP
// that indexes it with a packet hash or a counter, and SNAT rules for the return path. Pure:
// from what the snapshots say to the text of one atomic transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/net/ip_address.hpp"
#include "lbd/forward/forward_options.hpp"

namespace lbd::forward {

/// The table lbd owns. Nothing else should write to it: every transaction replaces it whole or
/// rewrites its maps.
inline constexpr const char* kTableName = "lbpair";

/// The conntrack mark bit the DNAT rule sets on every flow it translates (or-ed in, so the
/// host's other mark bits stay): lbd subscribes to the conntrack events and dumps of these flows
/// only (a kernel-side filter), and the peer installs replicated entries with it.
inline constexpr std::uint32_t kFlowMark = 0x00100000;

/// One forward-mode listener as the kernel will serve it.
struct Service {
  std::string listener;
  std::vector<lb::Endpoint> vips;  // IPv4, specific address and port
  Selector selector = Selector::tuple_hash;
  std::uint32_t slots = 0;  // the modulus of the hash or counter; the table size
  std::uint32_t seed = 0;   // jhash seed: the same on both nodes (derived from the name)
  std::optional<lb::IpAddress> snat;
  /// Slot → backend endpoint; empty when no backend takes new flows (then the DNAT lookup misses
  /// and a new connection reaches the node itself, which answers with a RST).
  std::vector<lb::Endpoint> targets;
};

/// The jhash seed of a listener: a stable hash of its name, so both nodes agree.
std::uint32_t seed_for(const std::string& listener);

/// The name of the map of the `index`-th service ("svc0", "svc1", ...).
std::string map_name(std::size_t index);

/// One transaction that replaces lbd's table (whatever a previous run left) with the table for
/// `services`. An empty `services` deletes the table. Requires IPv4 endpoints.
std::string full_ruleset(const std::vector<Service>& services);

/// One transaction that rewrites the map of the `index`-th service (a snapshot changed; the
/// rules and the table size stay).
std::string map_update(std::size_t index, const Service& service);

/// One transaction that deletes lbd's table if it exists (clean stop).
std::string delete_table();

}  // namespace lbd::forward
