// Forward mode, the replication pipeline's rate and memory in namespaces: N conntrack entries of
// the forward listener appear on the master at once (installed by the test through a netlink
// handle of its own, so lbd sees them as the traffic's events); lbd journals them, streams them
// over the replication channel, and lbd on the standby installs them. Reports entries per second
// until the master's stream holds them and until the standby committed them, and the resident
// memory each lbd gained per flow.
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

#include "common/control/server.hpp"
#include "lbd/forward/conntrack.hpp"
#include "tests/support/netns_lab.hpp"

namespace {

using namespace std::chrono_literals;

void in_netns_rate(const std::string& ns, const std::function<void()>& fn) {
  std::thread t([&] {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(::setns(fd, CLONE_NEWNET) == 0);
    ::close(fd);
    fn();
  });
  t.join();
}

nlohmann::json forward_of(const std::string& socket) {
  auto r = lb::control::request(socket, {{"cmd", "show forward"}}, 2000ms);
  if (!r) return {};
  return (*r)["forward"];
}

long rss_kib(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  }
  return -1;
}

// Flow i: client 10.(i/60000).x.y:port -> VIP 192.0.2.10:80, DNATed to 198.51.100.11:8080 and
// SNATed to 198.51.100.254, established.
lbd::repl::CtEntry rate_flow(std::uint32_t i) {
  lbd::repl::CtEntry e;
  const std::uint32_t host = i / 50000;
  const auto port = static_cast<std::uint16_t>(10000 + i % 50000);
  e.original = {{10, 1, static_cast<std::uint8_t>(host >> 8), static_cast<std::uint8_t>(host)},
                {192, 0, 2, 10},
                port,
                80};
  e.reply = {{198, 51, 100, 11}, {198, 51, 100, 254}, 8080, port};
  e.tcp_state = 3;
  e.wscale_original = 7;
  e.wscale_reply = 7;
  e.timeout_s = 600;
  return e;
}

}  // namespace

TEST_CASE("forward replication rate: entries streamed and committed per second, memory per flow") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  constexpr std::uint32_t kFlows = 20000;
  char tmpl[] = "/tmp/lbpair-fwdrate-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  lbtest::NetnsLab lab;
  lab.add_host("a", {"192.0.2.1/24", "198.51.100.1/24", "192.0.2.10/24", "198.51.100.254/24"});
  lab.add_host("b", {"192.0.2.2/24", "198.51.100.2/24"});
  int pid[2] = {0, 0};
  for (const std::string node : {"a", "b"}) {
    const bool a = node == "a";
    const std::string conf = dir + "/lbd-" + node + ".toml";
    std::ofstream(conf) << fmt::format(R"([global]
workers = 1
control_socket = "{0}/lbd-{1}.sock"
[[listener]]
name = "fwd"
bind = "192.0.2.10:80"
mode = "forward"
pool = "app"
forward_slots = 1021
snat_address = "198.51.100.254"
[[pool]]
name = "app"
[[pool.server]]
name = "be1"
address = "198.51.100.11:8080"
[replication]
node_id = "{1}"
peer_id = "{2}"
listen = "{3}:7100"
peer = "{4}:7100"
secret = "forward-replication-test-secret-0123456789"
reconnect_interval = "100ms"
)",
                                       dir, node, a ? "b" : "a", a ? "192.0.2.1" : "192.0.2.2",
                                       a ? "192.0.2.2" : "192.0.2.1");
    pid[a ? 0 : 1] =
        lab.spawn(node, {LBPAIR_BINARY_DIR "/lbd/lbd", "-c", conf}, dir + "/lbd-" + node + ".log")
            .pid();
  }
  REQUIRE(lbtest::wait_until(
      [&] {
        auto r = lb::control::request(dir + "/lbd-b.sock", {{"cmd", "show replication"}}, 1000ms);
        return r && (*r)["replication"].value("in_sync", false);
      },
      10000ms, 50ms));
  const long rss_a0 = rss_kib(pid[0]);
  const long rss_b0 = rss_kib(pid[1]);

  const auto t0 = std::chrono::steady_clock::now();
  std::size_t installed = 0;
  in_netns_rate(lab.ns("a"), [&] {
    auto ct = lbd::forward::Conntrack::open();
    REQUIRE(ct);
    for (std::uint32_t i = 0; i < kFlows; ++i) {
      if ((*ct)->install(rate_flow(i))) ++installed;
    }
  });
  const double install_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(installed == kFlows);
  double tracked_s = 0;
  CHECK(lbtest::wait_until(
      [&] { return forward_of(dir + "/lbd-a.sock").value("flows", 0ULL) >= kFlows; }, 30000ms,
      10ms));
  tracked_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::uint64_t committed = 0;
  CHECK(lbtest::wait_until(
      [&] {
        committed = forward_of(dir + "/lbd-b.sock").value("committed", 0ULL);
        return committed >= kFlows;
      },
      60000ms, 10ms));
  const double committed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto fa = forward_of(dir + "/lbd-a.sock");
  const long rss_a1 = rss_kib(pid[0]);
  const long rss_b1 = rss_kib(pid[1]);
  auto held = lab.exec("b", "conntrack -C").output;
  while (!held.empty() && held.back() == '\n') held.pop_back();
  MESSAGE(fmt::format(
      "{} entries: installed on a in {:.2f} s ({:.0f}/s); a's stream held them after {:.2f} s; "
      "b committed {} after {:.2f} s ({:.0f}/s end to end); b's kernel holds {} entries; "
      "a overflows={} reconciles={}; RSS a +{} KiB ({:.0f} B/flow), b +{} KiB ({:.0f} B/flow)",
      kFlows, install_s, kFlows / install_s, tracked_s, committed, committed_s,
      kFlows / committed_s, held, fa.value("overflows", 0ULL), fa.value("reconciles", 0ULL),
      rss_a1 - rss_a0, (rss_a1 - rss_a0) * 1024.0 / kFlows, rss_b1 - rss_b0,
      (rss_b1 - rss_b0) * 1024.0 / kFlows));
  CHECK(committed >= kFlows);
  lab.teardown();
  std::filesystem::remove_all(dir);
}
