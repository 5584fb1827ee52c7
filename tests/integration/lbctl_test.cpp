// lbctl against a running lbd (in-process, loopback): listings, runtime drain / disable / weight
// observed in real traffic, overrides across a reload, errors and exit codes, --json, and the
// vrrp_state reports that set the node role.
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <optional>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/control/server.hpp"
#include "tests/integration/health_test_backend.hpp"
#include "tests/integration/lbd_harness.hpp"
#include "tests/support/process.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

// A backend that says its name, then echoes: a connection shows where it landed and can keep
// exchanging bytes afterwards (an "existing connection" that must go on).
TestBackend::Handler named_echo(std::string name) {
  return [name](int fd) {
    if (!send_all(fd, name + "\n")) return;
    char buf[4096];
    while (true) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return;
      if (!send_all(fd, std::string_view(buf, static_cast<std::size_t>(n)))) return;
    }
  };
}

// A fresh directory for the control socket (unix socket paths are short: /tmp, not the build).
struct SocketDir {
  SocketDir() {
    char tmpl[] = "/tmp/lbctl-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
  }
  ~SocketDir() { std::filesystem::remove_all(dir); }
  std::string path() const { return dir + "/lbd.sock"; }
  std::string dir;
};

std::string config(const std::string& socket, const std::string& be1, const std::string& be2,
                   const std::string& extra = "") {
  return fmt::format(R"(
[global]
workers = 1
control_socket = "{}"
[[listener]]
name = "l4"
bind = "127.0.0.1:0"
mode = "tcp"
pool = "web"
[[pool]]
name = "web"
algorithm = "round_robin"
[[pool.server]]
name = "be1"
address = "{}"
[[pool.server]]
name = "be2"
address = "{}"
{}
)",
                     socket, be1, be2, extra);
}

std::string lbctl_binary() { return std::string(LBPAIR_BINARY_DIR) + "/lbctl/lbctl"; }

CommandResult lbctl(const std::string& socket, const std::string& args) {
  return run_command(fmt::format("{} --lbd-socket {} {} 2>&1", lbctl_binary(), socket, args));
}

// One new connection through lbd: the backend's name, and the open fd (caller closes).
std::string land(const lb::Endpoint& ep, int* keep = nullptr) {
  const int fd = connect_to(ep);
  if (fd < 0) return "connect failed";
  auto name = read_line(fd);
  if (keep != nullptr) {
    *keep = fd;
  } else {
    ::close(fd);
  }
  return name;
}

std::map<std::string, int> spread(const lb::Endpoint& ep, int n) {
  std::map<std::string, int> count;
  for (int i = 0; i < n; ++i) ++count[land(ep)];
  return count;
}

}  // namespace

TEST_CASE("lbctl: show servers lists every server with its state") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  const auto r = lbctl(dir.path(), "show servers");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("POOL  SERVER  ADDRESS") == 0);
  CHECK(r.output.find("web   be1     " + b1.address() + "  up") != std::string::npos);
  CHECK(r.output.find("web   be2     " + b2.address() + "  up") != std::string::npos);
}

TEST_CASE("lbctl: --json output parses and carries pools, servers and weights") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  const auto r = run_command(
      fmt::format("{} --json --lbd-socket {} show servers web", lbctl_binary(), dir.path()));
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output);
  CHECK(j["ok"] == true);
  REQUIRE(j["pools"].size() == 1);
  CHECK(j["pools"][0]["name"] == "web");
  CHECK(j["pools"][0]["servers"][1]["name"] == "be2");
  CHECK(j["pools"][0]["servers"][1]["weight"] == 1);
  CHECK(j["pools"][0]["servers"][1]["state"] == "up");
}

TEST_CASE("lbctl: an unknown server or pool exits 1 with the daemon's message") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  auto r = lbctl(dir.path(), "server drain web/x");
  CHECK(r.exit_code == 1);
  CHECK(r.output == "lbctl: lbd: no server web/x in pool web\n");
  r = lbctl(dir.path(), "show servers nopool");
  CHECK(r.exit_code == 1);
  CHECK(r.output == "lbctl: lbd: no pool nopool\n");
  r = lbctl(dir.path(), "server drain be1");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("usage: lbctl server drain POOL/SERVER") != std::string::npos);
}

TEST_CASE("lbctl: a missing socket exits 1 naming the path") {
  SocketDir dir;
  const auto r = lbctl(dir.path(), "show servers");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("lbctl: cannot reach lbd at " + dir.path()) == 0);
}

