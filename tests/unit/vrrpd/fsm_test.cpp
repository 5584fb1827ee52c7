// Every transition of RFC 5798 §6.4 as a case, plus the two extensions (re-announce on a
// lower-priority advert, last advert when stepping down) and the Fault state.
#include "vrrpd/fsm.hpp"

#include <doctest/doctest.h>

using namespace vrrp;
using namespace std::chrono_literals;

namespace {

lb::IpAddress ip(const char* s) { return *lb::IpAddress::parse(s); }

FsmConfig cfg(std::uint8_t prio, bool preempt = true, Centis interval = Centis(100)) {
  return FsmConfig{prio, interval, preempt, ip("192.0.2.2")};
}

template <typename A>
bool has(const std::vector<Action>& actions, const A& a) {
  for (const auto& x : actions) {
    if (auto* p = std::get_if<A>(&x); p && *p == a) return true;
  }
  return false;
}

template <typename A>
bool has_kind(const std::vector<Action>& actions) {
  for (const auto& x : actions) {
    if (std::holds_alternative<A>(x)) return true;
  }
  return false;
}

event::AdvertReceived advert(std::uint8_t prio, const char* src = "192.0.2.1",
                             Centis interval = Centis(100)) {
  return {prio, interval, ip(src)};
}

StateMachine master_of(FsmConfig c) {
  StateMachine m(c);
  m.handle(event::Startup{});
  m.handle(event::MasterDownTimerFired{});
  REQUIRE(m.state() == State::kMaster);
  return m;
}

}  // namespace

TEST_CASE("vrrp fsm: Skew_Time and Master_Down_Interval follow §6.1 from priority and interval") {
  StateMachine m(cfg(100, true, Centis(100)));
  CHECK(m.skew_time() == Micros(609375));              // 156/256 s
  CHECK(m.master_down_interval() == Micros(3609375));  // keepalived measured 3609.6 ms
  StateMachine fast(cfg(100, true, Centis(1)));
  CHECK(fast.master_down_interval() == Micros(36093));
  StateMachine high(cfg(254, true, Centis(10)));
  CHECK(high.skew_time() == Micros(781));
}

TEST_CASE("vrrp fsm: a non-owner starts in Backup with Master_Down_Timer armed") {
  StateMachine m(cfg(100));
  auto a = m.handle(event::Startup{});
  CHECK(m.state() == State::kBackup);
  CHECK(has(a, action::ArmMasterDownTimer{Micros(3609375)}));
  CHECK_FALSE(has_kind<action::SendAdvert>(a));
  CHECK(has(a, action::Transition{State::kInitialize, State::kBackup, "startup"}));
}

TEST_CASE("vrrp fsm: the address owner (priority 255) starts as Master at once") {
  StateMachine m(cfg(255));
  auto a = m.handle(event::Startup{});
  CHECK(m.state() == State::kMaster);
  CHECK(has(a, action::SendAdvert{255}));
  CHECK(has(a, action::AcquireVips{}));
  CHECK(has(a, action::ArmAdverTimer{Micros(1000000)}));
}

TEST_CASE("vrrp fsm: Backup becomes Master when Master_Down_Timer fires: advert, VIPs, timer") {
  StateMachine m(cfg(100));
  m.handle(event::Startup{});
  auto a = m.handle(event::MasterDownTimerFired{});
  CHECK(m.state() == State::kMaster);
  REQUIRE(a.size() == 4);
  CHECK(std::get<action::SendAdvert>(a[0]).priority == 100);
  CHECK(std::holds_alternative<action::AcquireVips>(a[1]));
  CHECK(std::get<action::ArmAdverTimer>(a[2]).after == Micros(1000000));
}

TEST_CASE("vrrp fsm: Backup learns Master_Adver_Interval from the master's advert") {
  StateMachine m(cfg(100, true, Centis(100)));
  m.handle(event::Startup{});
  auto a = m.handle(advert(150, "192.0.2.1", Centis(10)));
  CHECK(m.master_adver_interval() == Centis(10));
  CHECK(has(a, action::ArmMasterDownTimer{Micros(360937)}));
  CHECK(m.state() == State::kBackup);
}

