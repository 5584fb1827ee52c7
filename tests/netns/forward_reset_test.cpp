// Forward mode, on_server_down in namespaces: a backend cut off the network is found down by the
// health checks; with "reset" lbd deletes its flows' conntrack entries, so each client's next
// segment is NATed afresh to a live backend, which answers with a RST (the client learns at once);
// with "keep" the flows stay bound to the dead backend and hang. `show forward` counts the flows
// per backend and the resets. With replication, the deletions reach the standby's copies too.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <string>

#include "tests/netns/forward_lab.hpp"

namespace {

using namespace std::chrono_literals;

struct Outcome {
  int on_be2 = 0;
  int be2_reset = 0;  // flows to be2 that ended with a RST
  int be1_survived = 0;
  int on_be1 = 0;
  std::uint64_t flows_seen = 0;  // show forward: flows before the cut
  std::uint64_t resets = 0;      // show forward: entries deleted
};

Outcome run(const std::string& on_server_down) {
  Outcome out;
  fwdlab::ForwardLab lab(false);
  lab.start_lbd("a", {.on_server_down = on_server_down, .health = true});
  lab.wait_ready("a");
  const std::string socket = lab.socket("a");

  auto& client = lab.hold(24, 0, 5);
  CHECK(lbtest::wait_until(
      [&] {
        out.flows_seen = fwdlab::show(socket, "forward").value("flows", 0ULL);
        return out.flows_seen >= 24;
      },
      3000ms, 20ms));
  // be2 falls off the network without closing anything: only the health checks notice.
  lab.lab.set_link("be2", false);

  REQUIRE(client.wait_for(20000ms) == 0);
  out.resets = fwdlab::show(socket, "forward").value("resets", 0ULL);
  for (const auto& f : lab.client_flows()) {
    if (f.at("backend") == "be2") {
      ++out.on_be2;
      if (f.at("error").get<std::string>() == "ConnectionResetError") ++out.be2_reset;
    } else {
      ++out.on_be1;
      if (f.at("survived").get<bool>()) ++out.be1_survived;
    }
  }
  return out;
}

}  // namespace

TEST_CASE(
    "forward on_server_down: reset deletes a dead backend's flows so their clients get a RST, and "
    "keep leaves them bound") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  const auto reset = run("reset");
  MESSAGE(
      fmt::format("reset: {} flows on be2, {} reset; be1 {}/{} survived; show forward: "
                  "flows={} resets={}",
                  reset.on_be2, reset.be2_reset, reset.be1_survived, reset.on_be1, reset.flows_seen,
                  reset.resets));
  CHECK(reset.flows_seen >= 24);
  REQUIRE(reset.on_be2 > 0);
  CHECK(reset.be2_reset == reset.on_be2);
  CHECK(reset.resets >= static_cast<std::uint64_t>(reset.on_be2));
  CHECK(reset.be1_survived == reset.on_be1);

  const auto keep = run("keep");
  MESSAGE(fmt::format("keep: {} flows on be2, {} reset; be1 {}/{} survived", keep.on_be2,
                      keep.be2_reset, keep.be1_survived, keep.on_be1));
  REQUIRE(keep.on_be2 > 0);
  CHECK(keep.be2_reset == 0);
  CHECK(keep.resets == 0);
  CHECK(keep.be1_survived == keep.on_be1);
}

TEST_CASE(
    "forward on_server_down: the flows reset on the master are deleted on the standby through "
    "replication") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  fwdlab::ForwardLab lab(true);
  lab.start_lbd("a", {.on_server_down = "reset", .health = true, .replicate = true});
  // The standby keeps its flows when a backend goes down: its copies of be2's flows can only go
  // because the master's deletions reach it.
  lab.start_lbd("b", {.on_server_down = "keep", .health = true, .replicate = true});
  lab.wait_ready("a");
  lab.wait_ready("b");
  REQUIRE(lbtest::wait_until(
      [&] { return fwdlab::show(lab.socket("b"), "replication").value("in_sync", false); }, 10000ms,
      50ms));

  auto& client = lab.hold(24, 0, 6);
  REQUIRE(lbtest::wait_until(
      [&] { return fwdlab::conntrack_held(fwdlab::show(lab.socket("b"), "replication")) >= 24; },
      5000ms, 10ms));
  const int be1_before = lab.vip_entries("b", "198.51.100.11");
  const int be2_before = lab.vip_entries("b", "198.51.100.12");
  REQUIRE(be2_before > 0);
  REQUIRE(be1_before > 0);

  lab.lab.set_link("be2", false);
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(lbtest::wait_until([&] { return lab.vip_entries("b", "198.51.100.12") == 0; }, 10000ms,
                           20ms));
  const double gone_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto a_forward = fwdlab::show(lab.socket("a"), "forward");
  const auto b_forward = fwdlab::show(lab.socket("b"), "forward");
  const int be1_after = lab.vip_entries("b", "198.51.100.11");
  const int be2_after = lab.vip_entries("b", "198.51.100.12");
  MESSAGE(fmt::format(
      "standby: be2 entries {} -> {} ({:.0f} ms after the cut), be1 entries {} -> "
      "{}; master resets={}, standby erased={} resets={}",
      be2_before, be2_after, gone_ms, be1_before, be1_after, a_forward.value("resets", 0ULL),
      b_forward.value("erased", 0ULL), b_forward.value("resets", 0ULL)));
  CHECK(a_forward.value("resets", 0ULL) >= static_cast<std::uint64_t>(be2_before));
  CHECK(b_forward.value("erased", 0ULL) >= static_cast<std::uint64_t>(be2_before));
  CHECK(b_forward.value("resets", 0ULL) == 0);
  CHECK(be1_after >= be1_before);  // be1's flows stay on the standby
  REQUIRE(client.wait_for(20000ms) == 0);
}
