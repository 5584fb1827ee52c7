#include "lbd/session/pick_hash.hpp"

#include <doctest/doctest.h>

#include "lbd/balance/stable_hash.hpp"

using namespace lbd;
using namespace lbd::proxy;

namespace {
BalanceOptions hashing(HashKey::Kind kind, std::string name = "") {
  BalanceOptions o;
  o.algorithm = Algorithm::ring_hash;
  o.hash_key = HashKey{kind, std::move(name)};
  return o;
}
}  // namespace

TEST_CASE("pick_hash: algorithms that do not hash get no hash") {
  BalanceOptions o;
  o.algorithm = Algorithm::round_robin;
  CHECK_FALSE(pick_hash(o, {.path = "/x"}).has_value());
}

TEST_CASE("pick_hash: each key kind hashes its own input with stable_hash") {
  const auto client = lb::IpAddress::parse("192.0.2.7").value();
  CHECK(pick_hash(hashing(HashKey::Kind::source_ip), {.client = &client}) == hash_address(client));
  CHECK(pick_hash(hashing(HashKey::Kind::header, "X-U"), {.header = "alice"}) ==
        stable_hash("alice"));
  CHECK(pick_hash(hashing(HashKey::Kind::cookie, "sid"), {.cookie_header = "a=1; sid=xyz"}) ==
        stable_hash("xyz"));
  CHECK(pick_hash(hashing(HashKey::Kind::path), {.path = "/img/a.png"}) ==
        stable_hash("/img/a.png"));
}

TEST_CASE("pick_hash: a request without the key gets no hash") {
  CHECK_FALSE(pick_hash(hashing(HashKey::Kind::header, "X-U"), {}).has_value());
  CHECK_FALSE(pick_hash(hashing(HashKey::Kind::header, "X-U"), {.header = ""}).has_value());
  CHECK_FALSE(
      pick_hash(hashing(HashKey::Kind::cookie, "sid"), {.cookie_header = "a=1"}).has_value());
  CHECK_FALSE(pick_hash(hashing(HashKey::Kind::source_ip), {}).has_value());
}
