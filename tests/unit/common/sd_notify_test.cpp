#include "common/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <doctest/doctest.h>

TEST_CASE(
    "sd_notify: sends the state as one datagram to NOTIFY_SOCKET, and is a no-op without it") {
  const std::string path = "/tmp/lbpair-sdnotify-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  ::unsetenv("NOTIFY_SOCKET");
  CHECK_FALSE(lb::sd_notify("READY=1"));

  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  CHECK(lb::sd_notify("READY=1"));
  char buf[64] = {};
  const auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
  CHECK(std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0) == "READY=1");
  ::unsetenv("NOTIFY_SOCKET");
  ::close(fd);
  ::unlink(path.c_str());
}
