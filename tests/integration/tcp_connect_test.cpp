// The upstream connect of an L4 session: a backend that never completes the handshake ends in the
// connect timeout and the retry serves the client from another backend.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/lbd_harness.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

/// A listening socket whose accept queue is full and never drained: Linux drops further SYNs,
/// so a connect to it neither succeeds nor fails until the connector gives up.
class StuckListener {
 public:
  StuckListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 0) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    // backlog 0 queues one connection; two more non-blocking connects fill whatever is left.
    for (int i = 0; i < 3; ++i) {
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(c);
    }
  }
  ~StuckListener() {
    for (int c : fillers_) ::close(c);
    ::close(fd_);
  }
  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

}  // namespace

TEST_CASE("tcp: a backend that never answers the handshake times out and the retry serves") {
  StuckListener stuck;
  TestBackend good(TestBackend::hello("good"));
  const auto config = fmt::format(
      "[global]\nworkers = 1\nlog_level = \"error\"\n[timeouts]\nconnect = \"200ms\"\n"
      "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"p\"\n"
      "[[pool]]\nname = \"p\"\nconnect_retries = 1\n"
      "[[pool.server]]\nname = \"stuck\"\naddress = \"{}\"\n"
      "[[pool.server]]\nname = \"good\"\naddress = \"{}\"\n",
      stuck.address(), good.address());
  InProcessLbd lbd(config);
  // Round robin: of two connections, one tries the stuck server first.
  for (int i = 0; i < 2; ++i) {
    const auto started = std::chrono::steady_clock::now();
    const int fd = connect_to(lbd.endpoint("l4"));
    REQUIRE(fd >= 0);
    CHECK(read_line(fd) == "good");
    ::close(fd);
    CHECK(std::chrono::steady_clock::now() - started < 3s);  // the timeout, not a SYN retry
  }
}
