// lbd's lifecycle: reloads (in-process and by SIGHUP), a bad reload keeping the running config,
// SIGTERM draining open connections then exiting 0, the drain timeout.
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/lbd_harness.hpp"
#include "tests/support/notify_listener.hpp"
#include "tests/support/process.hpp"
#include "tests/support/text_file.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

std::string config(const std::string& backends_toml, const std::string& bind = "127.0.0.1:0",
                   const std::string& extra_listener = "", const std::string& global = "") {
  std::string s = fmt::format("[global]\nworkers = 2\nlog_level = \"info\"\n{}\n", global);
  s += fmt::format("[[listener]]\nname = \"l4\"\nbind = \"{}\"\nmode = \"tcp\"\npool = \"p\"\n",
                   bind);
  if (!extra_listener.empty()) {
    s +=
        fmt::format("[[listener]]\nname = \"extra\"\nbind = \"{}\"\nmode = \"tcp\"\npool = \"p\"\n",
                    extra_listener);
  }
  s += "[[pool]]\nname = \"p\"\n" + backends_toml;
  return s;
}

std::string servers(const std::vector<std::string>& addresses) {
  std::string s;
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    s += fmt::format("[[pool.server]]\nname = \"s{}\"\naddress = \"{}\"\n", i, addresses[i]);
  }
  return s;
}

bool ping(const lb::Endpoint& ep) {
  const int fd = connect_to(ep);
  if (fd < 0) return false;
  const bool ok = send_all(fd, "ping") && read_exact(fd, 4) == "ping";
  ::close(fd);
  return ok;
}

std::string free_address() { return dead_address(); }

bool can_connect(const lb::Endpoint& ep) {
  const int fd = connect_to(ep);
  if (fd >= 0) ::close(fd);
  return fd >= 0;
}

}  // namespace

TEST_CASE("reload: reloads under traffic lose no connection") {
  TestBackend a(TestBackend::echo()), b(TestBackend::echo());
  const auto one = config(servers({a.address()}));
  const auto two = config(servers({a.address(), b.address()}), "127.0.0.1:0", "127.0.0.1:0");
  InProcessLbd lbd(one);
  const auto ep = lbd.endpoint("l4");

  std::atomic<bool> stop{false};
  std::atomic<int> attempts{0}, successes{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&] {
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      for (int i = 0; i < 2000 && !stop && std::chrono::steady_clock::now() < deadline; ++i) {
        ++attempts;
        if (ping(ep)) ++successes;
      }
    });
  }
  int reloads = 0;
  for (int i = 0; i < 6; ++i) {
    REQUIRE(wait_until([&] { return attempts.load() >= 50 * (i + 1); }, 10s));
    CHECK(lbd.reload(i % 2 == 0 ? two : one));
    ++reloads;
  }
  stop = true;
  for (auto& t : clients) t.join();
  CHECK(reloads == 6);
  CHECK(attempts.load() >= 300);
  CHECK(successes.load() == attempts.load());
  CHECK(b.connections() > 0);  // the second config's server really took traffic
}

TEST_CASE("reload: a new listener is bound and a removed one is closed") {
  TestBackend a(TestBackend::echo());
  InProcessLbd lbd(config(servers({a.address()})));
  CHECK(lbd.server().bound("extra").empty());
  REQUIRE(lbd.reload(config(servers({a.address()}), "127.0.0.1:0", "127.0.0.1:0")));
  const auto extra = lbd.endpoint("extra");
  CHECK(ping(extra));
  REQUIRE(lbd.reload(config(servers({a.address()}))));
  CHECK(lbd.server().bound("extra").empty());
  CHECK(wait_until([&] { return !can_connect(extra); }, 3s));
  CHECK(ping(lbd.endpoint("l4")));
}

TEST_CASE("reload: an established connection survives a reload that removes its listener") {
  TestBackend a(TestBackend::echo());
  InProcessLbd lbd(config(servers({a.address()}), "127.0.0.1:0", "127.0.0.1:0"));
  const int fd = connect_to(lbd.endpoint("extra"));
  REQUIRE(send_all(fd, "one"));
  CHECK(read_exact(fd, 3) == "one");
  REQUIRE(lbd.reload(config(servers({a.address()}))));
  REQUIRE(send_all(fd, "two"));
  CHECK(read_exact(fd, 3) == "two");
  ::close(fd);
}

