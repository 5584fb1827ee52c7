// L4 (mode = "tcp") through a real lbd Server in this process: relay, half-close, retries,
// round robin, limits, idle timeout, IPv6 listener.
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <set>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/lbd_harness.hpp"
#include "tests/support/process.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

struct TcpConfig {
  std::vector<std::string> servers;  // addresses
  std::string bind = "127.0.0.1:0";
  unsigned workers = 1;
  unsigned retries = 2;
  std::string global_extra;
  std::string timeouts;
  std::string limits;
  std::string listener_extra;
  std::string pool_extra;
  std::string server_extra;

  std::string text() const {
    std::string s =
        fmt::format("[global]\nworkers = {}\nlog_level = \"warn\"\n{}\n", workers, global_extra);
    if (!timeouts.empty()) s += "[timeouts]\n" + timeouts + "\n";
    if (!limits.empty()) s += "[limits]\n" + limits + "\n";
    s += fmt::format(
        "[[listener]]\nname = \"l4\"\nbind = \"{}\"\nmode = \"tcp\"\npool = \"p\"\n{}\n"
        "[[pool]]\nname = \"p\"\nconnect_retries = {}\n{}\n",
        bind, listener_extra, retries, pool_extra);
    for (std::size_t i = 0; i < servers.size(); ++i) {
      s += fmt::format("[[pool.server]]\nname = \"s{}\"\naddress = \"{}\"\n{}\n", i, servers[i],
                       server_extra);
    }
    return s;
  }
};

/// Sends `data` on a second thread while this one reads everything back.
std::string echo_through(const lb::Endpoint& ep, const std::string& data) {
  const int fd = connect_to(ep);
  REQUIRE(fd >= 0);
  std::thread sender([&] {
    send_all(fd, data);
    ::shutdown(fd, SHUT_WR);
  });
  bool ok = false;
  auto back = read_to_eof(fd, &ok);
  sender.join();
  ::close(fd);
  CHECK(ok);
  return back;
}

}  // namespace

TEST_CASE("tcp: a 10 MiB transfer is relayed byte-exact with splice") {
  TestBackend backend(TestBackend::echo());
  TcpConfig c{.servers = {backend.address()}};
  InProcessLbd lbd(c.text());
  const auto data = random_bytes(10 * 1024 * 1024, 42);
  const auto back = echo_through(lbd.endpoint("l4"), data);
  CHECK(back.size() == data.size());
  CHECK(sha256_hex(back) == sha256_hex(data));
}

TEST_CASE("tcp: a 10 MiB transfer is relayed byte-exact with the read/write fallback") {
  TestBackend backend(TestBackend::echo());
  TcpConfig c{.servers = {backend.address()}, .global_extra = "splice = false"};
  InProcessLbd lbd(c.text());
  const auto data = random_bytes(10 * 1024 * 1024, 7);
  const auto back = echo_through(lbd.endpoint("l4"), data);
  CHECK(back.size() == data.size());
  CHECK(sha256_hex(back) == sha256_hex(data));
}

TEST_CASE("tcp: a client half-close reaches the backend and its reply still arrives") {
  for (const char* splice : {"true", "false"}) {
    CAPTURE(splice);
    TestBackend backend(TestBackend::count_then_reply());
    TcpConfig c{.servers = {backend.address()}, .global_extra = fmt::format("splice = {}", splice)};
    InProcessLbd lbd(c.text());
    const int fd = connect_to(lbd.endpoint("l4"));
    REQUIRE(fd >= 0);
    REQUIRE(send_all(fd, std::string(100000, 'x')));
    ::shutdown(fd, SHUT_WR);  // the backend only answers after our FIN
    bool ok = false;
    CHECK(read_to_eof(fd, &ok) == "count=100000\n");
    CHECK(ok);
    ::close(fd);
  }
}

TEST_CASE("tcp: a dead backend is skipped and every connection reaches the live one") {
  TestBackend alive(TestBackend::hello("alive"));
  TcpConfig c{.servers = {dead_address(), alive.address()}, .retries = 1};
  InProcessLbd lbd(c.text());
  for (int i = 0; i < 6; ++i) {
    const int fd = connect_to(lbd.endpoint("l4"));
    REQUIRE(fd >= 0);
    CHECK(read_line(fd) == "alive");
    ::close(fd);
  }
  CHECK(alive.connections() == 6);
}

TEST_CASE("tcp: without retries a connection that picks the dead backend is closed") {
  TestBackend alive(TestBackend::hello("alive"));
  TcpConfig c{.servers = {dead_address(), alive.address()}, .retries = 0};
  InProcessLbd lbd(c.text());
  int served = 0;
  int closed = 0;
  for (int i = 0; i < 4; ++i) {
    const int fd = connect_to(lbd.endpoint("l4"));
    REQUIRE(fd >= 0);
    if (read_line(fd) == "alive") {
      ++served;
    } else {
      ++closed;
    }
    ::close(fd);
  }
  // One worker, round robin over two servers: exactly every other connection hits the dead one.
  CHECK(served == 2);
  CHECK(closed == 2);
}

