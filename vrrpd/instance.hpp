// One virtual router at run time: connects the pure StateMachine to timers (Asio), the VRRP
// socket, the address manager, the announcer, the guard process and the notify command.
// Single-threaded: everything runs on the io_context's one thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "vrrpd/address_manager.hpp"
#include "vrrpd/announce.hpp"
#include "vrrpd/config.hpp"
#include "vrrpd/fsm.hpp"
#include "vrrpd/handover.hpp"
#include "vrrpd/packet.hpp"
#include "vrrpd/socket.hpp"

namespace vrrp {

class Guard;

/// Where and how this instance sends its adverts.
struct Sender {
  int fd = -1;  ///< the raw VRRP socket of (interface, family), owned by the daemon
  int ifindex = 0;
  lb::IpAddress source;                     ///< primary IPv4 or link-local IPv6 address
  std::vector<lb::IpAddress> destinations;  ///< 224.0.0.18 / ff02::12, or the unicast peers
};

class Instance {
 public:
  /// Called after every transition (for the control socket and tests).
  using TransitionHook = std::function<void(const Instance&, const action::Transition&)>;

  /// `nft` (may be null: no handover drain, VIPs released at once) runs the handover tables.
  Instance(lb::asio::io_context& ctx, InstanceConfig config, const InterfaceInfo& iface,
           Sender sender, AddressManager& addresses, Guard* guard, lb::nft::NftRunner* nft);
  ~Instance();
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  /// Removes stale VIPs and handover tables (a previous run that died with them), then
  /// Startup; Fault if `link_up` is false.
  void start(bool link_up);
  /// Graceful stop: priority-0 advert and VIPs released if master or draining.
  void stop();
  /// True while this node, no longer master, keeps the VIPs unannounced for its connections.
  bool draining() const { return draining_; }
  /// The previous master this node forwards strays to, while it does.
  const std::optional<lb::IpAddress>& forwarding_to() const { return forwarding_to_; }
  /// Drain windows started since this instance started.
  std::uint64_t drains() const { return drains_; }
  /// A decoded advert for this VRID. Returns the per-instance §7.1 drop reason, if dropped.
  std::optional<DropReason> on_advert(const Advert& advert, const PacketMeta& meta);
  /// Link state of the tracked interfaces as a whole (all up = true).
  void set_link(bool up);
  /// The local lbd's readiness (watch stream of [track_lbd]): a preemption waits for it, at most
  /// preempt_gate_timeout. Call before start() to set the initial value.
  void set_lbd_ready(bool ready);
  /// Tracked scripts: `fault` when a weight-0 script is down; `failing_weight` is the sum of the
  /// weights of the failing weighted scripts (priority lowered by it).
  void set_scripts(bool fault, int failing_weight,
                   std::string fault_reason = "tracked script down");
  /// Operator switchover: a master advertises priority 1 from now on, sends a priority-0
  /// advert and becomes Backup, so the peer takes over after its Skew_Time and preemption does
  /// not pull mastership back. Lasts until resume() (or a restart, or a reload that changes this
  /// instance). Errors: not master, or the address owner (priority 255 always preempts).
  lb::Result<void> switchover();
  /// Ends a switchover: the configured priority (minus failing track weights) again; with
  /// preempt = true and a higher priority than the peer's, mastership comes back.
  lb::Result<void> resume();
  bool switched_over() const { return switched_over_; }

  State state() const { return fsm_.state(); }
  /// The priority advertised now (configured, minus failing track weights).
  std::uint8_t effective_priority() const { return fsm_.priority(); }
  const InstanceConfig& config() const { return config_; }
  /// "eth0/51/4": interface, VRID, family. Unique in a config.
  std::string key() const;
  lb::IpAddress::Family family() const { return sender_.source.family(); }
  void set_transition_hook(TransitionHook hook) { hook_ = std::move(hook); }
  /// Counters since this instance started (for /metrics).
  std::uint64_t adverts_sent() const { return adverts_sent_; }
  std::uint64_t advert_send_errors() const { return advert_send_errors_; }
  /// Adverts that passed the per-instance §7.1 checks and reached the state machine.
  std::uint64_t adverts_received() const { return adverts_received_; }
  std::uint64_t transitions() const { return transitions_; }
  /// Preemptions the gate held (preempt_delay or lbd not ready) since this instance started.
  std::uint64_t preempts_held() const { return preempts_held_; }
  /// Whether a preemption is being held now.
  bool preempt_held() const { return fsm_.preempt_held(); }
  bool lbd_ready() const { return lbd_ready_; }

 private:
  void run(const Event& e);
  void execute(const Action& a);
  void send_advert(std::uint8_t priority);
  void acquire_vips(const std::optional<lb::IpAddress>& previous_master);
  void release_vips();
  void hand_over_vips();
  void poll_drain();
  void end_drain(const char* why);
  void end_forward();
  /// For handover_drain: packets of connections this node does not know (not a SYN) go to
  /// `previous_master`, which still carries them (preempted, switched over, or the other master
  /// of a healed partition).
  void forward_strays_to(const lb::IpAddress& previous_master);
  bool handover_enabled() const;
  void arm(lb::asio::steady_timer& timer, std::uint64_t& generation, Micros after, Event fire);
  void notify(const action::Transition& t);

  lb::asio::io_context& ctx_;
  InstanceConfig config_;
  Sender sender_;
  AddressManager& addresses_;
  Guard* guard_;
  StateMachine fsm_;
  Announcer announcer_;
  lb::asio::steady_timer adver_timer_;
  lb::asio::steady_timer master_down_timer_;
  std::uint64_t adver_gen_ = 0;
  std::uint64_t master_down_gen_ = 0;
  HandoverRules handover_;
  lb::asio::steady_timer drain_timer_;    // polls the connections until the window ends
  lb::asio::steady_timer forward_timer_;  // ends the forwarding window
  std::uint64_t drain_gen_ = 0, forward_gen_ = 0;
  bool draining_ = false;
  lb::asio::steady_timer::time_point drain_deadline_{};
  std::optional<lb::IpAddress> forwarding_to_;
  std::uint64_t drains_ = 0;
  lb::asio::steady_timer preempt_delay_timer_;
  lb::asio::steady_timer preempt_gate_timer_;
  std::uint64_t preempt_delay_gen_ = 0;
  std::uint64_t preempt_gate_gen_ = 0;
  bool lbd_ready_ = true;
  bool lbd_ready_known_ = false;
  std::uint64_t preempts_held_ = 0;
  void apply_health();
  void apply_priority();
  bool link_up_ = true;
  int failing_weight_ = 0;
  bool switched_over_ = false;
  std::string fault_reason_ = "tracked script down";
  bool script_fault_ = false;
  bool healthy_ = true;  // what the FSM was last told
  bool vips_held_ = false;
  std::uint16_t last_mismatched_interval_ = 0;
  TransitionHook hook_;
  std::uint64_t adverts_sent_ = 0, advert_send_errors_ = 0, adverts_received_ = 0;
  std::uint64_t transitions_ = 0;
  // Cleared on destruction: a timer whose completion was already queued (success, not aborted)
  // may still run after a reload destroyed this instance.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace vrrp
