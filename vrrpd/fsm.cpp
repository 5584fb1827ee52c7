// The VRRPv3 state machine (RFC 5798 §6.4): see fsm.hpp.
#include "vrrpd/fsm.hpp"

#include <fmt/format.h>

// g++ 12 reports -Wmaybe-uninitialized on moving freshly built std::variant alternatives into a
// vector at -O2 (a known false positive, GCC PR 105562 family); nothing here is uninitialized.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace vrrp {

std::string_view to_string(State s) {
  switch (s) {
    case State::kInitialize:
      return "initialize";
    case State::kBackup:
      return "backup";
    case State::kMaster:
      return "master";
    case State::kFault:
      return "fault";
  }
  return "unknown";
}

StateMachine::StateMachine(FsmConfig config)
    : config_(config),
      master_adver_interval_(config.advert_interval),
      lbd_ready_(config.lbd_ready) {}

bool StateMachine::preempt_gate_open() const {
  return delay_over_ && (lbd_ready_ || gate_expired_ || config_.preempt_gate_timeout.count() <= 0);
}

Micros StateMachine::skew_time() const {
  const Micros interval = master_adver_interval_;
  return Micros((256 - config_.priority) * interval.count() / 256);
}

Micros StateMachine::master_down_interval() const {
  return 3 * Micros(master_adver_interval_) + skew_time();
}

std::vector<Action> StateMachine::handle(const Event& e) {
  return std::visit([this](const auto& ev) { return on(ev); }, e);
}

void StateMachine::transition(std::vector<Action>& out, State to, std::string reason) {
  out.push_back(action::Transition{state_, to, std::move(reason)});
  state_ = to;
}

// §6.4.1 (owner) and §6.4.2 (Master_Down_Timer fired): advert, then announce, then the timer.
void StateMachine::become_master(std::vector<Action>& out, std::string reason,
                                 std::optional<lb::IpAddress> previous_master) {
  out.push_back(action::SendAdvert{config_.priority});
  out.push_back(action::AcquireVips{std::move(previous_master)});
  out.push_back(action::ArmAdverTimer{config_.advert_interval});
  transition(out, State::kMaster, std::move(reason));
}

// §6.4.1 (non-owner): Master_Adver_Interval starts as our own interval.
void StateMachine::become_backup(std::vector<Action>& out, std::string reason) {
  master_adver_interval_ = config_.advert_interval;
  skew_armed_ = false;
  last_master_.reset();
  last_priority_ = 0;
  preempting_ = false;
  out.push_back(action::ArmMasterDownTimer{master_down_interval()});
  transition(out, State::kBackup, std::move(reason));
}

void StateMachine::returned(std::vector<Action>& out) {
  delay_over_ = config_.preempt_delay.count() <= 0;
  if (!delay_over_) out.push_back(action::ArmPreemptDelayTimer{config_.preempt_delay});
}

void StateMachine::release_hold(std::vector<Action>& out) {
  if (!holding_) return;
  holding_ = false;
  gate_expired_ = false;
  out.push_back(action::CancelPreemptGateTimer{});
}

void StateMachine::maybe_preempt(std::vector<Action>& out, std::string_view why) {
  if (state_ != State::kBackup || !holding_ || !preempt_gate_open()) return;
  release_hold(out);
  out.push_back(action::CancelMasterDownTimer{});
  // The preempted master is alive: it may keep serving what it carries (handover).
  become_master(out, fmt::format("preempting a lower-priority master: {}", why), last_master_);
}

std::vector<Action> StateMachine::on(const event::Startup&) {
  std::vector<Action> out;
  if (state_ != State::kInitialize) return out;
  if (config_.priority == 255) {
    become_master(out, "startup as address owner (priority 255)");
  } else {
    returned(out);
    become_backup(out, "startup");
  }
  return out;
}

