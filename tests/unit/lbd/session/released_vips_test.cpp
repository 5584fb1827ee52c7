// The set of VIPs a node handed over, as HTTP sessions query it: by address and by the local
// address of a real socket.
#include "lbd/session/released_vips.hpp"

#include <doctest/doctest.h>

using lbd::proxy::ReleasedVips;

namespace {
lb::IpAddress released_ip(const char* s) { return *lb::IpAddress::parse(s); }
}  // namespace

TEST_CASE("released vips: empty by default, then matches its addresses, mapped IPv4 included") {
  ReleasedVips r;
  CHECK_FALSE(r.any());
  CHECK_FALSE(r.contains(released_ip("192.0.2.10")));
  r.set({released_ip("192.0.2.10")});
  CHECK(r.any());
  CHECK(r.contains(released_ip("192.0.2.10")));
  CHECK(r.contains(released_ip("::ffff:192.0.2.10")));
  CHECK_FALSE(r.contains(released_ip("192.0.2.11")));
  r.set({});
  CHECK_FALSE(r.any());
  CHECK_FALSE(r.contains(released_ip("192.0.2.10")));
}

TEST_CASE(
    "released vips: a socket connected to a released address is recognised by its local end") {
  lb::asio::io_context io;
  lb::tcp::acceptor acceptor(io, lb::tcp::endpoint(lb::asio::ip::make_address("127.0.0.1"), 0));
  lb::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  lb::tcp::socket server = acceptor.accept();
  ReleasedVips r;
  CHECK_FALSE(r.holds_local_address_of(server));
  r.set({released_ip("127.0.0.2")});
  CHECK_FALSE(r.holds_local_address_of(server));
  r.set({released_ip("127.0.0.1")});
  CHECK(r.holds_local_address_of(server));
}
