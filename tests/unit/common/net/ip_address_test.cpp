#include "common/net/ip_address.hpp"

#include <sys/socket.h>

#include <doctest/doctest.h>

TEST_CASE("IpAddress: masking keeps the prefix bits only") {
  auto a = *lb::IpAddress::parse("198.51.100.77");
  CHECK(a.masked(24).to_string() == "198.51.100.0");
  CHECK(a.masked(20).to_string() == "198.51.96.0");
  CHECK(a.masked(0).to_string() == "0.0.0.0");
  auto b = *lb::IpAddress::parse("2001:db8:aaaa:bbbb:cccc::1");
  CHECK(b.masked(64).to_string() == "2001:db8:aaaa:bbbb::");
}

TEST_CASE("IpAddress: v4-mapped IPv6 unmaps to IPv4") {
  auto a = *lb::IpAddress::parse("::ffff:192.0.2.5");
  CHECK(a.is_v6());
  CHECK(a.unmapped().is_v4());
  CHECK(a.unmapped().to_string() == "192.0.2.5");
}

TEST_CASE("Endpoint: round-trips through sockaddr") {
  for (const char* text : {"192.0.2.1:80", "[2001:db8::7]:443"}) {
    auto e = *lb::Endpoint::parse(text);
    sockaddr_storage ss;
    e.to_sockaddr(ss);
    auto back = lb::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
    REQUIRE(back.has_value());
    CHECK(*back == e);
  }
}

TEST_CASE("IpAddress: IPv4 text round-trips for one-, two- and three-digit octets") {
  for (const auto* text :
       {"0.0.0.0", "255.255.255.255", "10.200.3.45", "192.0.2.1", "1.22.133.9"}) {
    CHECK(lb::IpAddress::parse(text)->to_string() == text);
  }
}
