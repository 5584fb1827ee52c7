// The worker's client registry on real loopback sockets: shutting down the sessions of one local
// address ends them (the client sees end of file), leaves the others alone, and never touches a
// descriptor that now belongs to another connection.
#include "lbd/session/client_registry.hpp"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/asio.hpp"

namespace {

using lb::tcp;

struct Pair {
  tcp::socket client;
  tcp::socket server;
};

lb::Endpoint endpoint_of(const tcp::endpoint& e) {
  return *lb::Endpoint::parse(e.address().to_string() + ":" + std::to_string(e.port()));
}

// Readable with nothing to read = the other side shut down its sending direction.
bool at_eof(tcp::socket& s) {
  pollfd p{s.native_handle(), POLLIN, 0};
  if (::poll(&p, 1, 1000) <= 0) return false;
  char c;
  return ::recv(s.native_handle(), &c, 1, MSG_DONTWAIT) == 0;
}

}  // namespace

TEST_CASE("client registry: sessions on the removed address end, those on others are kept") {
  lb::asio::io_context io;
  // Two local addresses of the loopback: 127.0.0.2 plays the VIP.
  tcp::acceptor vip(io, {lb::asio::ip::make_address("127.0.0.2"), 0});
  tcp::acceptor other(io, {lb::asio::ip::make_address("127.0.0.1"), 0});
  auto connect = [&](tcp::acceptor& a) {
    tcp::socket c(io);
    c.connect(a.local_endpoint());
    return Pair{std::move(c), a.accept()};
  };
  Pair on_vip = connect(vip), on_other = connect(other);
  lbd::proxy::ClientRegistry registry;
  for (auto* p : {&on_vip, &on_other}) {
    registry.add(p->server.native_handle(), endpoint_of(p->server.local_endpoint()),
                 endpoint_of(p->server.remote_endpoint()));
  }
  const auto ended = registry.shutdown_local(*lb::IpAddress::parse("127.0.0.2"));
  REQUIRE(ended.size() == 1);
  CHECK(ended[0] == endpoint_of(on_vip.server.remote_endpoint()));
  CHECK(registry.size() == 1);
  CHECK(at_eof(on_vip.client));
  // The other session still carries data.
  lb::asio::write(on_other.client, lb::asio::buffer("x", 1));
  char c = 0;
  lb::asio::read(on_other.server, lb::asio::buffer(&c, 1));
  CHECK(c == 'x');
  CHECK(registry.shutdown_local(*lb::IpAddress::parse("127.0.0.2")).empty());
}

TEST_CASE("client registry: a descriptor reused by another connection is not shut down") {
  lb::asio::io_context io;
  tcp::acceptor vip(io, {lb::asio::ip::make_address("127.0.0.2"), 0});
  tcp::socket c1(io);
  c1.connect(vip.local_endpoint());
  auto s1 = vip.accept();
  lbd::proxy::ClientRegistry registry;
  const int fd = s1.native_handle();
  const auto id =
      registry.add(fd, endpoint_of(s1.local_endpoint()), endpoint_of(s1.remote_endpoint()));
  // The session closed its socket without its entry going (a stale entry), and a new connection
  // got the same descriptor number (the lowest free one).
  tcp::socket c2(io);
  c2.connect(vip.local_endpoint());
  s1.close();
  auto s2 = vip.accept();
  REQUIRE(s2.native_handle() == fd);
  CHECK(registry.shutdown_local(*lb::IpAddress::parse("127.0.0.2")).empty());
  lb::asio::write(c2, lb::asio::buffer("y", 1));
  char c = 0;
  lb::asio::read(s2, lb::asio::buffer(&c, 1));
  CHECK(c == 'y');
  registry.remove(id);
  CHECK(registry.size() == 0);
}
