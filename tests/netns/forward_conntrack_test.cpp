// Forward mode, the failover mechanism in namespaces: established TCP flows through node a (lbd's
// nftables table, SNAT to a backend-side address) keep running through node b after a's link
// goes down and b takes the VIP and the SNAT address, when b holds a's conntrack entries with
// their NAT binding (lbd::forward::Conntrack: dump on a, install on b), whatever the selector.
// The transport of the entries (replication) is not part of this test.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "lbd/forward/conntrack.hpp"
#include "tests/support/netns_lab.hpp"
#include "tests/support/text_file.hpp"

namespace {

using namespace std::chrono_literals;

// Runs `fn` on a thread that joined namespace `ns` (its netlink sockets live there).
void in_netns(const std::string& ns, const std::function<void()>& fn) {
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::setns(fd, CLONE_NEWNET) == 0);
    ::close(fd);
    fn();
  });
  t.join();
}

struct FailoverResult {
  int flows = 0;
  int survived = 0;
  int reset = 0;
  std::size_t copied = 0;
  double worst_pause_ms = 0;
};

FailoverResult run_failover(bool copy_conntrack, const std::string& algorithm) {
  FailoverResult result;
  char tmpl[] = "/tmp/lbpair-fwdct-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  lbtest::NetnsLab lab;
  lab.add_host("client", {"192.0.2.100/24"});
  lab.add_host("a", {"192.0.2.1/24", "198.51.100.1/24", "192.0.2.10/24", "198.51.100.254/24"});
  lab.add_host("b", {"192.0.2.2/24", "198.51.100.2/24"});
  lab.add_host("be1", {"198.51.100.11/24"});
  lab.add_host("be2", {"198.51.100.12/24"});
  const std::string script_dir = LBPAIR_SOURCE_DIR "/tests/netns/forward/";
  for (const auto& [host, address] :
       {std::pair{"be1", "198.51.100.11"}, {"be2", "198.51.100.12"}}) {
    lab.spawn(host, {"python3", script_dir + "backend.py", host, address, "8080"},
              dir + "/" + host + ".log");
  }
  const std::string conf = dir + "/lbd.toml";
  std::ofstream(conf) << R"([global]
workers = 1
[[listener]]
name = "fwd"
bind = "192.0.2.10:80"
mode = "forward"
pool = "app"
forward_slots = 1021
snat_address = "198.51.100.254"
[[pool]]
name = "app"
algorithm = ")" << algorithm
                      << R"("
[[pool.server]]
name = "be1"
address = "198.51.100.11:8080"
[[pool.server]]
name = "be2"
address = "198.51.100.12:8080"
)";
  for (const char* node : {"a", "b"}) {
    REQUIRE(lab.exec(node,
                     "sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 "
                     "net.ipv4.conf.eth0.send_redirects=0")
                .exit_code == 0);
    lab.spawn(node, {LBPAIR_BINARY_DIR "/lbd/lbd", "-c", conf},
              dir + "/lbd-" + std::string(node) + ".log");
  }
  for (const char* host : {"a", "b"}) {
    REQUIRE(lbtest::wait_until(
        [&] {
          return lab.exec(host, "nft list map ip lbpair svc0 | grep -q 198.51.100.12").exit_code ==
                 0;
        },
        10000ms, 50ms));
  }
  for (const char* host : {"be1", "be2"}) {
    REQUIRE(lbtest::wait_until(
        [&] { return lab.exec(host, "ss -Hltn 'sport = :8080' | grep -q LISTEN").exit_code == 0; },
        5000ms, 50ms));
  }

  const std::string ready = dir + "/ready";
  auto& client = lab.spawn(
      "client",
      {"python3", script_dir + "client.py", "hold", "192.0.2.10", "80", "20", "4", "6", ready},
      dir + "/client.log");
  REQUIRE(lbtest::wait_until([&] { return std::filesystem::exists(ready); }, 10000ms, 20ms));

  if (copy_conntrack) {
    std::vector<lbd::repl::CtEntry> entries;
    const std::vector<lb::Endpoint> vips{*lb::Endpoint::parse("192.0.2.10:80")};
    in_netns(lab.ns("a"), [&] {
      auto ct = lbd::forward::Conntrack::open();
      REQUIRE(ct);
      auto dumped = (*ct)->dump(vips);
      REQUIRE(dumped);
      entries = std::move(*dumped);
    });
    in_netns(lab.ns("b"), [&] {
      auto ct = lbd::forward::Conntrack::open();
      REQUIRE(ct);
      for (const auto& e : entries) {
        auto r = (*ct)->install(e);
        CHECK_MESSAGE(r.has_value(), (r ? "" : r.error().message));
      }
    });
    result.copied = entries.size();
  }
  // a is gone; b takes the VIP and the SNAT address (vrrpd would, with gratuitous ARP: the
  // neighbour caches are flushed instead).
  lab.set_link("a", false);
  REQUIRE(lab.exec("b",
                   "ip addr add 192.0.2.10/24 dev eth0 && "
                   "ip addr add 198.51.100.254/24 dev eth0")
              .exit_code == 0);
  for (const char* host : {"client", "be1", "be2"}) lab.exec(host, "ip neigh flush all");

  REQUIRE(client.wait_for(20000ms) == 0);
  const auto lines = lbtest::read_lines(dir + "/client.log");
  REQUIRE_FALSE(lines.empty());
  const auto flows = nlohmann::json::parse(lines.back());
  for (const auto& f : flows) {
    ++result.flows;
    if (f.at("survived").get<bool>()) {
      ++result.survived;
      result.worst_pause_ms = std::max(result.worst_pause_ms, f.at("max_pause_ms").get<double>());
    }
    if (f.at("error").get<std::string>() == "ConnectionResetError") ++result.reset;
  }
  lab.teardown();
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace

TEST_CASE(
    "forward conntrack: flows survive the move to a node that holds the entries with their NAT "
    "binding, and without them many reset") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  for (const std::string algorithm : {"maglev", "random"}) {
    const auto with = run_failover(true, algorithm);
    MESSAGE(fmt::format(
        "{} with entries: {}/{} flows survived, {} copied, worst pause {} ms, "
        "{} reset",
        algorithm, with.survived, with.flows, with.copied, with.worst_pause_ms, with.reset));
    CHECK(with.flows == 24);
    CHECK(with.copied >= 24);
    CHECK(with.survived == with.flows);
  }
  // Without entries it is a race: a client segment first is picked up mid-stream
  // (nf_conntrack_tcp_loose) and NATed afresh (the same backend with a hash of the 5-tuple, maybe
  // another with random); a backend segment first hits the SNAT address, which the new node owns
  // with no socket: a RST. Only the random case is asserted; the hashed one is reported.
  const auto hashed = run_failover(false, "maglev");
  MESSAGE(fmt::format("maglev without entries: {}/{} flows survived, {} reset", hashed.survived,
                      hashed.flows, hashed.reset));
  const auto random = run_failover(false, "random");
  MESSAGE(fmt::format("random without entries: {}/{} flows survived, {} reset", random.survived,
                      random.flows, random.reset));
  CHECK(random.survived < random.flows);
  CHECK(random.reset > 0);
}