TEST_CASE("lbctl: drain sends new connections elsewhere while an open one goes on") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  const auto ep = lbd.endpoint("l4");
  // An open connection on be1 (round robin: one of the first two lands there).
  int open_fd = -1;
  for (int i = 0; i < 4 && open_fd < 0; ++i) {
    int fd = -1;
    if (land(ep, &fd) == "be1") {
      open_fd = fd;
    } else {
      ::close(fd);
    }
  }
  REQUIRE(open_fd >= 0);
  const auto r = lbctl(dir.path(), "server drain web/be1");
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("be1: state=drain") == 0);
  // Snapshots reach the worker asynchronously: wait (bounded) until a new connection avoids be1.
  REQUIRE(wait_until([&] { return land(ep) == "be2"; }, 2000ms));
  CHECK(spread(ep, 10) == std::map<std::string, int>{{"be2", 10}});
  // The connection opened before the drain still works.
  REQUIRE(send_all(open_fd, "still here\n"));
  CHECK(read_line(open_fd) == "still here");
  const auto shown = lbctl(dir.path(), "show servers");
  CHECK(shown.output.find("be1     " + b1.address() + "  drain*") != std::string::npos);
  ::close(open_fd);
}

TEST_CASE("lbctl: disable takes a server out of traffic and enable brings it back") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  const auto ep = lbd.endpoint("l4");
  CHECK(lbctl(dir.path(), "server disable web/be2").exit_code == 0);
  REQUIRE(wait_until(
      [&] {
        return spread(ep, 2) == std::map<std::string, int>{{"be1", 2}};
      },
      2000ms));
  CHECK(spread(ep, 6) == std::map<std::string, int>{{"be1", 6}});
  CHECK(lbctl(dir.path(), "server enable web/be2").exit_code == 0);
  REQUIRE(wait_until([&] { return spread(ep, 2).contains("be2"); }, 2000ms));
}

TEST_CASE("lbctl: weight 3 against 1 gives a 6 to 2 split over 8 round-robin connections") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  const auto ep = lbd.endpoint("l4");
  CHECK(lbctl(dir.path(), "server weight web/be1 3").exit_code == 0);
  // The worker rebuilds its balancer from the new snapshot; poll until the split shows, then
  // check whole cycles (smooth weighted round robin: exactly 3 of 4 per cycle).
  REQUIRE(wait_until(
      [&] {
        return spread(ep, 4) == std::map<std::string, int>{{"be1", 3}, {"be2", 1}};
      },
      2000ms));
  CHECK(spread(ep, 8) == std::map<std::string, int>{{"be1", 6}, {"be2", 2}});
  const auto j = nlohmann::json::parse(
      run_command(fmt::format("{} --json --lbd-socket {} show servers", lbctl_binary(), dir.path()))
          .output);
  CHECK(j["pools"][0]["servers"][0]["weight"] == 3);
  CHECK(j["pools"][0]["servers"][0]["overrides"]["weight"] == 3);
}

TEST_CASE("lbctl: runtime overrides survive a reload by name and steer traffic after it") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  const auto text = config(dir.path(), b1.address(), b2.address());
  InProcessLbd lbd(text);
  const auto ep = lbd.endpoint("l4");
  CHECK(lbctl(dir.path(), "server maint web/be1").exit_code == 0);
  const auto reload = lbctl(dir.path(), "reload");
  CHECK(reload.exit_code == 0);
  CHECK(reload.output == "ok\n");
  CHECK(lbd.server().reloads_ok() == 1);
  const auto shown = lbctl(dir.path(), "show servers");
  CHECK(shown.output.find("maint*") != std::string::npos);
  REQUIRE(wait_until(
      [&] {
        return spread(ep, 2) == std::map<std::string, int>{{"be2", 2}};
      },
      2000ms));
  CHECK(spread(ep, 6) == std::map<std::string, int>{{"be2", 6}});
}

TEST_CASE("lbctl: a refused reload exits 1 with the config error and keeps the running config") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  lbd.config().write("[global]\nworkerz = 1\n");
  const auto r = lbctl(dir.path(), "reload");
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("lbctl: lbd: reload refused:") == 0);
  CHECK(r.output.find("workerz") != std::string::npos);
  CHECK(lbd.server().reloads_failed() == 1);
  CHECK(lbctl(dir.path(), "show servers").exit_code == 0);
}

TEST_CASE("lbctl: health is ok, then degraded naming the pool when no server is left") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  CHECK(lbctl(dir.path(), "health").output == "health: ok\n");
  CHECK(lbctl(dir.path(), "server disable web/be1").exit_code == 0);
  CHECK(lbctl(dir.path(), "server disable web/be2").exit_code == 0);
  const auto r = lbctl(dir.path(), "health");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "health: degraded\n  pool web: no server available\n");
}

