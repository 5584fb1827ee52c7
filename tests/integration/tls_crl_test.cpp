// Client-certificate revocation on a TLS listener (crl_file): a revoked certificate is refused at
// the handshake and counted by reason; a new CRL takes effect with the reload.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/tls_client.hpp"
#include "tests/integration/tls_fixture.hpp"
#include "tests/support/process.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

TEST_CASE("tls: a client certificate revoked by crl_file is refused and counted by reason") {
  TestPki pki;
  const auto server = pki.issue("a", "a.example.com", {"a.example.com"});
  const auto alice = pki.issue("alice", "alice", {}, KeyType::ec_p256, true);
  const auto bob = pki.issue("bob", "bob", {}, KeyType::ec_p256, true);
  const auto crl = pki.crl("crl", {bob.serial});
  Origin origin("o");
  TestBackend backend(origin.handler());
  const auto text = tls_config(
      backend.address(),
      tls_section({server}, fmt::format("client_ca = \"{}\"\nverify_client = \"required\"\n"
                                        "crl_file = \"{}\"\n",
                                        pki.ca_file(), crl)));
  InProcessLbd lbd(text);
  const auto ep = lbd.endpoint("web");
  const std::string get = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";
  auto served = [&](const PemFiles& who) {
    const auto r = tls_exchange(
        ep, {.sni = "a.example.com", .cert_file = who.cert, .key_file = who.key}, {get});
    // TLS 1.3: the client learns of the refusal after its Finished, so it shows as no response.
    return r.handshake_ok && !r.responses.empty() && r.responses[0].starts_with("HTTP/1.1 200");
  };
  CHECK(served(alice));
  CHECK_FALSE(served(bob));
  CHECK(origin.count() == 1);
  REQUIRE(wait_until(
      [&] { return lbd.server().tls_handshake_errors("web").contains("certificate revoked"); },
      2000ms));
  CHECK(lbd.server().tls_handshake_errors("web").at("certificate revoked") == 1);

  // A new CRL revoking alice too, then the reload: she is refused from then on.
  pki.crl("crl", {bob.serial, alice.serial});
  REQUIRE(lbd.reload(text));
  CHECK_FALSE(served(alice));
  CHECK(origin.count() == 1);
  REQUIRE(wait_until(
      [&] { return lbd.server().tls_handshake_errors("web").at("certificate revoked") == 2; },
      2000ms));
}

TEST_CASE("tls: with crl_file, an expired CRL refuses every client certificate (fail closed)") {
  TestPki pki;
  const auto server = pki.issue("a", "a.example.com", {"a.example.com"});
  const auto alice = pki.issue("alice", "alice", {}, KeyType::ec_p256, true);
  // Valid from an hour ago for 60 s: expired for 59 minutes.
  const auto crl = pki.crl("crl", {}, 60);
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(
      backend.address(),
      tls_section({server}, fmt::format("client_ca = \"{}\"\nverify_client = \"required\"\n"
                                        "crl_file = \"{}\"\n",
                                        pki.ca_file(), crl))));
  const auto r = tls_exchange(
      lbd.endpoint("web"), {.sni = "a.example.com", .cert_file = alice.cert, .key_file = alice.key},
      {"GET /x HTTP/1.1\r\nHost: a\r\n\r\n"});
  CHECK((!r.handshake_ok || r.responses.empty() || r.responses[0].empty()));
  CHECK(origin.count() == 0);
  CHECK(wait_until(
      [&] { return lbd.server().tls_handshake_errors("web").contains("CRL has expired"); },
      2000ms));
}
