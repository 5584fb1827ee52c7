// The preempt gate of the state machine: a returning higher-priority node holds its preemption
// of a live lower-priority master until lbd is ready (bounded by preempt_gate_timeout) and
// preempt_delay is over; a takeover from a master that is gone is never held.
#include <doctest/doctest.h>

#include "vrrpd/fsm.hpp"

using namespace vrrp;
using namespace std::chrono_literals;

namespace {

lb::IpAddress ip(const char* s) { return *lb::IpAddress::parse(s); }

FsmConfig gated(Micros delay = Micros(0), Micros timeout = Micros(30s), bool ready = false) {
  FsmConfig c{200, Centis(100), true, ip("192.0.2.2")};
  c.preempt_delay = delay;
  c.preempt_gate_timeout = timeout;
  c.lbd_ready = ready;
  return c;
}

template <typename A>
bool has_kind(const std::vector<Action>& actions) {
  for (const auto& x : actions) {
    if (std::holds_alternative<A>(x)) return true;
  }
  return false;
}

template <typename A>
const A* find(const std::vector<Action>& actions) {
  for (const auto& x : actions) {
    if (auto* p = std::get_if<A>(&x)) return p;
  }
  return nullptr;
}

event::AdvertReceived lower_master() { return {100, Centis(100), ip("192.0.2.1")}; }

}  // namespace

TEST_CASE("preempt gate: while lbd is not ready a lower-priority master keeps the VIPs") {
  StateMachine m(gated());
  m.handle(event::Startup{});
  const auto held = m.handle(lower_master());
  // The advert re-arms Master_Down_Timer as a non-preempting backup's would: it never fires
  // while the lower master advertises.
  CHECK(has_kind<action::ArmMasterDownTimer>(held));
  REQUIRE(find<action::PreemptHeld>(held) != nullptr);
  CHECK(find<action::ArmPreemptGateTimer>(held)->after == Micros(30s));
  CHECK(m.preempt_held());
  // Held once: later adverts do not log again nor restart the timeout.
  const auto again = m.handle(lower_master());
  CHECK_FALSE(has_kind<action::PreemptHeld>(again));
  CHECK_FALSE(has_kind<action::ArmPreemptGateTimer>(again));
  CHECK(m.state() == State::kBackup);
}

TEST_CASE("preempt gate: lbd becoming ready preempts the held lower-priority master at once") {
  StateMachine m(gated());
  m.handle(event::Startup{});
  m.handle(lower_master());
  const auto out = m.handle(event::LbdReady{true});
  CHECK(m.state() == State::kMaster);
  CHECK(has_kind<action::AcquireVips>(out));
  CHECK(has_kind<action::CancelPreemptGateTimer>(out));
  CHECK(find<action::Transition>(out)->reason.find("lbd is ready") != std::string::npos);
}

TEST_CASE("preempt gate: the timeout preempts although lbd never became ready") {
  StateMachine m(gated(Micros(0), Micros(5s)));
  m.handle(event::Startup{});
  m.handle(lower_master());
  const auto out = m.handle(event::PreemptGateTimerFired{});
  CHECK(m.state() == State::kMaster);
  CHECK(find<action::Transition>(out)->reason.find("preempt_gate_timeout") != std::string::npos);
}

TEST_CASE("preempt gate: a master that is gone is taken over at once, even with lbd not ready") {
  StateMachine m(gated(Micros(10s), Micros(30s)));
  m.handle(event::Startup{});
  m.handle(lower_master());
  REQUIRE(m.preempt_held());
  // No advert for Master_Down_Interval: the lower master died.
  const auto out = m.handle(event::MasterDownTimerFired{});
  CHECK(m.state() == State::kMaster);
  CHECK(has_kind<action::AcquireVips>(out));
  CHECK_FALSE(m.preempt_held());

  StateMachine leaving(gated());
  leaving.handle(event::Startup{});
  leaving.handle(lower_master());
  leaving.handle(event::AdvertReceived{0, Centis(100), ip("192.0.2.1")});
  leaving.handle(event::MasterDownTimerFired{});
  CHECK(leaving.state() == State::kMaster);
}