TEST_CASE("control socket: vrrp_state reports set the roles and the replication role") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address(), R"(
[replication]
node_id = "node-a"
peer_id = "node-b"
listen = "127.0.0.1:0"
peer = "127.0.0.1:1"
secret = "integration-test-secret-0123456789abcdef"
)"));
  auto before = lb::control::request(dir.path(), {{"cmd", "show replication"}}, 2000ms);
  REQUIRE(before);
  CHECK((*before)["replication"]["enabled"] == true);
  CHECK((*before)["replication"]["role"] == "unknown");
  CHECK((*before)["replication"]["connected"] == false);
  // What vrrpd sends on every transition (vrrpd/daemon.cpp tell_lbd).
  auto sent = lb::control::request(dir.path(),
                                   {{"cmd", "vrrp_state"},
                                    {"instance", "web4"},
                                    {"vrid", 51},
                                    {"interface", "eth0"},
                                    {"state", "master"},
                                    {"from", "backup"},
                                    {"reason", "no advert"}},
                                   2000ms);
  REQUIRE(sent);
  CHECK((*sent)["ok"] == true);
  CHECK((*sent)["role"] == "master");
  auto after = lb::control::request(dir.path(), {{"cmd", "show replication"}}, 2000ms);
  REQUIRE(after);
  CHECK((*after)["replication"]["role"] == "master");
  const auto roles = lbctl(dir.path(), "show roles");
  CHECK(roles.exit_code == 0);
  CHECK(roles.output.find("node role: master") == 0);
  CHECK(roles.output.find("web4      51    eth0       master  backup  no advert") !=
        std::string::npos);
  const auto repl = lbctl(dir.path(), "show replication");
  CHECK(repl.output.find(
            "replication: node=node-a peer=- (-) connected=no in_sync=no role=master") == 0);
  // A malformed report is refused, not half-applied.
  auto bad = lb::control::request(dir.path(), {{"cmd", "vrrp_state"}, {"vrid", 51}}, 2000ms);
  REQUIRE(bad);
  CHECK((*bad)["ok"] == false);
}

TEST_CASE(
    "control socket: a node back from a fault is not ready until a health check started after "
    "its return has answered") {
  SocketDir dir;
  HealthTestBackend be;
  // Every check takes 1.5 s: a round begun at the return lasts at least that long, whenever the
  // report arrives between checks.
  be.slow_delay = std::chrono::milliseconds(1500);
  be.set_mode(HealthTestBackend::Mode::slow);
  InProcessLbd lbd(fmt::format(R"(
[global]
workers = 1
control_socket = "{}"
[[listener]]
name = "l4"
bind = "127.0.0.1:0"
mode = "tcp"
pool = "web"
[[pool]]
name = "web"
[pool.health]
type = "http"
path = "/"
interval = "200ms"
timeout = "5s"
[[pool.server]]
name = "be1"
address = "{}"
)",
                               dir.path(), be.endpoint().to_string()));
  // The readiness as the watch answer carries it (what vrrpd's preempt gate reads).
  const auto ready = [&dir]() -> std::optional<nlohmann::json> {
    auto r = lb::control::request(dir.path(), {{"cmd", "watch"}}, 2000ms);
    if (!r || !r->contains("ready")) return std::nullopt;
    return *r;
  };
  const auto wait_ready = [&](bool want, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
      if (auto r = ready(); r && (*r)["ready"] == want) return *r;
      std::this_thread::sleep_for(20ms);
    }
    return nlohmann::json();
  };
  REQUIRE(wait_ready(true, 10s)["ready"] == true);  // the first round
  auto sent = lb::control::request(dir.path(),
                                   {{"cmd", "vrrp_state"},
                                    {"instance", "web4"},
                                    {"vrid", 51},
                                    {"interface", "eth0"},
                                    {"state", "backup"},
                                    {"from", "fault"},
                                    {"reason", "tracking up"}},
                                   2000ms);
  REQUIRE(sent);
  REQUIRE((*sent)["ok"] == true);
  const auto held = wait_ready(false, 1000ms);
  REQUIRE(held.contains("reasons"));
  CHECK(held["reasons"].dump().find("pool web: health-check round not done") != std::string::npos);
  CHECK(wait_ready(true, 10s)["ready"] == true);  // once a fresh check answered
  // A report that is not a return from a fault starts no round.
  sent = lb::control::request(dir.path(),
                              {{"cmd", "vrrp_state"},
                               {"instance", "web4"},
                               {"vrid", 51},
                               {"interface", "eth0"},
                               {"state", "master"},
                               {"from", "backup"},
                               {"reason", "no advert"}},
                              2000ms);
  REQUIRE(sent);
  for (int i = 0; i < 10; ++i) {
    const auto r = ready();
    REQUIRE(r);
    CHECK((*r)["ready"] == true);
    std::this_thread::sleep_for(20ms);
  }
}

TEST_CASE("control socket: show conns lists a live proxied connection, bounded by the limit") {
  SocketDir dir;
  TestBackend b1(named_echo("be1")), b2(named_echo("be2"));
  InProcessLbd lbd(config(dir.path(), b1.address(), b2.address()));
  int fd1 = -1, fd2 = -1;
  land(lbd.endpoint("l4"), &fd1);
  land(lbd.endpoint("l4"), &fd2);
  REQUIRE(wait_until([&] { return lbd.server().conn_table().local_size() == 2; }, 2000ms));
  const auto r = run_command(
      fmt::format("{} --json --limit 1 --lbd-socket {} show conns", lbctl_binary(), dir.path()));
  REQUIRE(r.exit_code == 0);
  const auto j = nlohmann::json::parse(r.output);
  CHECK(j["local"] == 2);
  CHECK(j["shown"] == 1);
  CHECK(j["truncated"] == true);
  CHECK(j["connections"][0]["listener"] == "l4");
  CHECK(j["connections"][0]["pool"] == "web");
  ::close(fd1);
  ::close(fd2);
}
