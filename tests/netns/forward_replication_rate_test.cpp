// Forward mode, the replication pipeline's rate and memory in namespaces: N conntrack entries of
// the forward listener appear on the master at once (installed by the test through a netlink
// handle of its own, so lbd sees them as the traffic's events); lbd journals them, streams them
// over the replication channel, and lbd on the standby installs them. Reports entries per second
// until the master's stream holds them and until the standby committed them, and the resident
// memory each lbd gained per flow. A second case paces new entries at a steady rate and measures
// each entry's lag: from its creation on the master to the standby kernel's event for it.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sched.h>
#include <unistd.h>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/control/server.hpp"
#include "lbd/forward/conntrack.hpp"
#include "lbd/forward/ct_events.hpp"
#include "tests/netns/forward_lab.hpp"

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

// `show forward`, an empty object while lbd does not answer.
nlohmann::json forward_of(const std::string& socket) {
  auto r = fwdlab::show(socket, "forward");
  return r.is_object() ? r : nlohmann::json::object();
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

// Two lbd (a master, b standby) with the forward listener and replication, in sync.
struct ForwardPair {
  fwdlab::ForwardLab fwd{true};
  int pid[2] = {0, 0};

  ForwardPair() {
    pid[0] = fwd.start_lbd("a", {.replicate = true});
    pid[1] = fwd.start_lbd("b", {.replicate = true});
  }
  std::string socket(const std::string& node) const { return fwd.socket(node); }
  std::string ns(const std::string& node) const { return fwd.lab.ns(node); }

  bool in_sync() const {
    return lbtest::wait_until(
        [&] {
          const auto r = fwdlab::show(socket("b"), "replication");  // null until lbd answers
          return r.is_object() && r.value("in_sync", false);
        },
        10000ms, 50ms);
  }
};

}  // namespace

TEST_CASE("forward replication rate: entries streamed and committed per second, memory per flow") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  constexpr std::uint32_t kFlows = 20000;
  ForwardPair pair;
  REQUIRE(pair.in_sync());
  const long rss_a0 = rss_kib(pair.pid[0]);
  const long rss_b0 = rss_kib(pair.pid[1]);

  const auto t0 = std::chrono::steady_clock::now();
  std::size_t installed = 0;
  in_netns_rate(pair.ns("a"), [&] {
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
      [&] { return forward_of(pair.socket("a")).value("flows", 0ULL) >= kFlows; }, 30000ms, 10ms));
  tracked_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::uint64_t committed = 0;
  CHECK(lbtest::wait_until(
      [&] {
        committed = forward_of(pair.socket("b")).value("committed", 0ULL);
        return committed >= kFlows;
      },
      60000ms, 10ms));
  const double committed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const auto fa = forward_of(pair.socket("a"));
  const long rss_a1 = rss_kib(pair.pid[0]);
  const long rss_b1 = rss_kib(pair.pid[1]);
  auto held = pair.fwd.lab.exec("b", "conntrack -C").output;
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
}

namespace {

// The index rate_flow() gave an entry, from its original source address and port.
std::uint32_t flow_index(const lbd::repl::CtTuple& original) {
  const std::uint32_t host = (std::uint32_t{original.src[2]} << 8) | original.src[3];
  return host * 50000 + (original.sport - 10000);
}

using Clock = std::chrono::steady_clock;

// Watches the standby's kernel (in `ns`) for the NEW events of the entries its lbd installs and
// records when each flow index first appeared. Opens its socket before `ready` is set.
void watch_installs(const std::string& ns, std::vector<Clock::time_point>& seen,
                    std::atomic<bool>& ready, std::atomic<std::size_t>& count,
                    const std::atomic<bool>& stop, bool& overflow) {
  in_netns_rate(ns, [&] {
    auto events = lbd::forward::CtEvents::open(16u << 20);
    REQUIRE(events);
    ready = true;
    const std::vector<lb::Endpoint> vips = {*lb::Endpoint::parse("192.0.2.10:80")};
    while (!stop) {
      pollfd p{(*events)->fd(), POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const auto r = (*events)->read(vips, 256, [&](const lbd::forward::CtEvents::Event& ev) {
        const auto i = flow_index(ev.entry.original);
        if (!ev.ended && i < seen.size() && seen[i] == Clock::time_point{}) {
          seen[i] = Clock::now();
          ++count;
        }
      });
      overflow = overflow || r.overflow;
    }
  });
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

TEST_CASE(
    "forward replication lag: each new flow's time from the master's kernel to the "
    "standby's at 10,000 new flows per second") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  constexpr std::uint32_t kPerMs = 10;     // 10,000 new flows per second
  constexpr std::uint32_t kFlows = 20000;  // for two seconds
  ForwardPair pair;
  REQUIRE(pair.in_sync());

  std::vector<Clock::time_point> created(kFlows), seen(kFlows);
  std::atomic<bool> ready{false}, stop{false};
  std::atomic<std::size_t> count{0};
  bool overflow = false;
  std::thread watcher([&] { watch_installs(pair.ns("b"), seen, ready, count, stop, overflow); });
  REQUIRE(lbtest::wait_until([&] { return ready.load(); }, 5000ms, 1ms));

  std::size_t installed = 0;
  in_netns_rate(pair.ns("a"), [&] {
    auto ct = lbd::forward::Conntrack::open();
    REQUIRE(ct);
    const auto t0 = Clock::now();
    for (std::uint32_t i = 0; i < kFlows; ++i) {
      if (i % kPerMs == 0)
        std::this_thread::sleep_until(t0 + std::chrono::milliseconds(i / kPerMs));
      if ((*ct)->install(rate_flow(i))) ++installed;
      created[i] = Clock::now();
    }
  });
  const bool all_seen = lbtest::wait_until([&] { return count.load() >= kFlows; }, 30000ms, 5ms);
  stop = true;
  watcher.join();

  std::vector<double> lag_ms;
  for (std::uint32_t i = 0; i < kFlows; ++i) {
    if (seen[i] != Clock::time_point{}) {
      lag_ms.push_back(std::chrono::duration<double, std::milli>(seen[i] - created[i]).count());
    }
  }
  const double offered =
      kFlows / std::chrono::duration<double>(created.back() - created.front()).count();
  MESSAGE(
      fmt::format("{} new flows at {:.0f}/s: the standby's kernel had {} of them; lag p50 {:.1f} "
                  "ms, p99 {:.1f} "
                  "ms, max {:.1f} ms (watcher overflow: {})",
                  kFlows, offered, lag_ms.size(), percentile(lag_ms, 0.5), percentile(lag_ms, 0.99),
                  percentile(lag_ms, 1.0), overflow));
  CHECK(installed == kFlows);
  CHECK(all_seen);
  CHECK(lag_ms.size() == kFlows);
}
