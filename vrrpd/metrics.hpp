// vrrpd's /metrics body: state per virtual router, transitions, adverts sent and received, drops
// by §7.1 reason. `render_metrics` is pure (plain values in); `collect` reads them off a Daemon.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "vrrpd/fsm.hpp"
#include "vrrpd/packet.hpp"

namespace vrrp {

class Daemon;

struct InstanceMetrics {
  std::string name;
  std::string interface;
  unsigned vrid = 0;
  std::string family;  // "ipv4" or "ipv6"
  State state = State::kInitialize;
  unsigned priority = 0;
  std::uint64_t transitions = 0;
  std::uint64_t adverts_sent = 0;
  std::uint64_t advert_send_errors = 0;
  std::uint64_t adverts_received = 0;
};

struct VrrpMetrics {
  std::vector<InstanceMetrics> instances;
  std::array<std::uint64_t, kDropReasonCount> drops{};
};

/// The values of `daemon` now (its io_context's thread).
VrrpMetrics collect(const Daemon& daemon);
/// The Prometheus text for `m`.
std::string render_metrics(const VrrpMetrics& m);

}  // namespace vrrp
