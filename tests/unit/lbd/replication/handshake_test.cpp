#include "lbd/replication/handshake.hpp"

#include <doctest/doctest.h>

namespace repl = lbd::repl;

namespace {

using Role = repl::HandshakeRole;
constexpr const char* kHandshakeSecret = "s3cret-s3cret-s3cret-s3cret-s3cr";

repl::Hello hello(const char* id, std::uint64_t incarnation, std::uint64_t resume = 0) {
  return repl::Hello{repl::kProtocolVersion, id, incarnation, repl::random_nonce(), resume};
}

}  // namespace

TEST_CASE("repl handshake: both sides accept each other's MAC with the same secret") {
  const auto hc = hello("a", 1);
  const auto ha = hello("b", 2);
  CHECK(hc.nonce != ha.nonce);
  const auto t = repl::transcript_hash(hc, ha);
  const auto mac_c = repl::handshake_mac(kHandshakeSecret, Role::connector, t);
  const auto mac_a = repl::handshake_mac(kHandshakeSecret, Role::acceptor, t);
  CHECK(repl::verify_handshake_mac(kHandshakeSecret, Role::connector, t, mac_c));
  CHECK(repl::verify_handshake_mac(kHandshakeSecret, Role::acceptor, t, mac_a));
}

TEST_CASE("repl handshake: a wrong secret, a reflected MAC or another transcript is refused") {
  const auto hc = hello("a", 1);
  const auto ha = hello("b", 2);
  const auto t = repl::transcript_hash(hc, ha);
  const auto mac_c = repl::handshake_mac(kHandshakeSecret, Role::connector, t);
  CHECK_FALSE(
      repl::verify_handshake_mac("wrong-secret-wrong-secret-wrong!", Role::connector, t, mac_c));
  // Reflection: the connector's MAC is not a valid acceptor proof.
  CHECK_FALSE(repl::verify_handshake_mac(kHandshakeSecret, Role::acceptor, t, mac_c));
  // Replay against a fresh acceptor nonce.
  CHECK_FALSE(repl::verify_handshake_mac(kHandshakeSecret, Role::connector,
                                         repl::transcript_hash(hc, hello("b", 2)), mac_c));
}

TEST_CASE("repl handshake: every Hello field is bound by the transcript") {
  const auto hc = hello("a", 1, 7);
  const auto ha = hello("b", 2, 9);
  const auto t = repl::transcript_hash(hc, ha);
  auto changed = [&](auto edit) {
    auto c = hc;
    auto a = ha;
    edit(c, a);
    return repl::transcript_hash(c, a) != t;
  };
  CHECK(changed([](repl::Hello& c, repl::Hello&) { c.version = 1; }));
  CHECK(changed([](repl::Hello& c, repl::Hello&) { c.node_id = "c"; }));
  CHECK(changed([](repl::Hello& c, repl::Hello&) { c.incarnation = 3; }));
  CHECK(changed([](repl::Hello& c, repl::Hello&) { c.nonce[0] ^= 1; }));
  CHECK(changed([](repl::Hello& c, repl::Hello&) { c.resume_incarnation = 0; }));
  CHECK(changed([](repl::Hello&, repl::Hello& a) { a.resume_incarnation = 0; }));
  CHECK(changed([](repl::Hello&, repl::Hello& a) { a.incarnation = 5; }));
  // The two Hellos cannot be swapped.
  CHECK(repl::transcript_hash(ha, hc) != t);
}

TEST_CASE("repl handshake: traffic keys pair up across the roles and are fresh per session") {
  const auto hc = hello("a", 1);
  const auto ha = hello("b", 2);
  const auto t = repl::transcript_hash(hc, ha);
  const auto kc =
      repl::derive_traffic_keys(kHandshakeSecret, Role::connector, t, hc.nonce, ha.nonce);
  const auto ka =
      repl::derive_traffic_keys(kHandshakeSecret, Role::acceptor, t, hc.nonce, ha.nonce);
  CHECK(kc.send == ka.receive);
  CHECK(kc.receive == ka.send);
  CHECK(kc.send != kc.receive);
  const auto hc2 = hello("a", 1);
  const auto t2 = repl::transcript_hash(hc2, ha);
  const auto k2 =
      repl::derive_traffic_keys(kHandshakeSecret, Role::connector, t2, hc2.nonce, ha.nonce);
  CHECK(k2.send != kc.send);
  const auto other = repl::derive_traffic_keys("another-secret-another-secret-00", Role::connector,
                                               t, hc.nonce, ha.nonce);
  CHECK(other.send != kc.send);
}
