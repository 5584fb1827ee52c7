#include "common/net/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78  // linux/in6.h; glibc 2.36 does not export it
#endif

namespace lb::net {
namespace {
Result<void> set_int_option(int fd, int level, int name, const char* what) {
  int one = 1;
  if (::setsockopt(fd, level, name, &one, sizeof one) != 0) {
    return fail(fmt::format("setsockopt({}): {}", what, std::strerror(errno)));
  }
  return {};
}
}  // namespace

Result<void> set_reuse_port(int fd) {
  return set_int_option(fd, SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT");
}

Result<void> set_freebind(int fd, bool ipv6) {
  if (ipv6) return set_int_option(fd, IPPROTO_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND");
  return set_int_option(fd, IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND");
}

Result<void> set_no_delay(int fd) {
  return set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY");
}

Result<void> set_v6_only(int fd) {
  return set_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY");
}

}  // namespace lb::net