TEST_CASE("tcp: round robin spreads 30 connections 10/10/10 over three backends") {
  TestBackend a(TestBackend::hello("a")), b(TestBackend::hello("b")), c3(TestBackend::hello("c"));
  TcpConfig c{.servers = {a.address(), b.address(), c3.address()}};
  InProcessLbd lbd(c.text());
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) {
    const int fd = connect_to(lbd.endpoint("l4"));
    REQUIRE(fd >= 0);
    ++seen[read_line(fd)];
    ::close(fd);
  }
  CHECK(seen == std::map<std::string, int>{{"a", 10}, {"b", 10}, {"c", 10}});
}

TEST_CASE("tcp: a listener's max_connections refuses the connection over the limit") {
  TestBackend backend(TestBackend::echo());
  TcpConfig c{
      .servers = {backend.address()}, .workers = 2, .listener_extra = "max_connections = 2"};
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("l4");
  const int a = connect_to(ep), b = connect_to(ep);
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  for (int fd : {a, b}) {
    REQUIRE(send_all(fd, "ping"));
    CHECK(read_exact(fd, 4) == "ping");
  }
  const int refused = connect_to(ep);
  REQUIRE(refused >= 0);
  CHECK(closed_by_peer(refused, 3000ms));
  ::close(refused);
  ::close(a);
  // Once a slot is free again a new connection is served.
  REQUIRE(wait_until([&] { return lbd.server().active_connections() == 1; }, 3000ms));
  const int again = connect_to(ep);
  REQUIRE(send_all(again, "pong"));
  CHECK(read_exact(again, 4) == "pong");
  ::close(again);
  ::close(b);
}

TEST_CASE("tcp: the global max_connections refuses the connection over the limit") {
  TestBackend backend(TestBackend::echo());
  TcpConfig c{.servers = {backend.address()}, .limits = "max_connections = 1"};
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("l4");
  const int a = connect_to(ep);
  REQUIRE(send_all(a, "ping"));
  CHECK(read_exact(a, 4) == "ping");
  const int refused = connect_to(ep);
  CHECK(closed_by_peer(refused, 3000ms));
  ::close(refused);
  ::close(a);
}

TEST_CASE("tcp: a server's max_connections sends the next connection to another server") {
  TestBackend a(TestBackend::hello("a")), b(TestBackend::hello("b"));
  TcpConfig c{.servers = {a.address(), b.address()}, .server_extra = "max_connections = 1"};
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("l4");
  const int first = connect_to(ep), second = connect_to(ep);
  std::set<std::string> names{read_line(first), read_line(second)};
  CHECK(names == std::set<std::string>{"a", "b"});
  // Both servers are full: the third connection finds no backend and is closed.
  const int third = connect_to(ep);
  CHECK(closed_by_peer(third, 3000ms));
  for (int fd : {first, second, third}) ::close(fd);
}

TEST_CASE("tcp: a silent connection is closed after the idle timeouts") {
  TestBackend backend(TestBackend::echo());
  TcpConfig c{.servers = {backend.address()},
              .timeouts = "client_idle = \"200ms\"\nserver_idle = \"200ms\""};
  InProcessLbd lbd(c.text());
  const int fd = connect_to(lbd.endpoint("l4"));
  REQUIRE(send_all(fd, "ping"));
  CHECK(read_exact(fd, 4) == "ping");
  const auto start = std::chrono::steady_clock::now();
  CHECK(closed_by_peer(fd, 3000ms));
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  ::close(fd);
}

TEST_CASE("tcp: an IPv6 listener on [::1] relays to an IPv4 backend") {
  const int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_addr = in6addr_loopback;
  const bool has_v6 = ::bind(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(probe);
  if (!has_v6) {
    MESSAGE("skipped: ::1 is not available here");
    return;
  }
  TestBackend backend(TestBackend::echo());
  TcpConfig c{.servers = {backend.address()}, .bind = "[::1]:0", .workers = 2};
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("l4");
  CHECK(ep.address.is_v6());
  const auto back = echo_through(ep, "hello over IPv6");
  CHECK(back == "hello over IPv6");
}

TEST_CASE("server: one config serves a mode=tcp and a mode=http listener side by side") {
  TestBackend echo(TestBackend::echo());
  TestBackend origin([](int fd) {  // one HTTP/1.1 answer per connection, after the request head
    std::string head;
    char c;
    while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &c, 1, 0) == 1) {
      head.push_back(c);
    }
    send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
  });
  TcpConfig c{.servers = {echo.address()}};
  const std::string text =
      c.text() + fmt::format(
                     "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nmode = \"http\"\n"
                     "pool = \"h\"\n[[pool]]\nname = \"h\"\n[[pool.server]]\nname = \"o\"\n"
                     "address = \"{}\"\n",
                     origin.address());
  InProcessLbd lbd(text);
  CHECK(echo_through(lbd.endpoint("l4"), "bytes over L4") == "bytes over L4");
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  send_all(fd, "GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n");
  bool ok = false;
  const auto reply = read_to_eof(fd, &ok);
  ::close(fd);
  CHECK(reply.starts_with("HTTP/1.1 200"));
  CHECK(reply.ends_with("\r\n\r\nok"));
}