TEST_CASE("preempt gate: with lbd ready and no preempt_delay, preemption is the RFC's") {
  StateMachine m(gated(Micros(0), Micros(30s), /*ready=*/true));
  m.handle(event::Startup{});
  const auto out = m.handle(lower_master());
  // §6.4.2: discarded, so Master_Down_Timer fires.
  CHECK(out.empty());
  m.handle(event::MasterDownTimerFired{});
  CHECK(m.state() == State::kMaster);
}

TEST_CASE("preempt gate: preempt_gate_timeout 0 means preemption does not wait for lbd") {
  StateMachine m(gated(Micros(0), Micros(0), /*ready=*/false));
  m.handle(event::Startup{});
  CHECK(m.preempt_gate_open());
  CHECK(m.handle(lower_master()).empty());
}

TEST_CASE("preempt gate: preempt_delay holds preemption after startup even when lbd is ready") {
  StateMachine m(gated(Micros(2s), Micros(30s), /*ready=*/true));
  const auto start = m.handle(event::Startup{});
  REQUIRE(find<action::ArmPreemptDelayTimer>(start) != nullptr);
  CHECK(find<action::ArmPreemptDelayTimer>(start)->after == Micros(2s));
  const auto held = m.handle(lower_master());
  CHECK(find<action::PreemptHeld>(held)->reason.find("preempt_delay") != std::string::npos);
  // The readiness timeout does not shorten preempt_delay.
  CHECK_FALSE(has_kind<action::ArmPreemptGateTimer>(held));
  m.handle(event::PreemptGateTimerFired{});
  CHECK(m.state() == State::kBackup);
  const auto out = m.handle(event::PreemptDelayTimerFired{});
  CHECK(m.state() == State::kMaster);
  CHECK(find<action::Transition>(out)->reason.find("preempt_delay") != std::string::npos);
}

TEST_CASE("preempt gate: after preempt_delay the readiness wait is bounded from then on") {
  StateMachine m(gated(Micros(2s), Micros(5s), /*ready=*/false));
  m.handle(event::Startup{});
  m.handle(lower_master());
  const auto out = m.handle(event::PreemptDelayTimerFired{});
  CHECK(m.state() == State::kBackup);
  REQUIRE(find<action::ArmPreemptGateTimer>(out) != nullptr);
  CHECK(find<action::ArmPreemptGateTimer>(out)->after == Micros(5s));
  m.handle(event::PreemptGateTimerFired{});
  CHECK(m.state() == State::kMaster);
}

TEST_CASE("preempt gate: a return from Fault starts preempt_delay over and holds again") {
  StateMachine m(gated(Micros(1s), Micros(30s), /*ready=*/true));
  m.handle(event::Startup{});
  m.handle(event::PreemptDelayTimerFired{});
  m.handle(event::MasterDownTimerFired{});
  REQUIRE(m.state() == State::kMaster);
  m.handle(event::InterfaceDown{});
  const auto up = m.handle(event::InterfaceUp{});
  CHECK(has_kind<action::ArmPreemptDelayTimer>(up));
  CHECK(has_kind<action::PreemptHeld>(m.handle(lower_master())));
  CHECK(m.state() == State::kBackup);
}

TEST_CASE("preempt gate: a higher-priority master ends the hold, readiness then changes nothing") {
  StateMachine m(gated());
  m.handle(event::Startup{});
  m.handle(lower_master());
  const auto out = m.handle(event::AdvertReceived{250, Centis(100), ip("192.0.2.3")});
  CHECK(has_kind<action::CancelPreemptGateTimer>(out));
  CHECK_FALSE(m.preempt_held());
  CHECK(m.handle(event::LbdReady{true}).empty());
  CHECK(m.state() == State::kBackup);
}

TEST_CASE("preempt gate: lbd turning not ready does not make a master step down") {
  StateMachine m(gated(Micros(0), Micros(30s), /*ready=*/true));
  m.handle(event::Startup{});
  m.handle(event::MasterDownTimerFired{});
  REQUIRE(m.state() == State::kMaster);
  CHECK(m.handle(event::LbdReady{false}).empty());
  CHECK(m.state() == State::kMaster);
}

TEST_CASE("preempt gate: without preempt the gate holds nothing") {
  FsmConfig c = gated();
  c.preempt = false;
  StateMachine m(c);
  m.handle(event::Startup{});
  CHECK_FALSE(has_kind<action::PreemptHeld>(m.handle(lower_master())));
  CHECK_FALSE(m.preempt_held());
}