TEST_CASE("vrrp fsm: a priority-0 advert in Backup arms Master_Down_Timer to Skew_Time") {
  StateMachine m(cfg(100));
  m.handle(event::Startup{});
  auto a = m.handle(advert(0));
  CHECK(has(a, action::ArmMasterDownTimer{Micros(609375)}));
  CHECK(m.state() == State::kBackup);
}

TEST_CASE("vrrp fsm: preempt on — Backup discards a lower-priority advert and will take over") {
  StateMachine m(cfg(150, true));
  m.handle(event::Startup{});
  auto a = m.handle(advert(100));
  CHECK(a.empty());
  m.handle(event::MasterDownTimerFired{});
  CHECK(m.state() == State::kMaster);
}

TEST_CASE("vrrp fsm: preempt off — Backup accepts a lower-priority master and stays Backup") {
  StateMachine m(cfg(150, false));
  m.handle(event::Startup{});
  auto a = m.handle(advert(100));
  CHECK(has_kind<action::ArmMasterDownTimer>(a));
  CHECK(m.state() == State::kBackup);
}

TEST_CASE("vrrp fsm: Backup resets the timer on an equal or higher advert (preempt on)") {
  StateMachine m(cfg(100, true));
  m.handle(event::Startup{});
  CHECK(has_kind<action::ArmMasterDownTimer>(m.handle(advert(100))));
  CHECK(has_kind<action::ArmMasterDownTimer>(m.handle(advert(200))));
}

TEST_CASE("vrrp fsm: Shutdown in Backup cancels the timer and returns to Initialize") {
  StateMachine m(cfg(100));
  m.handle(event::Startup{});
  auto a = m.handle(event::Shutdown{});
  CHECK(has(a, action::CancelMasterDownTimer{}));
  CHECK_FALSE(has_kind<action::SendAdvert>(a));
  CHECK(m.state() == State::kInitialize);
}

TEST_CASE("vrrp fsm: Shutdown in Master sends priority 0 and releases the VIPs") {
  auto m = master_of(cfg(100));
  auto a = m.handle(event::Shutdown{});
  CHECK(has(a, action::CancelAdverTimer{}));
  CHECK(has(a, action::SendAdvert{0}));
  CHECK(has(a, action::ReleaseVips{}));
  CHECK(m.state() == State::kInitialize);
}

TEST_CASE("vrrp fsm: Master re-sends and re-arms on Adver_Timer") {
  auto m = master_of(cfg(100));
  auto a = m.handle(event::AdverTimerFired{});
  CHECK(a.size() == 2);
  CHECK(has(a, action::SendAdvert{100}));
  CHECK(has(a, action::ArmAdverTimer{Micros(1000000)}));
}

TEST_CASE("vrrp fsm: Master answers a priority-0 advert with an advert at once") {
  auto m = master_of(cfg(100));
  auto a = m.handle(advert(0));
  CHECK(has(a, action::SendAdvert{100}));
  CHECK(has_kind<action::ArmAdverTimer>(a));
  CHECK(m.state() == State::kMaster);
}

TEST_CASE("vrrp fsm: Master steps down on a higher-priority advert, sending one last advert") {
  auto m = master_of(cfg(100));
  auto a = m.handle(advert(150, "192.0.2.1", Centis(10)));
  CHECK(m.state() == State::kBackup);
  CHECK(has(a, action::CancelAdverTimer{}));
  CHECK(has(a, action::SendAdvert{100}));
  // The peer is alive: hand over (the driver may drain), not a plain release.
  CHECK(has(a, action::HandOverVips{}));
  CHECK_FALSE(has_kind<action::ReleaseVips>(a));
  CHECK(m.master_adver_interval() == Centis(10));
  CHECK(has(a, action::ArmMasterDownTimer{Micros(360937)}));
}