std::vector<Action> StateMachine::on(const event::Shutdown&) {
  std::vector<Action> out;
  switch (state_) {
    case State::kBackup:
      release_hold(out);
      out.push_back(action::CancelMasterDownTimer{});
      transition(out, State::kInitialize, "shutdown");
      break;
    case State::kMaster:
      // §6.4.3: cancel the timer, send priority 0 so the backup waits only Skew_Time.
      out.push_back(action::CancelAdverTimer{});
      out.push_back(action::SendAdvert{0});
      out.push_back(action::ReleaseVips{});
      transition(out, State::kInitialize, "shutdown");
      break;
    case State::kFault:
      transition(out, State::kInitialize, "shutdown");
      break;
    case State::kInitialize:
      break;
  }
  return out;
}

std::vector<Action> StateMachine::on(const event::MasterDownTimerFired&) {
  std::vector<Action> out;
  if (state_ == State::kBackup) {
    // The master is gone (no advert for Master_Down_Interval, or it left): the gate never
    // delays this takeover.
    release_hold(out);
    // A master that said goodbye (priority 0) or that we preempt is alive: it may keep serving
    // what it carries. One that fell silent is not.
    // A priority-0 advert alone is also what a stopping or killed master (its guard) sends; a
    // switchover sends priority 1 just before it (see on(Switchover)).
    const bool handed_over = skew_armed_ && last_priority_ == 1;
    auto previous = handed_over || preempting_ ? last_master_ : std::nullopt;
    become_master(
        out,
        skew_armed_   ? fmt::format("master left (priority 0), skew_time={}us", skew_time().count())
        : preempting_ ? fmt::format("preempting lower-priority master {}",
                                    last_master_ ? last_master_->to_string() : std::string("?"))
                      : fmt::format("no advert for master_down_interval={}us",
                                    master_down_interval().count()),
        std::move(previous));
  }
  return out;
}

std::vector<Action> StateMachine::on(const event::AdverTimerFired&) {
  std::vector<Action> out;
  if (state_ == State::kMaster) {
    out.push_back(action::SendAdvert{config_.priority});
    out.push_back(action::ArmAdverTimer{config_.advert_interval});
  }
  return out;
}

std::vector<Action> StateMachine::on(const event::AdvertReceived& a) {
  std::vector<Action> out;
  if (state_ == State::kBackup) {
    last_master_ = a.source;
    if (a.priority != 0) last_priority_ = a.priority;
    if (a.priority == 0) {
      // §6.4.2: the master is leaving; take over after Skew_Time only.
      release_hold(out);
      out.push_back(action::ArmMasterDownTimer{skew_time()});
      skew_armed_ = true;
    } else if (!config_.preempt || a.priority >= config_.priority || !preempt_gate_open()) {
      // A zero interval would make Master_Down_Interval zero: treat it as the smallest one.
      master_adver_interval_ =
          a.max_advert_interval.count() > 0 ? a.max_advert_interval : Centis(1);
      out.push_back(action::ArmMasterDownTimer{master_down_interval()});
      skew_armed_ = false;
      preempting_ = false;
      if (config_.preempt && a.priority < config_.priority) {
        // The preempt gate is closed: the lower-priority master keeps the VIPs (its adverts
        // keep Master_Down_Timer from firing) until the gate opens.
        if (!holding_) {
          holding_ = true;
          gate_expired_ = false;
          if (config_.preempt_gate_timeout.count() > 0 && delay_over_) {
            out.push_back(action::ArmPreemptGateTimer{config_.preempt_gate_timeout});
          }
          out.push_back(action::PreemptHeld{fmt::format(
              "lower-priority master {} (priority={}) kept until {}", a.source.to_string(),
              a.priority, !delay_over_ ? "preempt_delay is over" : "lbd is ready")});
        }
      } else {
        release_hold(out);
      }
    } else {
      // Preempting a lower-priority master: discard, Master_Down_Timer will fire.
      preempting_ = true;
    }
    return out;
  }
  if (state_ != State::kMaster) return out;
  if (a.priority == 0) {
    // §6.4.3: another master is leaving; assert ourselves at once.
    out.push_back(action::SendAdvert{config_.priority});
    out.push_back(action::ArmAdverTimer{config_.advert_interval});
    return out;
  }
  const bool higher = a.priority > config_.priority ||
                      (a.priority == config_.priority && a.source > config_.primary_address);
  if (higher) {
    out.push_back(action::CancelAdverTimer{});
    // Beyond the RFC: one last advert with our own priority, so that the winner learns that
    // clients may have followed us (healed partition) and re-announces the VIPs.
    out.push_back(action::SendAdvert{config_.priority});
    out.push_back(action::HandOverVips{});
    master_adver_interval_ = a.max_advert_interval.count() > 0 ? a.max_advert_interval : Centis(1);
    out.push_back(action::ArmMasterDownTimer{master_down_interval()});
    skew_armed_ = false;
    last_master_ = a.source;
    preempting_ = false;
    transition(out, State::kBackup,
               fmt::format("advert from {} with priority={} beats ours={}", a.source.to_string(),
                           a.priority, config_.priority));
    return out;
  }
  // Beyond the RFC (which says discard): a lower-priority master exists, so the network was split
  // and clients may have followed it. Advert now so it steps down, and re-announce the VIPs.
  out.push_back(action::SendAdvert{config_.priority});
  out.push_back(action::AnnounceVips{a.source});
  out.push_back(action::ArmAdverTimer{config_.advert_interval});
  return out;
}

