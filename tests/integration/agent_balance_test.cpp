// algorithm = "agent" end to end: lbd polls a small HTTP agent beside each backend (each backend on
// its own 127.0.0.x, the agents on one port), and the agents' replies steer L4 traffic: weights
// change the shares, "drain" stops new picks, an unreachable agent keeps its last report.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/lbd_harness.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

/// A blocking HTTP agent on one address and port: every request gets "200 OK" with the current
/// reply as its body. Counts the requests it answered. Stops (and closes its port) on stop() or
/// destruction; every wait is bounded.
class HttpAgent {
 public:
  /// Binds `address`:`port` (port 0 = any); `ok()` is false when the bind failed.
  HttpAgent(const std::string& address, std::uint16_t port, std::string reply)
      : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_storage ss{};
    const auto len = lb::Endpoint{*lb::IpAddress::parse(address), port}.to_sockaddr(ss);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0 || ::listen(fd_, 64) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    socklen_t sl = sizeof ss;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &sl);
    port_ = lb::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss))->port;
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpAgent() { stop(); }

  bool ok() const { return fd_ >= 0; }
  std::uint16_t port() const { return port_; }
  int answered() const { return answered_.load(); }
  void set_reply(std::string reply) {
    std::lock_guard lock(mutex_);
    reply_ = std::move(reply);
  }
  /// Waits (at most 5 s) until `n` more requests than `since` were answered.
  bool wait_answered(int since, int n) const {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (answered() < since + n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }
  /// Closes the port: later polls are refused.
  void stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    thread_.join();
    ::close(fd_);
  }

 private:
  void serve() {
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      timeval tv{1, 0};
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::string request;
      char buf[1024];
      while (request.find("\r\n\r\n") == std::string::npos && request.size() < 8192) {
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      if (request.starts_with("GET /lb-agent HTTP/1.1\r\n")) {
        std::string body;
        {
          std::lock_guard lock(mutex_);
          body = reply_;
        }
        const auto response =
            fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                        body.size(), body);
        ::send(c, response.data(), response.size(), MSG_NOSIGNAL);
        ++answered_;
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::string reply_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

/// Opens `n` connections through the L4 listener one after the other and counts the backend
/// names they are greeted with.
std::map<std::string, int> shares(const lb::Endpoint& listener, int n) {
  std::map<std::string, int> seen;
  for (int i = 0; i < n; ++i) {
    const int fd = connect_to(listener);
    REQUIRE(fd >= 0);
    ++seen[read_line(fd)];
    ::close(fd);
  }
  return seen;
}

}  // namespace

TEST_CASE("agent balancing: HTTP agents' weights, drain and silence steer L4 traffic") {
  TestBackend a(TestBackend::hello("a"), "127.0.0.2");
  TestBackend b(TestBackend::hello("b"), "127.0.0.3");
  // The agents of both servers listen on one port (agent_port is per pool); a port free on
  // 127.0.0.2 is almost always free on 127.0.0.3 too: a few attempts at most.
  std::unique_ptr<HttpAgent> agent_a, agent_b;
  for (int attempt = 0; attempt < 5 && !(agent_b && agent_b->ok()); ++attempt) {
    agent_a = std::make_unique<HttpAgent>("127.0.0.2", 0, "300%");
    REQUIRE(agent_a->ok());
    agent_b = std::make_unique<HttpAgent>("127.0.0.3", agent_a->port(), "100%");
  }
  REQUIRE(agent_b->ok());

  const auto config = fmt::format(
      "[global]\nworkers = 1\nlog_level = \"error\"\n"
      "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"p\"\n"
      "[[pool]]\nname = \"p\"\nalgorithm = \"agent\"\nagent_type = \"http\"\n"
      "agent_path = \"/lb-agent\"\nagent_port = {}\nagent_interval = \"20ms\"\n"
      "agent_timeout = \"20ms\"\n"
      "[[pool.server]]\nname = \"a\"\naddress = \"{}\"\n"
      "[[pool.server]]\nname = \"b\"\naddress = \"{}\"\n",
      agent_a->port(), a.address(), b.address());
  InProcessLbd lbd(config);
  const auto listener = lbd.endpoint("l4");

  // Equal configured weights; the agents say 300 % and 100 %. Two answers each: the first
  // reply has been applied by the time the second is asked for.
  REQUIRE(agent_a->wait_answered(0, 2));
  REQUIRE(agent_b->wait_answered(0, 2));
  auto seen = shares(listener, 40);
  CHECK(seen["a"] >= 28);  // 30 by smooth weighted round robin over whole cycles of 4
  CHECK(seen["a"] <= 32);
  CHECK(seen["a"] + seen["b"] == 40);

  // drain: b keeps its open connections but gets no new ones.
  // Three answers after the change: one may have been sent before it, and lbd applies a reply
  // before it asks again, so the third proves the new reply is in effect.
  agent_b->set_reply("drain");
  REQUIRE(agent_b->wait_answered(agent_b->answered(), 3));
  seen = shares(listener, 20);
  CHECK(seen["a"] == 20);
  CHECK(seen["b"] == 0);

  // Back up, and then a's agent goes away: a keeps its last report (300 %), so the shares stay
  // 3:1 (as in HAProxy, reachability is for the health checks, not the agent).
  agent_b->set_reply("up");
  REQUIRE(agent_b->wait_answered(agent_b->answered(), 3));
  agent_a->stop();
  // b's agent is polled on the same interval: a few of its answers mean a's polls failed as often.
  REQUIRE(agent_b->wait_answered(agent_b->answered(), 4));
  seen = shares(listener, 40);
  CHECK(seen["a"] >= 28);
  CHECK(seen["a"] <= 32);
  CHECK(seen["a"] + seen["b"] == 40);
}
