// The VRRPv3 state machine of RFC 5798 §6.4 for one virtual router: events in, actions out.
// Pure: no socket, clock or log. The driver (instance.*) runs the timers and performs the actions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/net/ip_address.hpp"

namespace vrrp {

using Micros = std::chrono::microseconds;
/// The VRRPv3 wire unit (RFC 5798 §5.2.7).
using Centis = std::chrono::duration<std::int64_t, std::centi>;

/// RFC 5798 §6.4 states, plus Fault (not in the RFC): a tracked interface is down, the router
/// takes no part until it comes back.
enum class State : std::uint8_t { kInitialize, kBackup, kMaster, kFault };
std::string_view to_string(State s);

struct FsmConfig {
  std::uint8_t priority = 100;    ///< 1..255; 255 = address owner
  Centis advert_interval{100};    ///< Advertisement_Interval, 1..4095 cs
  bool preempt = true;            ///< Preempt_Mode
  lb::IpAddress primary_address;  ///< our source address, for the equal-priority tie-break
  /// Beyond the RFC (keepalived's preempt_delay): after startup or a return from Fault, no
  /// preemption before this long. 0 = none.
  Micros preempt_delay{0};
  /// Beyond the RFC, the preempt gate: while the local lbd is not ready (event::LbdReady), a
  /// preemption is held at most this long. 0 = preemption does not wait for lbd.
  Micros preempt_gate_timeout{0};
  /// Whether lbd starts as ready: true when nothing reports lbd's readiness (no [track_lbd]).
  bool lbd_ready = true;
};

namespace event {
struct Startup {};
struct Shutdown {};
struct MasterDownTimerFired {};
struct AdverTimerFired {};
/// An advert that passed every §7.1 check.
struct AdvertReceived {
  std::uint8_t priority = 0;
  Centis max_advert_interval{0};
  lb::IpAddress source;
};
/// The effective priority changed (tracking weights). 255 is not reachable this way.
struct PriorityChanged {
  std::uint8_t priority = 0;
};
/// A tracked object (interface link, weight-0 script) went down / everything is back up.
struct InterfaceDown {
  std::string reason = "tracked interface down";
};
struct InterfaceUp {};
/// Beyond the RFC: an operator hands mastership to the peer (`vrrp switchover`). A master sends
/// an advert with its (lowered) priority, then a priority-0 advert (the backup takes over after its
/// Skew_Time, as on shutdown), releases the VIPs and becomes Backup; other states ignore it. The
/// driver lowers the priority first (PriorityChanged) so that preemption does not pull mastership
/// back.
struct Switchover {};
/// Beyond the RFC: the local lbd became ready (up, health checks ran once, replication in sync)
/// or stopped being ready. Only preemption waits for it (see FsmConfig::preempt_gate_timeout).
struct LbdReady {
  bool ready = false;
};
struct PreemptDelayTimerFired {};
struct PreemptGateTimerFired {};
}  // namespace event

using Event =
    std::variant<event::Startup, event::Shutdown, event::MasterDownTimerFired,
                 event::AdverTimerFired, event::AdvertReceived, event::PriorityChanged,
                 event::InterfaceDown, event::InterfaceUp, event::Switchover, event::LbdReady,
                 event::PreemptDelayTimerFired, event::PreemptGateTimerFired>;

namespace action {
/// Send one advertisement with this priority (0 on shutdown).
struct SendAdvert {
  std::uint8_t priority = 0;
  friend bool operator==(const SendAdvert&, const SendAdvert&) = default;
};
/// Add the VIPs and announce them (gratuitous ARP / unsolicited NA bursts). `previous_master`
/// is set when the peer handed mastership over alive (a switchover: priority 1 then 0; or we
/// preempted it while it still advertised): it keeps serving its connections for a while, and
/// the driver may forward their packets to it. Not after a bare priority 0 (a stop, or the
/// guard of a killed vrrpd) nor after a silence.
struct AcquireVips {
  std::optional<lb::IpAddress> previous_master;
  friend bool operator==(const AcquireVips&, const AcquireVips&) = default;
};
/// Leave mastership to a live peer (preempted, or an operator switchover): stop announcing the
/// VIPs. The driver may keep them as local addresses for a drain window, so that the
/// connections this node carries end normally, and then removes them; or remove them at once.
struct HandOverVips {
  friend bool operator==(const HandOverVips&, const HandOverVips&) = default;
};
/// Announce the VIPs again without touching the addresses (healed partition). `co_master`: the
/// node that was master too while the network was split; it may carry connections of clients
/// that followed it, and it hands them over now (HandOverVips), so the driver may forward their
/// packets to it as after a preemption.
struct AnnounceVips {
  std::optional<lb::IpAddress> co_master;
  friend bool operator==(const AnnounceVips&, const AnnounceVips&) = default;
};
/// Remove the VIPs and cancel pending announcements.
struct ReleaseVips {
  friend bool operator==(const ReleaseVips&, const ReleaseVips&) = default;
};
struct ArmAdverTimer {
  Micros after{0};
  friend bool operator==(const ArmAdverTimer&, const ArmAdverTimer&) = default;
};
struct ArmMasterDownTimer {
  Micros after{0};
  friend bool operator==(const ArmMasterDownTimer&, const ArmMasterDownTimer&) = default;
};
struct CancelAdverTimer {
  friend bool operator==(const CancelAdverTimer&, const CancelAdverTimer&) = default;
};
struct CancelMasterDownTimer {
  friend bool operator==(const CancelMasterDownTimer&, const CancelMasterDownTimer&) = default;
};
/// preempt_delay after startup / return from Fault: until it fires, no preemption.
struct ArmPreemptDelayTimer {
  Micros after{0};
  friend bool operator==(const ArmPreemptDelayTimer&, const ArmPreemptDelayTimer&) = default;
};
/// A preemption is held for lbd's readiness: at most this long.
struct ArmPreemptGateTimer {
  Micros after{0};
  friend bool operator==(const ArmPreemptGateTimer&, const ArmPreemptGateTimer&) = default;
};
struct CancelPreemptGateTimer {
  friend bool operator==(const CancelPreemptGateTimer&, const CancelPreemptGateTimer&) = default;
};
/// A preemption starts being held (for the log and the counters): `reason` says why.
struct PreemptHeld {
  std::string reason;
  friend bool operator==(const PreemptHeld&, const PreemptHeld&) = default;
};
struct Transition {
  State from = State::kInitialize;
  State to = State::kInitialize;
  std::string reason;
  friend bool operator==(const Transition&, const Transition&) = default;
};
}  // namespace action

using Action =
    std::variant<action::SendAdvert, action::AcquireVips, action::AnnounceVips, action::ReleaseVips,
                 action::HandOverVips, action::ArmAdverTimer, action::ArmMasterDownTimer,
                 action::CancelAdverTimer, action::CancelMasterDownTimer,
                 action::ArmPreemptDelayTimer, action::ArmPreemptGateTimer,
                 action::CancelPreemptGateTimer, action::PreemptHeld, action::Transition>;

/// One virtual router's state. Not thread-safe; the driver calls it from one thread.
class StateMachine {
 public:
  explicit StateMachine(FsmConfig config);

