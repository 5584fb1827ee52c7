// The listening sockets workers share: accepted connections come out with TCP_NODELAY already on
// (lbd sets it once on the listener, not per connection), and one port serves every socket of a
// SO_REUSEPORT group.
#include "lbd/session/listen_socket.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

namespace {

/// Connects a blocking client socket to 127.0.0.1:`port`; -1 on failure.
int connect_port(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Accepts one pending connection from any of `listeners` within a second; -1 if none came.
int accept_any(const std::vector<lbd::proxy::ListenSocket>& listeners) {
  std::vector<pollfd> fds;
  for (const auto& l : listeners) fds.push_back({.fd = l.fd(), .events = POLLIN, .revents = 0});
  if (::poll(fds.data(), fds.size(), 1000) <= 0) return -1;
  for (const auto& p : fds) {
    if (p.revents & POLLIN) return ::accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
  }
  return -1;
}

}  // namespace

TEST_CASE("listen socket: accepted connections inherit TCP_NODELAY from the listener") {
  auto group =
      lbd::proxy::open_listen_group(*lb::Endpoint::parse("127.0.0.1:0"), 2, /*backlog=*/16);
  REQUIRE(group);
  REQUIRE(group->size() == 2);
  const auto port = lbd::proxy::local_endpoint((*group)[0].fd())->port;
  CHECK(lbd::proxy::local_endpoint((*group)[1].fd())->port == port);

  for (int i = 0; i < 4; ++i) {
    const int client = connect_port(port);
    REQUIRE(client >= 0);
    const int accepted = accept_any(*group);
    REQUIRE(accepted >= 0);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    REQUIRE(::getsockopt(accepted, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0);
    CHECK(nodelay == 1);
    ::close(accepted);
    ::close(client);
  }
}