TEST_CASE("reload: a config with errors keeps the running config") {
  TestBackend a(TestBackend::echo());
  const auto good = config(servers({a.address()}));
  InProcessLbd lbd(good);
  const auto ep = lbd.endpoint("l4");
  // Syntax error, unknown pool, and an address another socket holds without SO_REUSEPORT.
  CHECK_FALSE(lbd.reload("[global\nworkers = 2\n"));
  CHECK_FALSE(lbd.reload(good + "[[listener]]\nname = \"x\"\nbind = \"127.0.0.1:0\"\n"
                                "mode = \"tcp\"\npool = \"nope\"\n"));
  CHECK_FALSE(lbd.reload(config(servers({a.address()}), "127.0.0.1:0", a.address())));
  CHECK(lbd.server().reloads_failed() == 3);
  CHECK(lbd.server().bound("extra").empty());
  CHECK(lbd.endpoint("l4") == ep);
  CHECK(ping(ep));
}

TEST_CASE("lifecycle: SIGTERM stops accepting, drains open connections, exits 0") {
  TestBackend a(TestBackend::echo());
  const auto addr = free_address();
  TempConfig cfg(config(servers({a.address()}), addr));
  const std::string log = cfg.path() + ".log";
  ChildProcess lbd({lbd_binary(), "-c", cfg.path()}, log);
  const auto ep = *lb::Endpoint::parse(addr);
  REQUIRE(wait_until([&] { return ping(ep); }, 10s));
  // Workers accept from inside Server::create; main() logs "started:" after it returns, so a
  // ping can succeed before the line is written.
  CHECK(wait_until([&] { return read_text(log).find("started: version=") != std::string::npos; },
                   5s));

  const int held = connect_to(ep);
  REQUIRE(send_all(held, "one"));
  REQUIRE(read_exact(held, 3) == "one");
  lbd.signal(SIGTERM);
  // New connections are refused once the acceptors are closed...
  CHECK(wait_until([&] { return !can_connect(ep); }, 5s));
  // ...while the open one keeps working, and lbd waits for it.
  REQUIRE(send_all(held, "two"));
  CHECK(read_exact(held, 3) == "two");
  CHECK(lbd.running());
  ::close(held);
  CHECK(lbd.wait_for(10000ms) == 0);
  CHECK(read_text(log).find("shutdown: done") != std::string::npos);
}

TEST_CASE("lifecycle: the drain timeout ends connections that do not finish") {
  TestBackend a(TestBackend::echo());
  const auto addr = free_address();
  TempConfig cfg(config(servers({a.address()}), addr, "", "drain_timeout = \"300ms\""));
  ChildProcess lbd({lbd_binary(), "-c", cfg.path()}, "");
  const auto ep = *lb::Endpoint::parse(addr);
  REQUIRE(wait_until([&] { return ping(ep); }, 10s));
  const int held = connect_to(ep);
  REQUIRE(send_all(held, "one"));
  REQUIRE(read_exact(held, 3) == "one");
  const auto start = std::chrono::steady_clock::now();
  lbd.signal(SIGTERM);
  CHECK(lbd.wait_for(5000ms) == 0);
  CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  CHECK(closed_by_peer(held, 2000ms));
  ::close(held);
}

TEST_CASE("lifecycle: SIGHUP reloads the config file, a bad file is logged and ignored") {
  TestBackend a(TestBackend::echo());
  const auto addr = free_address();
  const auto extra_addr = free_address();
  TempConfig cfg(config(servers({a.address()}), addr));
  const std::string log = cfg.path() + ".log";
  ChildProcess lbd({lbd_binary(), "-c", cfg.path()}, log);
  const auto ep = *lb::Endpoint::parse(addr);
  REQUIRE(wait_until([&] { return ping(ep); }, 10s));

  cfg.write("[global]\nworkers = 2\nbogus_key = 1\n");
  lbd.signal(SIGHUP);
  REQUIRE(wait_until(
      [&] { return read_text(log).find("keeping the running") != std::string::npos; }, 5s));
  CHECK(read_text(log).find("bogus_key") != std::string::npos);
  CHECK(ping(ep));

  cfg.write(config(servers({a.address()}), addr, extra_addr));
  lbd.signal(SIGHUP);
  const auto extra = *lb::Endpoint::parse(extra_addr);
  CHECK(wait_until([&] { return ping(extra); }, 5s));
  CHECK(ping(ep));
  lbd.signal(SIGTERM);
  CHECK(lbd.wait_for(10000ms) == 0);
}

TEST_CASE("lifecycle: systemd is told READY, RELOADING then READY, and STOPPING") {
  TestBackend a(TestBackend::echo());
  TempConfig cfg(config(servers({a.address()}), free_address()));
  NotifyListener notify(cfg.path() + ".notify");
  auto next = [&notify] { return notify.next(); };
  ChildProcess lbd({"env", "NOTIFY_SOCKET=" + notify.path(), lbd_binary(), "-c", cfg.path()}, "");
  CHECK(next() == "READY=1");
  lbd.signal(SIGHUP);
  CHECK(next() == "RELOADING=1");
  CHECK(next() == "READY=1");
  lbd.signal(SIGTERM);
  CHECK(next() == "STOPPING=1");
  CHECK(lbd.wait_for(10000ms) == 0);
}
