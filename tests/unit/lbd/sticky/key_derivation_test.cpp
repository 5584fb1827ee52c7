#include "lbd/sticky/key_derivation.hpp"

#include <doctest/doctest.h>

#include <string>

namespace sk = lbd::stick_key;
using SV = std::optional<std::string_view>;

namespace {
lb::IpAddress ip(const char* s) { return *lb::IpAddress::parse(s); }
}  // namespace

TEST_CASE("key_derivation: a client address key is a family byte and the masked address") {
  CHECK(sk::from_address(ip("192.0.2.77")) == std::string("\x04\xc0\x00\x02\x4d", 5));
  CHECK(sk::from_address(ip("192.0.2.77"), 24) == std::string("\x04\xc0\x00\x02\x00", 5));
  CHECK(sk::from_address(ip("192.0.2.77"), 24) == sk::from_address(ip("192.0.2.1"), 24));
  CHECK(sk::from_address(ip("192.0.2.77"), 24) != sk::from_address(ip("192.0.3.77"), 24));
  const auto k6 = sk::from_address(ip("2001:db8:1:2:3:4:5:6"), 32, 64);
  CHECK(k6.size() == 17);
  CHECK(k6[0] == '\x06');
  CHECK(k6 == sk::from_address(ip("2001:db8:1:2:ffff::1"), 32, 64));
  CHECK(k6 != sk::from_address(ip("2001:db8:1:3::1"), 32, 64));
}

TEST_CASE("key_derivation: a v4-mapped IPv6 client gets the same key as its IPv4 address") {
  CHECK(sk::from_address(ip("::ffff:192.0.2.9"), 24) == sk::from_address(ip("192.0.2.200"), 24));
}

TEST_CASE("key_derivation: header values are trimmed, empty or oversized give no key") {
  CHECK(sk::from_header_value("  tenant-7 \t") == std::optional<std::string>("tenant-7"));
  CHECK_FALSE(sk::from_header_value("   ").has_value());
  CHECK_FALSE(sk::from_header_value(std::string(sk::kMaxValueSize + 1, 'x')).has_value());
  CHECK(sk::from_header_value(std::string(sk::kMaxValueSize, 'x')).has_value());
}

TEST_CASE("key_derivation: cookie_value finds a named cookie in a Cookie header") {
  const char* h = "theme=dark; JSESSIONID=abc123; other=1";
  CHECK(sk::cookie_value(h, "JSESSIONID") == SV("abc123"));
  CHECK(sk::cookie_value(h, "theme") == SV("dark"));
  CHECK(sk::cookie_value(h, "other") == SV("1"));
  CHECK_FALSE(sk::cookie_value(h, "jsessionid").has_value());  // names are case-sensitive
  CHECK_FALSE(sk::cookie_value(h, "SESSIONID").has_value());   // no suffix matches
  CHECK(sk::cookie_value("a=1;b=2", "b") == SV("2"));          // no space after ';'
  CHECK(sk::cookie_value("a=\"quoted\"", "a") == SV("quoted"));
  CHECK(sk::cookie_value("a=1; a=2", "a") == SV("1"));  // the first occurrence wins
  CHECK(sk::cookie_value("junk; a=x=y", "a") == SV("x=y"));
  CHECK_FALSE(sk::cookie_value("a=; b=2", "a").has_value());
  CHECK_FALSE(sk::cookie_value("", "a").has_value());
  CHECK_FALSE(sk::cookie_value(";;;", "a").has_value());
}

TEST_CASE("key_derivation: parse_set_cookie reads the first pair and ignores attributes") {
  auto c = sk::parse_set_cookie("JSESSIONID=abc123; Path=/; HttpOnly; Secure");
  REQUIRE(c.has_value());
  CHECK(c->name == "JSESSIONID");
  CHECK(c->value == "abc123");
  auto q = sk::parse_set_cookie(" sid = \"v1\" ;Max-Age=10");
  REQUIRE(q.has_value());
  CHECK(q->name == "sid");
  CHECK(q->value == "v1");
  auto empty_value = sk::parse_set_cookie("sid=; Max-Age=0");  // a deletion: empty value
  REQUIRE(empty_value.has_value());
  CHECK(empty_value->value.empty());
  CHECK_FALSE(sk::parse_set_cookie("novalue; Path=/").has_value());
  CHECK_FALSE(sk::parse_set_cookie("=v").has_value());
  CHECK_FALSE(sk::parse_set_cookie("").has_value());
}

TEST_CASE("key_derivation: url_parameter reads query and Java path parameters") {
  CHECK(sk::url_parameter("/cart?item=3&jsessionid=abc", "jsessionid") == SV("abc"));
  CHECK(sk::url_parameter("/cart?jsessionid=abc&item=3", "jsessionid") == SV("abc"));
  CHECK(sk::url_parameter("/cart;jsessionid=xyz?item=3", "jsessionid") == SV("xyz"));
  CHECK(sk::url_parameter("/a;x=1/cart;jsessionid=xyz", "jsessionid") == SV("xyz"));
  CHECK(sk::url_parameter("/cart?sid=1#frag", "sid") == SV("1"));
  CHECK_FALSE(sk::url_parameter("/cart?xjsessionid=abc", "jsessionid").has_value());
  CHECK_FALSE(sk::url_parameter("/cart?jsessionid=", "jsessionid").has_value());
  CHECK_FALSE(sk::url_parameter("/cart?jsessionid", "jsessionid").has_value());
  CHECK_FALSE(sk::url_parameter("/cart", "jsessionid").has_value());
  CHECK_FALSE(sk::url_parameter("/cart#?jsessionid=a", "jsessionid").has_value());
  CHECK_FALSE(sk::url_parameter("/cart?a=1", "").has_value());
}

TEST_CASE("key_derivation: a learned session value is a key when it is 1..256 bytes") {
  CHECK(sk::from_session_value("abc") == std::optional<std::string>("abc"));
  CHECK_FALSE(sk::from_session_value("").has_value());
  CHECK_FALSE(sk::from_session_value(std::string(300, 'a')).has_value());
}

TEST_CASE("key_derivation: describe prints address keys as addresses, others as text or hex") {
  CHECK(sk::describe(sk::from_address(ip("192.0.2.77"), 24)) == "192.0.2.0");
  CHECK(sk::describe(sk::from_address(ip("2001:db8::5"), 32, 64)) == "2001:db8::");
  CHECK(sk::describe("abc123") == "abc123");
  CHECK(sk::describe(std::string("a\x01", 2)) == "0x6101");
  CHECK(sk::describe("") == "0x");
}
