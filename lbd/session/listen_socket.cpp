#include "lbd/session/listen_socket.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "common/net/socket_options.hpp"

namespace lbd::proxy {

ListenSocket& ListenSocket::operator=(ListenSocket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.release();
  }
  return *this;
}

ListenSocket::~ListenSocket() {
  if (fd_ >= 0) ::close(fd_);
}

namespace {

lb::Result<ListenSocket> open_one(const lb::Endpoint& endpoint, int backlog) {
  const bool v6 = endpoint.address.is_v6();
  const std::string where = endpoint.to_string();
  ListenSocket sock(
      ::socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (sock.fd() < 0)
    return lb::fail(fmt::format("bind {}: socket: {}", where, std::strerror(errno)));
  int one = 1;
  ::setsockopt(sock.fd(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  for (auto r : {lb::net::set_reuse_port(sock.fd()), lb::net::set_freebind(sock.fd(), v6)}) {
    if (!r) return lb::fail(fmt::format("bind {}: {}", where, r.error().message));
  }
  // Accepted sockets inherit TCP_NODELAY from the listener (Linux copies the listener's TCP
  // state into each child): one setsockopt here instead of one per connection.
  if (auto r = lb::net::set_no_delay(sock.fd()); !r) {
    return lb::fail(fmt::format("bind {}: {}", where, r.error().message));
  }
  if (v6) {
    if (auto r = lb::net::set_v6_only(sock.fd()); !r) {
      return lb::fail(fmt::format("bind {}: {}", where, r.error().message));
    }
  }
  sockaddr_storage ss{};
  const auto len = endpoint.to_sockaddr(ss);
  if (::bind(sock.fd(), reinterpret_cast<const sockaddr*>(&ss), len) != 0) {
    return lb::fail(fmt::format("bind {}: {}", where, std::strerror(errno)));
  }
  if (::listen(sock.fd(), backlog) != 0) {
    return lb::fail(fmt::format("listen {}: {}", where, std::strerror(errno)));
  }
  return sock;
}

}  // namespace

lb::Result<lb::Endpoint> local_endpoint(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
    return lb::fail(fmt::format("getsockname: {}", std::strerror(errno)));
  }
  auto e = lb::Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
  if (!e) return lb::fail("getsockname: unsupported address family");
  return *e;
}

lb::Result<std::vector<ListenSocket>> open_listen_group(const lb::Endpoint& endpoint,
                                                        unsigned count, int backlog) {
  std::vector<ListenSocket> out;
  lb::Endpoint target = endpoint;
  for (unsigned i = 0; i < count; ++i) {
    auto s = open_one(target, backlog);
    if (!s) return std::unexpected(s.error());
    if (i == 0 && target.port == 0) {
      auto bound = local_endpoint(s->fd());
      if (!bound) return std::unexpected(bound.error());
      target.port = bound->port;
    }
    out.push_back(std::move(*s));
  }
  return out;
}

}  // namespace lbd::proxy
