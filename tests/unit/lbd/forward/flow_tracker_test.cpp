#include "lbd/forward/flow_tracker.hpp"

#include <doctest/doctest.h>

#include <chrono>

namespace {

using namespace std::chrono_literals;
using lbd::repl::CtEntry;

// TCP conntrack states: SYN_RECV 2, ESTABLISHED 3, TIME_WAIT 7.
constexpr std::uint8_t kFtSynRecv = 2;
constexpr std::uint8_t kFtEstablished = 3;
constexpr std::uint8_t kFtTimeWait = 7;

// A flow from client port `port` to the VIP, DNATed to backend 198.51.100.`be`:8080.
CtEntry ft_flow(std::uint16_t port, std::uint8_t state, std::uint32_t timeout = 432000,
                std::uint8_t be = 11) {
  CtEntry e;
  e.original = {{192, 0, 2, 100}, {192, 0, 2, 10}, port, 80};
  e.reply = {{198, 51, 100, be}, {198, 51, 100, 254}, 8080, port};
  e.tcp_state = state;
  e.timeout_s = timeout;
  return e;
}

std::vector<lbd::repl::CtJournalRecord> ft_records(const lbd::forward::FlowTracker& t) {
  return t.journal().pull(0, 1000).records;
}

lb::SteadyTime ft_at(std::chrono::seconds s) { return lb::SteadyTime{} + s; }

}  // namespace

TEST_CASE("flow tracker: a burst of events is journaled once per flow, in its last state") {
  lbd::forward::FlowTracker t(64);
  t.on_event(ft_flow(1000, lbd::forward::kTcpStateSynSent), false);
  t.on_event(ft_flow(1000, kFtSynRecv), false);
  t.on_event(ft_flow(1000, kFtEstablished), false);
  CHECK(t.flush(ft_at(1s)) == 1);
  const auto r = ft_records(t);
  REQUIRE(r.size() == 1);
  CHECK_FALSE(r[0].erase);
  CHECK(r[0].entry.tcp_state == kFtEstablished);
  CHECK(t.size() == 1);
}

TEST_CASE(
    "flow tracker: a flow still in SYN_SENT is not journaled, and an unchanged state is not "
    "journaled again") {
  lbd::forward::FlowTracker t(64);
  t.on_event(ft_flow(1000, lbd::forward::kTcpStateSynSent), false);
  CHECK(t.flush(ft_at(1s)) == 0);
  CHECK(t.size() == 0);
  t.on_event(ft_flow(1000, kFtSynRecv), false);
  CHECK(t.flush(ft_at(2s)) == 1);
  t.on_event(ft_flow(1000, kFtSynRecv, 50), false);  // a status change only (e.g. ASSURED)
  CHECK(t.flush(ft_at(3s)) == 0);
  t.on_event(ft_flow(1000, kFtTimeWait, 120), false);
  CHECK(t.flush(ft_at(4s)) == 1);
  CHECK(ft_records(t).back().entry.tcp_state == kFtTimeWait);
}

TEST_CASE(
    "flow tracker: the end of a journaled flow is journaled, and a flow the peer never heard "
    "of ends silently") {
  lbd::forward::FlowTracker t(64);
  t.on_event(ft_flow(1000, kFtSynRecv), false);
  t.flush(ft_at(1s));
  t.on_event(ft_flow(1000, 0, 0), true);
  t.on_event(ft_flow(2000, lbd::forward::kTcpStateSynSent), false);
  t.on_event(ft_flow(2000, 0, 0), true);
  CHECK(t.flush(ft_at(2s)) == 1);
  const auto r = ft_records(t);
  REQUIRE(r.size() == 2);
  CHECK(r[1].erase);
  CHECK(r[1].entry.original == ft_flow(1000, 0).original);
  CHECK(t.size() == 0);
  CHECK(t.per_backend().empty());
}

TEST_CASE(
    "flow tracker: a dump adds what was missed, ends what is gone, and re-arms the peer's "
    "copies once half their timeout has passed") {
  lbd::forward::FlowTracker t(64);
  t.on_event(ft_flow(1000, kFtEstablished, 100), false);
  t.on_event(ft_flow(2000, kFtEstablished, 100), false);
  t.flush(ft_at(0s));
  REQUIRE(ft_records(t).size() == 2);
  // 2000 ended while events were lost, 3000 started: both show in the dump.
  CHECK(t.reconcile({ft_flow(1000, kFtEstablished, 100), ft_flow(3000, kFtEstablished, 100)},
                    ft_at(10s)) == 2);
  auto r = ft_records(t);
  REQUIRE(r.size() == 4);
  CHECK(r[2].entry.original.sport == 3000);
  CHECK(r[3].erase);
  CHECK(r[3].entry.original.sport == 2000);
  // Nothing changed at 40 s; at 50 s the peer's copy of 1000 (told 100 s at 0 s) is half gone.
  CHECK(t.reconcile({ft_flow(1000, kFtEstablished, 100), ft_flow(3000, kFtEstablished, 100)},
                    ft_at(40s)) == 0);
  CHECK(t.reconcile({ft_flow(1000, kFtEstablished, 100), ft_flow(3000, kFtEstablished, 100)},
                    ft_at(50s)) == 1);
  CHECK(ft_records(t).back().entry.original.sport == 1000);
}

TEST_CASE("flow tracker: a snapshot carries the timeout left and flows are counted per backend") {
  lbd::forward::FlowTracker t(64);
  t.on_event(ft_flow(1000, kFtEstablished, 100, 11), false);
  t.on_event(ft_flow(2000, kFtEstablished, 100, 12), false);
  t.on_event(ft_flow(3000, kFtEstablished, 5, 12), false);
  t.flush(ft_at(0s));
  const auto snap = t.snapshot(ft_at(30s));
  REQUIRE(snap.size() == 3);
  for (const auto& e : snap) {
    CHECK(e.timeout_s == (e.original.sport == 3000 ? 1u : 70u));
  }
  CHECK(t.per_backend().at(*lb::Endpoint::parse("198.51.100.11:8080")) == 1);
  CHECK(t.per_backend().at(*lb::Endpoint::parse("198.51.100.12:8080")) == 2);
}

TEST_CASE("flow tracker: clear forgets the flows without journaling their end") {
  lbd::forward::FlowTracker t(64);
  t.on_event(ft_flow(1000, kFtEstablished), false);
  t.flush(ft_at(0s));
  const auto head = t.journal().head_seq();
  t.clear();
  CHECK(t.size() == 0);
  CHECK(t.journal().head_seq() == head);
  // Gone from the view: a later dump without it journals nothing either.
  CHECK(t.reconcile({}, ft_at(1s)) == 0);
}
