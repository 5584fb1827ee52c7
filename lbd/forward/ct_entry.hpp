// Pure helpers over replicated conntrack entries (lbd::repl::CtEntry): which flows belong to the
// forward listeners, and the NAT binding an entry carries (what the standby must hand the kernel
// so that it sets IPS_DST_NAT / IPS_SRC_NAT and translates the flow's packets as the master did).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "common/net/ip_address.hpp"
#include "lbd/replication/wire.hpp"

namespace lbd::forward {

/// The NAT of one flow: where the VIP:port was DNATed to, and (SNAT mode) the source it was
/// rewritten to; nullopt snat in gateway mode.
struct NatBinding {
  lb::Endpoint dnat;
  std::optional<lb::Endpoint> snat;
  friend bool operator==(const NatBinding&, const NatBinding&) = default;
};

/// The binding an entry carries: DNAT to the reply tuple's source; SNAT to the reply tuple's
/// destination when it differs from the original source (address or port).
NatBinding nat_binding(const repl::CtEntry& entry);

/// True when the entry's original destination is one of `vips` (a forward listener's flow).
bool is_forward_flow(const repl::CtTuple& original, const std::vector<lb::Endpoint>& vips);

/// Tuple endpoints as lb types (IPv4).
lb::Endpoint source_of(const repl::CtTuple& t);
lb::Endpoint destination_of(const repl::CtTuple& t);

}  // namespace lbd::forward
