#include "common/config/parsers.hpp"

#include <doctest/doctest.h>

#include "common/format.hpp"

using namespace std::chrono_literals;
using lb::config::parse_cidr;
using lb::config::parse_duration;
using lb::config::parse_endpoint;
using lb::config::parse_size;

TEST_CASE("parse_duration: accepts every unit and fractions") {
  CHECK(parse_duration("250ms").value() == 250ms);
  CHECK(parse_duration("5s").value() == 5s);
  CHECK(parse_duration("1m").value() == 60s);
  CHECK(parse_duration("2h").value() == 7200s);
  CHECK(parse_duration("100us").value() == 100us);
  CHECK(parse_duration("1.5s").value() == 1500ms);
  CHECK(parse_duration("0s").value() == 0s);
}

TEST_CASE("parse_duration: refuses missing units, unknown units and garbage with a hint") {
  CHECK(parse_duration("5").error().find("no unit") != std::string::npos);
  CHECK(parse_duration("5 parsecs").error().find("unknown duration unit") != std::string::npos);
  CHECK_FALSE(parse_duration("-5s").has_value());
  CHECK_FALSE(parse_duration("").has_value());
  CHECK_FALSE(parse_duration("s").has_value());
  CHECK(parse_duration("abc").error().find("\"250ms\"") != std::string::npos);
}

TEST_CASE("parse_size: binary and decimal units, bare numbers are bytes") {
  CHECK(parse_size("64KiB").value() == 65536);
  CHECK(parse_size("1MiB").value() == 1048576);
  CHECK(parse_size("2GiB").value() == 2147483648ULL);
  CHECK(parse_size("10KB").value() == 10000);
  CHECK(parse_size("512B").value() == 512);
  CHECK(parse_size("512").value() == 512);
  CHECK(parse_size("1.5KiB").value() == 1536);
  CHECK_FALSE(parse_size("1.3B").has_value());
  CHECK_FALSE(parse_size("12 furlongs").has_value());
}

TEST_CASE("parse_endpoint: IPv4 and bracketed IPv6, ports checked") {
  auto v4 = parse_endpoint("192.0.2.1:80").value();
  CHECK(v4.address.is_v4());
  CHECK(v4.port == 80);
  CHECK(v4.to_string() == "192.0.2.1:80");
  auto v6 = parse_endpoint("[2001:db8::1]:8443").value();
  CHECK(v6.address.is_v6());
  CHECK(v6.port == 8443);
  CHECK(v6.to_string() == "[2001:db8::1]:8443");
  CHECK_FALSE(parse_endpoint("192.0.2.1").has_value());
  CHECK_FALSE(parse_endpoint("192.0.2.1:65536").has_value());
  CHECK_FALSE(parse_endpoint("2001:db8::1:80").has_value());
  CHECK_FALSE(parse_endpoint("[192.0.2.1]:80").has_value());
  CHECK_FALSE(parse_endpoint("example.com:80").has_value());
  CHECK(parse_endpoint("nope").error().find("[2001:db8::1]:80") != std::string::npos);
}

TEST_CASE("parse_cidr: prefixes are normalised and bare addresses are host routes") {
  auto c = parse_cidr("10.1.2.3/8").value();
  CHECK(c.to_string() == "10.0.0.0/8");
  CHECK(c.contains(*lb::IpAddress::parse("10.200.0.1")));
  CHECK_FALSE(c.contains(*lb::IpAddress::parse("11.0.0.1")));
  CHECK(c.contains(*lb::IpAddress::parse("::ffff:10.9.9.9")));
  CHECK(parse_cidr("2001:db8::/32").value().contains(*lb::IpAddress::parse("2001:db8:1::5")));
  CHECK(parse_cidr("192.0.2.10").value().prefix_len == 32);
  CHECK_FALSE(parse_cidr("10.0.0.0/33").has_value());
  CHECK_FALSE(parse_cidr("10.0.0.0/").has_value());
}

TEST_CASE("format_duration: prints the most readable exact unit") {
  CHECK(lb::format_duration(1500ms) == "1.5s");
  CHECK(lb::format_duration(250ms) == "250ms");
  CHECK(lb::format_duration(2min) == "2m");
  CHECK(lb::format_duration(40us) == "40us");
}
