// Forward mode with replication, in namespaces: established TCP flows through node a keep
// running through node b after a's link goes down and b takes the VIP and the SNAT address,
// because lbd on a streamed the conntrack entries (events of the marked flows, the replication
// channel) and lbd on b installed them with their NAT binding; nothing is copied by the test.
// Without replication the same move resets flows.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "tests/netns/forward_lab.hpp"

namespace {

using namespace std::chrono_literals;

struct Result {
  int flows = 0;
  int survived = 0;
  int reset = 0;
  std::uint64_t held_on_b = 0;  // the peer's entries b held before the move
  double stream_ms = 0;         // from the client's flows being up to b holding them all
  double worst_pause_ms = 0;
};

Result run(bool replicate, const std::string& algorithm) {
  Result result;
  fwdlab::ForwardLab lab(true);
  for (const std::string node : {"a", "b"}) {
    lab.start_lbd(node, {.algorithm = algorithm, .replicate = replicate});
  }
  lab.wait_ready("a");
  lab.wait_ready("b");
  if (replicate) {
    // b holds a's data (an empty conntrack table at first) before any flow starts.
    REQUIRE(lbtest::wait_until(
        [&] { return fwdlab::show(lab.socket("b"), "replication").value("in_sync", false); },
        10000ms, 50ms));
  }

  auto& client = lab.hold(20, 4, 6);
  if (replicate) {
    const auto t0 = std::chrono::steady_clock::now();
    CHECK(lbtest::wait_until(
        [&] {
          result.held_on_b = fwdlab::conntrack_held(fwdlab::show(lab.socket("b"), "replication"));
          return result.held_on_b >= 24;
        },
        5000ms, 5ms));
    result.stream_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  // a is gone; b takes the VIP and the SNAT address (vrrpd would, with gratuitous ARP: the
  // neighbour caches are flushed instead).
  lab.lab.set_link("a", false);
  REQUIRE(lab.lab
              .exec("b",
                    "ip addr add 192.0.2.10/24 dev eth0 && "
                    "ip addr add 198.51.100.254/24 dev eth0")
              .exit_code == 0);
  for (const char* host : {"client", "be1", "be2"}) lab.lab.exec(host, "ip neigh flush all");

  REQUIRE(client.wait_for(20000ms) == 0);
  for (const auto& f : lab.client_flows()) {
    ++result.flows;
    if (f.at("survived").get<bool>()) {
      ++result.survived;
      result.worst_pause_ms = std::max(result.worst_pause_ms, f.at("max_pause_ms").get<double>());
    }
    if (f.at("error").get<std::string>() == "ConnectionResetError") ++result.reset;
  }
  return result;
}

}  // namespace

TEST_CASE(
    "forward replication: flows established through the master survive on the standby with the "
    "entries lbd streamed, and reset without replication") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  for (const std::string algorithm : {"random", "maglev"}) {
    const auto with = run(true, algorithm);
    MESSAGE(
        fmt::format("{} with replication: {}/{} flows survived, b held {} entries {:.0f} ms "
                    "after the flows were up, worst pause {} ms, {} reset",
                    algorithm, with.survived, with.flows, with.held_on_b, with.stream_ms,
                    with.worst_pause_ms, with.reset));
    CHECK(with.flows == 24);
    CHECK(with.held_on_b >= 24);
    CHECK(with.survived == with.flows);
  }
  // random picks another backend half the time and a backend segment first meets no socket on
  // b: without the entries flows die.
  const auto without = run(false, "random");
  MESSAGE(fmt::format("random without replication: {}/{} flows survived, {} reset",
                      without.survived, without.flows, without.reset));
  CHECK(without.survived < without.flows);
  CHECK(without.reset > 0);
}
