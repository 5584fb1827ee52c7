// The vrrpd runtime: one raw socket per (interface, family) dispatching adverts to instances by
// VRID, a netlink link monitor for tracked interfaces, drop counters, graceful stop and reload.
// Single-threaded on the caller's io_context.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "common/nft/runner.hpp"
#include "vrrpd/address_manager.hpp"
#include "vrrpd/config.hpp"
#include "vrrpd/instance.hpp"
#include "vrrpd/track.hpp"
#include "vrrpd/track_lbd.hpp"

namespace vrrp {

class Guard;

class Daemon {
 public:
  Daemon(lb::asio::io_context& ctx, AddressManager& addresses, Guard* guard);
  ~Daemon();

  /// Opens sockets and starts every instance of `config`. Fails (nothing started) when an
  /// interface is missing or has no usable source address.
  lb::Result<void> start(const Config& config);
  /// Applies a new config: instances whose config is unchanged keep their state and VIPs;
  /// changed or removed ones stop gracefully; new ones start. Fails without changing anything
  /// when a new interface cannot be used.
  lb::Result<void> reload(const Config& config);
  /// Per-instance state and the drop counters, as the control socket's "status" reply.
  nlohmann::json status() const;
  /// The control socket's `switchover` / `resume`: `request` may name an "instance" or a
  /// "vrid"; without either, every instance that can (master / switched over) does. The reply
  /// lists each instance with its result; ok is false when none could.
  nlohmann::json switchover(const nlohmann::json& request, bool resume);
  /// Answers one control-socket request (status, switchover, resume).
  nlohmann::json handle_control(const nlohmann::json& request);
  /// Graceful stop of every instance (priority 0 from masters, VIPs released).
  void stop();

  /// The instances by name (tests, status).
  const std::map<std::string, std::unique_ptr<Instance>>& instances() const { return instances_; }
  /// Reaps the guard (scripts are reaped by lb::run_process).
  ChildReaper& reaper() { return reaper_; }
  /// Drops counted per §7.1 reason since start.
  const std::array<std::uint64_t, kDropReasonCount>& drops() const { return drops_; }

 private:
  struct Receiver;
  lb::Result<Receiver*> receiver_for(const InterfaceInfo& iface, lb::IpAddress::Family family,
                                     const lb::IpAddress& source);
  lb::Result<std::unique_ptr<Instance>> make_instance(const InstanceConfig& c);
  void read_loop(Receiver& r);
  void handle(Receiver& r, const Received& packet);
  void count_drop(DropReason reason, const lb::IpAddress& from);
  void watch_links();
  bool links_up(const InstanceConfig& c) const;
  void check_links();
  void apply_scripts(const Config& config);
  void tell_lbd(const Instance& inst, const action::Transition& t);
  /// Sends every instance's current state to lbd (from = to = the state): lbd restarted and
  /// knows no role.
  void resend_states();
  void update_scripts();
  void apply_track_lbd(const Config& config);
  /// Tells every instance whether the local lbd is ready (the preempt gate).
  void update_ready();

  lb::asio::io_context& ctx_;
  AddressManager& addresses_;
  Guard* guard_;
  // The handover tables' libnftables context (null when it cannot be made: no drain).
  std::unique_ptr<lb::nft::NftRunner> nft_;
  std::map<std::pair<int, int>, std::unique_ptr<Receiver>> receivers_;  // (ifindex, family)
  std::map<std::string, std::unique_ptr<Instance>> instances_;
  ChildReaper reaper_;
  std::string lbd_socket_;
  std::uint64_t lbd_failures_ = 0;
  std::map<std::string, std::unique_ptr<TrackScript>> scripts_;
  std::unique_ptr<TrackLbd> track_lbd_;
  std::array<std::uint64_t, kDropReasonCount> drops_{};
  std::unique_ptr<lb::asio::posix::stream_descriptor> link_watch_;
  std::array<char, 8192> link_buf_{};
};

}  // namespace vrrp