std::vector<Action> StateMachine::on(const event::PriorityChanged& p) {
  config_.priority = p.priority;
  return {};
}

std::vector<Action> StateMachine::on(const event::InterfaceDown& e) {
  std::vector<Action> out;
  switch (state_) {
    case State::kMaster:
      out.push_back(action::CancelAdverTimer{});
      out.push_back(action::SendAdvert{0});  // may not get out; costs nothing to try
      out.push_back(action::ReleaseVips{});
      break;
    case State::kBackup:
      release_hold(out);
      out.push_back(action::CancelMasterDownTimer{});
      break;
    case State::kInitialize:
    case State::kFault:
      if (state_ == State::kFault) return out;
      break;
  }
  transition(out, State::kFault, e.reason);
  return out;
}

std::vector<Action> StateMachine::on(const event::InterfaceUp&) {
  std::vector<Action> out;
  if (state_ != State::kFault) return out;
  if (config_.priority == 255) {
    become_master(out, "tracking up, address owner");
  } else {
    returned(out);
    become_backup(out, "tracking up");
  }
  return out;
}

std::vector<Action> StateMachine::on(const event::Switchover&) {
  std::vector<Action> out;
  if (state_ != State::kMaster) return out;
  // As §6.4.3 on shutdown: priority 0 makes the backup wait only its Skew_Time. Unlike shutdown
  // we stay in the protocol as Backup, so if no peer takes over, Master_Down_Timer brings the
  // VIPs back here.
  out.push_back(action::CancelAdverTimer{});
  // Our lowered priority first (1, set by the driver), then 0: the backup learns that this
  // master hands over alive and may forward the connections it still serves back here.
  out.push_back(action::SendAdvert{config_.priority});
  out.push_back(action::SendAdvert{0});
  out.push_back(action::HandOverVips{});
  become_backup(out, "switchover requested by the operator");
  return out;
}

std::vector<Action> StateMachine::on(const event::LbdReady& e) {
  std::vector<Action> out;
  lbd_ready_ = e.ready;
  if (e.ready) maybe_preempt(out, "lbd is ready");
  return out;
}

std::vector<Action> StateMachine::on(const event::PreemptDelayTimerFired&) {
  std::vector<Action> out;
  if (delay_over_) return out;
  delay_over_ = true;
  if (holding_ && !preempt_gate_open() && config_.preempt_gate_timeout.count() > 0) {
    // The readiness wait is bounded from here: preempt_delay came first.
    out.push_back(action::ArmPreemptGateTimer{config_.preempt_gate_timeout});
  }
  maybe_preempt(out, "preempt_delay is over");
  return out;
}

std::vector<Action> StateMachine::on(const event::PreemptGateTimerFired&) {
  std::vector<Action> out;
  if (!holding_ || !delay_over_) return out;
  gate_expired_ = true;
  maybe_preempt(out, "preempt_gate_timeout reached, lbd still not ready");
  return out;
}

}  // namespace vrrp