TEST_CASE("vrrp fsm: equal priority — the higher primary address wins") {
  SUBCASE("a higher sender address makes us Backup") {
    auto m = master_of(cfg(100));  // we are 192.0.2.2
    m.handle(advert(100, "192.0.2.3"));
    CHECK(m.state() == State::kBackup);
  }
  SUBCASE("a lower sender address leaves us Master") {
    auto m = master_of(cfg(100));
    auto a = m.handle(advert(100, "192.0.2.1"));
    CHECK(m.state() == State::kMaster);
    CHECK(has(a, action::AnnounceVips{*lb::IpAddress::parse("192.0.2.1")}));
  }
}

TEST_CASE(
    "vrrp fsm: Master hearing a lower-priority advert re-announces and names the other master "
    "(healed partition)") {
  auto m = master_of(cfg(150));
  auto a = m.handle(advert(100, "192.0.2.7"));
  CHECK(m.state() == State::kMaster);
  CHECK(has(a, action::SendAdvert{150}));
  CHECK(has(a, action::AnnounceVips{*lb::IpAddress::parse("192.0.2.7")}));
  CHECK(has_kind<action::ArmAdverTimer>(a));
  CHECK_FALSE(has_kind<action::ReleaseVips>(a));
}

TEST_CASE("vrrp fsm: stale timer events in the wrong state do nothing") {
  StateMachine m(cfg(100));
  CHECK(m.handle(event::AdverTimerFired{}).empty());
  CHECK(m.handle(event::MasterDownTimerFired{}).empty());
  m.handle(event::Startup{});
  CHECK(m.handle(event::AdverTimerFired{}).empty());
  CHECK(m.handle(event::Startup{}).empty());
  auto master = master_of(cfg(100));
  CHECK(master.handle(event::MasterDownTimerFired{}).empty());
}

TEST_CASE("vrrp fsm: a lowered priority shows in the next advert and in Skew_Time") {
  auto m = master_of(cfg(150));
  m.handle(event::PriorityChanged{90});
  CHECK(m.priority() == 90);
  CHECK(has(m.handle(event::AdverTimerFired{}), action::SendAdvert{90}));
  StateMachine b(cfg(100));
  b.handle(event::Startup{});
  b.handle(event::PriorityChanged{200});
  CHECK(b.skew_time() == Micros(218750));
}

TEST_CASE("vrrp fsm: interface down — Master releases and goes to Fault, up returns to Backup") {
  auto m = master_of(cfg(150));
  auto a = m.handle(event::InterfaceDown{});
  CHECK(m.state() == State::kFault);
  CHECK(has(a, action::ReleaseVips{}));
  CHECK(has(a, action::CancelAdverTimer{}));
  CHECK(m.handle(advert(100)).empty());
  CHECK(m.handle(event::InterfaceDown{}).empty());
  auto up = m.handle(event::InterfaceUp{});
  CHECK(m.state() == State::kBackup);
  CHECK(has_kind<action::ArmMasterDownTimer>(up));
  StateMachine b(cfg(100));
  b.handle(event::Startup{});
  CHECK(has(b.handle(event::InterfaceDown{}), action::CancelMasterDownTimer{}));
  CHECK(b.state() == State::kFault);
}

TEST_CASE("vrrp fsm: the takeover reason names Skew_Time only after a priority-0 advert") {
  StateMachine m(cfg(100));
  m.handle(event::Startup{});
  m.handle(advert(0));
  m.handle(advert(150));  // the master is back before Skew_Time ran out
  auto a = m.handle(event::MasterDownTimerFired{});
  REQUIRE(m.state() == State::kMaster);
  const auto& t = std::get<action::Transition>(a.back());
  CHECK(t.reason.find("master_down_interval") != std::string::npos);
  auto m2 = master_of(cfg(100));
  m2.handle(advert(150));  // stepped down
  m2.handle(advert(0));
  auto b = m2.handle(event::MasterDownTimerFired{});
  CHECK(std::get<action::Transition>(b.back()).reason.find("skew_time") != std::string::npos);
}

