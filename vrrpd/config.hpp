// vrrpd's configuration model and its TOML loader. Every error is collected; intervals that the
// VRRPv3 wire format cannot carry are errors, never silently replaced.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/diagnostics.hpp"
#include "common/net/ip_address.hpp"

namespace vrrp {

/// A virtual address with its prefix length ("192.0.2.10/24"): unlike lb::Cidr the host bits are
/// kept, since they are the address.
struct Vip {
  lb::IpAddress address;
  unsigned prefix_len = 0;
  /// "192.0.2.10/24", "2001:db8::10/64"; a bare address is a host prefix. nullopt if invalid.
  static std::optional<Vip> parse(std::string_view text);
  std::string to_string() const;
  friend bool operator==(const Vip&, const Vip&) = default;
};

/// A health-check script ([[track_script]]), run through /bin/sh -c every interval.
struct TrackScriptConfig {
  std::string name;
  std::string command;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{1000};
  int rise = 1;    ///< consecutive successes before a failing check counts as up again
  int fall = 1;    ///< consecutive failures before a passing check counts as down
  int weight = 0;  ///< 0 = Fault while failing; N = priority lowered by N while failing
  friend bool operator==(const TrackScriptConfig&, const TrackScriptConfig&) = default;
};

/// [track_lbd]: the local lbd, asked {"cmd":"health"} over lbd_control_socket every interval. No
/// answer within the timeout (lbd dead, hung or not listening), "stopping", or (with
/// degraded_is_down) "degraded" is a failure; `fall` failures in a row make it down. Every
/// instance follows it: the node's lbd serves all of its VIPs.
struct TrackLbdConfig {
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{500};
  int rise = 2;
  int fall = 2;
  int weight = 0;  ///< 0 = Fault while down; N = priority lowered by N while down
  bool degraded_is_down = false;
  friend bool operator==(const TrackLbdConfig&, const TrackLbdConfig&) = default;
};

struct InstanceConfig {
  std::string name;
  std::uint8_t vrid = 0;
  std::string interface;
  std::uint8_t priority = 100;
  /// RFC 5798 §5.2.7: 12-bit field in centiseconds, so 10ms .. 40.95s in 10ms steps.
  std::chrono::milliseconds advert_interval{1000};
  bool preempt = true;
  /// No preemption for this long after startup or a return from Fault (keepalived's
  /// preempt_delay). 0 = none. A takeover from a master that is gone is never delayed.
  std::chrono::milliseconds preempt_delay{0};
  /// With [track_lbd]: a preemption waits until the local lbd reports ready (health checks ran
  /// once, replication in sync), at most this long. 0 = preemption does not wait for lbd.
  std::chrono::milliseconds preempt_gate_timeout{30000};
  /// RFC 5798 §6.1 Accept_Mode. Only true is supported: the master holds the VIP as a local
  /// address so that lbd can serve it, and Linux accepts traffic to local addresses.
  bool accept_mode = true;
  std::vector<Vip> vips;  ///< all of one family (the first VIP's)
  std::vector<lb::IpAddress> unicast_peers;
  /// More interfaces whose link state is tracked (the instance's own always is): down → FAULT.
  std::vector<std::string> track_interfaces;
  /// Names of [[track_script]] entries this instance follows.
  std::vector<std::string> track_scripts;
  /// Gratuitous ARP / unsolicited NA packets per address per burst.
  int garp_repeat = 5;
  /// Second burst after becoming master (0 = none), and periodic refresh while master (0 = off).
  std::chrono::milliseconds garp_master_delay{5000};
  std::chrono::milliseconds garp_master_refresh{0};
  /// Shell command run on every transition (empty = none); see conf/vrrpd.toml for its env.
  std::string notify;
  /// Handing over to a live peer (preempted, switchover): how long the previous master keeps
  /// the VIPs unannounced, serving its connections, and the new master forwards their packets
  /// to it (vrrpd/handover.hpp). 0 = release the VIPs at once.
  std::chrono::milliseconds handover_drain{10000};

  friend bool operator==(const InstanceConfig&, const InstanceConfig&) = default;
};

struct Config {
  std::string source_file;
  std::string log_level = "info";
  /// SCHED_FIFO priority for the daemon (0 = normal scheduling). Sub-100ms adverts need it on a
  /// busy machine: a scheduling hiccup longer than Master_Down_Interval is a false failover.
  int realtime_priority = 0;
  /// Unix socket for the JSON-lines control protocol (common/control); empty = none.
  std::string control_socket;
  /// lbd's control socket: every transition is sent there as {"cmd":"vrrp_state",...}; empty =
  /// don't tell lbd.
  std::string lbd_control_socket;
  /// Where GET /metrics (Prometheus text) is served; nullopt = no metrics endpoint.
  std::optional<lb::Endpoint> metrics_listen;
  std::vector<TrackScriptConfig> track_scripts;
  /// Absent = lbd is not tracked.
  std::optional<TrackLbdConfig> track_lbd;
  std::vector<InstanceConfig> instances;
};

Config load_config(const std::string& path, lb::config::Diagnostics& diags);
Config load_config_from_string(std::string_view text, const std::string& name,
                               lb::config::Diagnostics& diags);

}  // namespace vrrp