  /// Applies `e` and returns what the driver must do, in order.
  std::vector<Action> handle(const Event& e);

  State state() const { return state_; }
  std::uint8_t priority() const { return config_.priority; }
  /// Master_Adver_Interval: learned from the master's adverts while Backup.
  Centis master_adver_interval() const { return master_adver_interval_; }
  /// RFC 5798 §6.1: ((256 - Priority) * Master_Adver_Interval) / 256.
  Micros skew_time() const;
  /// RFC 5798 §6.1: 3 * Master_Adver_Interval + Skew_Time.
  Micros master_down_interval() const;
  Micros advert_interval() const { return config_.advert_interval; }
  /// Whether a preemption may happen now: preempt_delay over, and lbd ready or the gate's
  /// timeout reached.
  bool preempt_gate_open() const;
  /// Whether a preemption of a live lower-priority master is being held by the gate.
  bool preempt_held() const { return holding_; }

 private:
  std::vector<Action> on(const event::Startup&);
  std::vector<Action> on(const event::Shutdown&);
  std::vector<Action> on(const event::MasterDownTimerFired&);
  std::vector<Action> on(const event::AdverTimerFired&);
  std::vector<Action> on(const event::AdvertReceived&);
  std::vector<Action> on(const event::PriorityChanged&);
  std::vector<Action> on(const event::InterfaceDown&);
  std::vector<Action> on(const event::InterfaceUp&);
  std::vector<Action> on(const event::Switchover&);
  std::vector<Action> on(const event::LbdReady&);
  std::vector<Action> on(const event::PreemptDelayTimerFired&);
  std::vector<Action> on(const event::PreemptGateTimerFired&);

  void become_master(std::vector<Action>& out, std::string reason,
                     std::optional<lb::IpAddress> previous_master = std::nullopt);
  void become_backup(std::vector<Action>& out, std::string reason);
  void transition(std::vector<Action>& out, State to, std::string reason);
  /// Startup / return from Fault: preempt_delay starts over.
  void returned(std::vector<Action>& out);
  /// Stops holding a preemption (the master left, a higher one appeared, we left Backup).
  void release_hold(std::vector<Action>& out);
  /// The gate may have opened: a held preemption happens now.
  void maybe_preempt(std::vector<Action>& out, std::string_view why);

  FsmConfig config_;
  State state_ = State::kInitialize;
  Centis master_adver_interval_;
  bool skew_armed_ = false;  // Master_Down_Timer runs Skew_Time only (a priority-0 advert)
  // While Backup: the source of the last advert, and whether a lower-priority advert was
  // discarded since Master_Down_Timer was armed (we are preempting a live master).
  std::optional<lb::IpAddress> last_master_;
  std::uint8_t last_priority_ = 0;  // of the last non-zero advert
  bool preempting_ = false;
  bool delay_over_ = true;     // preempt_delay since startup / return has passed
  bool gate_expired_ = false;  // the held preemption waited preempt_gate_timeout
  bool holding_ = false;       // a live lower-priority master is heard, preemption held
  bool lbd_ready_ = true;
};

}  // namespace vrrp