TEST_CASE(
    "vrrp fsm: a switchover makes the master send priority 0, hand the VIPs over and back up") {
  auto m = master_of(cfg(150));
  auto out = m.handle(event::PriorityChanged{1});
  CHECK(out.empty());
  out = m.handle(event::Switchover{});
  CHECK(has(out, action::SendAdvert{0}));
  CHECK(has_kind<action::CancelAdverTimer>(out));
  CHECK(has_kind<action::HandOverVips>(out));
  CHECK_FALSE(has_kind<action::ReleaseVips>(out));
  CHECK(m.state() == State::kBackup);
  // Master_Down_Interval with priority 1: 3 x 1 s + 255/256 s.
  CHECK(has(out, action::ArmMasterDownTimer{Micros(3'996'093)}));
  // The peer's adverts (priority 100 > 1) keep us Backup: no preemption back.
  out = m.handle(advert(100));
  CHECK(m.state() == State::kBackup);
  CHECK(has_kind<action::ArmMasterDownTimer>(out));
}

TEST_CASE("vrrp fsm: a switchover outside Master changes nothing") {
  StateMachine m(cfg(100));
  m.handle(event::Startup{});
  CHECK(m.handle(event::Switchover{}).empty());
  CHECK(m.state() == State::kBackup);
}

TEST_CASE("vrrp fsm: a takeover from a live master names it as the previous master") {
  SUBCASE("preempting a lower-priority master that still advertises") {
    StateMachine m(cfg(150));
    m.handle(event::Startup{});
    CHECK(m.handle(advert(100, "192.0.2.7")).empty());  // discarded: we preempt
    auto a = m.handle(event::MasterDownTimerFired{});
    REQUIRE(m.state() == State::kMaster);
    CHECK(has(a, action::AcquireVips{ip("192.0.2.7")}));
    CHECK(std::get<action::Transition>(a.back()).reason.find("preempting") != std::string::npos);
  }
  SUBCASE("after a switchover's priority-1 then priority-0 adverts") {
    StateMachine m(cfg(100, /*preempt=*/false));
    m.handle(event::Startup{});
    m.handle(advert(150, "192.0.2.7"));
    m.handle(advert(1, "192.0.2.7"));
    m.handle(advert(0, "192.0.2.7"));
    CHECK(has(m.handle(event::MasterDownTimerFired{}), action::AcquireVips{ip("192.0.2.7")}));
  }
}

TEST_CASE("vrrp fsm: a bare priority-0 advert (stop, or a killed master's guard) is no handover") {
  StateMachine m(cfg(100));
  m.handle(event::Startup{});
  m.handle(advert(150, "192.0.2.7"));
  m.handle(advert(0, "192.0.2.7"));
  CHECK(has(m.handle(event::MasterDownTimerFired{}), action::AcquireVips{}));
}

TEST_CASE("vrrp fsm: a switchover advertises the lowered priority just before priority 0") {
  auto m = master_of(cfg(150));
  m.handle(event::PriorityChanged{1});
  const auto out = m.handle(event::Switchover{});
  std::vector<std::uint8_t> sent;
  for (const auto& a : out) {
    if (auto* s = std::get_if<action::SendAdvert>(&a)) sent.push_back(s->priority);
  }
  CHECK(sent == std::vector<std::uint8_t>{1, 0});
}

TEST_CASE("vrrp fsm: a takeover after the master fell silent names no previous master") {
  StateMachine m(cfg(100));
  m.handle(event::Startup{});
  m.handle(advert(150, "192.0.2.7"));
  CHECK(has(m.handle(event::MasterDownTimerFired{}), action::AcquireVips{}));
  // Silence after a higher-priority master advertised again: not preempting any more.
  StateMachine p(cfg(150));
  p.handle(event::Startup{});
  p.handle(advert(100, "192.0.2.7"));
  p.handle(advert(200, "192.0.2.8"));
  CHECK(has(p.handle(event::MasterDownTimerFired{}), action::AcquireVips{}));
}
