// lb::Endpoint <-> Asio endpoint, both families, and back.
#include "common/net/asio_endpoint.hpp"

#include <doctest/doctest.h>

TEST_CASE("asio endpoint: IPv4 and IPv6 endpoints convert to Asio and back unchanged") {
  for (const char* text : {"192.0.2.1:80", "[2001:db8::1]:443", "0.0.0.0:0"}) {
    const auto e = *lb::Endpoint::parse(text);
    const auto a = lb::to_asio(e);
    CHECK(a.port() == e.port);
    CHECK(lb::from_asio(a) == e);
  }
  CHECK(lb::to_asio(*lb::Endpoint::parse("[2001:db8::1]:443")).address().to_string() ==
        "2001:db8::1");
  CHECK(lb::to_asio(*lb::Endpoint::parse("192.0.2.1:80")).address().is_v4());
}
