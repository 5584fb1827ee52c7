// The key hash is part of the contract between the two nodes: these golden values (computed
// independently from the published FNV-1a and splitmix64 constants) must never change.
#include "lbd/balance/stable_hash.hpp"

#include <doctest/doctest.h>

#include "lbd/balance/hash_key.hpp"

TEST_CASE("stable_hash: golden values never change between builds") {
  CHECK(lbd::stable_hash("") == 0xf52a15e9a9b5e89bULL);
  CHECK(lbd::stable_hash("192.0.2.1") == 0x4d0e1bc6845259f5ULL);
  CHECK(lbd::stable_hash("app1", 7) == 0xde110b03b4569573ULL);
  static_assert(lbd::stable_hash("x") == lbd::stable_hash("x"), "usable at compile time");
}

TEST_CASE("stable_hash: the seed and every byte change the result") {
  CHECK(lbd::stable_hash("app1", 0) != lbd::stable_hash("app1", 1));
  CHECK(lbd::stable_hash("app1") != lbd::stable_hash("app2"));
  CHECK(lbd::stable_hash(std::string_view("a\0b", 3)) !=
        lbd::stable_hash(std::string_view("a\0c", 3)));
}

TEST_CASE("stable_hash: a client address hashes its network-order bytes, v4-mapped as IPv4") {
  const auto v4 = *lb::IpAddress::parse("192.0.2.1");
  CHECK(lbd::hash_address(v4) == 0x1e00e9a12f8249cbULL);
  CHECK(lbd::hash_address(*lb::IpAddress::parse("::ffff:192.0.2.1")) == lbd::hash_address(v4));
  CHECK(lbd::hash_address(*lb::IpAddress::parse("2001:db8::1")) !=
        lbd::hash_address(*lb::IpAddress::parse("2001:db8::2")));
}

TEST_CASE("hash_key: the four forms parse and print back") {
  for (const char* text : {"source_ip", "path", "header:X-User", "cookie:session_id"}) {
    auto key = lbd::parse_hash_key(text);
    REQUIRE(key);
    CHECK(lbd::to_string(*key) == text);
  }
  CHECK(lbd::parse_hash_key("header:X-User")->kind == lbd::HashKey::Kind::header);
  CHECK(lbd::parse_hash_key("header:X-User")->name == "X-User");
  CHECK(lbd::parse_hash_key("cookie:sid")->kind == lbd::HashKey::Kind::cookie);
}

TEST_CASE("hash_key: unknown forms and empty or non-token names are refused") {
  for (const char* text :
       {"", "ip", "header:", "cookie:", "header:bad name", "cookie:a;b", "Source_IP", "query:x"}) {
    CAPTURE(text);
    CHECK_FALSE(lbd::parse_hash_key(text));
  }
}
