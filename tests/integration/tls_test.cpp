// TLS termination on mode = "http" listeners (issue #7) through a real lbd Server in this
// process, with certificates made at test time: SNI and wildcard selection, RSA next to ECDSA,
// versions, ALPN, forwarding headers, bad input, mTLS, shared session tickets, real clients.
#include <openssl/ssl.h>
#include <unistd.h>

#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/tls_client.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_pki.hpp"

using namespace lbtest;

namespace {

/// [listener.tls] with the given certificates (first = default) and extra lines.
std::string tls_section(const std::vector<PemFiles>& certs, const std::string& extra = "") {
  std::string s = "[listener.tls]\n" + extra + "\n";
  for (const auto& c : certs) {
    s += fmt::format("[[listener.tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"\n", c.cert, c.key);
  }
  return s;
}

std::string tls_config(const std::string& backend, const std::string& section) {
  HttpConfig cfg{.pools = {{"app", {backend}}}};
  cfg.routes = section;
  return cfg.text();
}

std::string get_close(std::string_view path, std::string_view host = "a.example.com") {
  return fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", path, host);
}

}  // namespace

TEST_CASE("tls: SNI picks the exact certificate, the wildcard one, else the default") {
  TestPki pki;
  const auto def = pki.issue("default", "default.test", {"default.test"});
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  const auto wild = pki.issue("wild", "wild", {"*.wild.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({def, a, wild})));
  const auto ep = lbd.endpoint("web");

  auto cn_for = [&](const std::string& sni) {
    auto r = tls_exchange(ep, {.sni = sni, .ca_file = pki.ca_file()});
    CHECK_MESSAGE(r.handshake_ok, sni, " ", r.error);
    return r.peer_cn;
  };
  CHECK(cn_for("a.example.com") == "a.example.com");
  CHECK(cn_for("A.Example.COM") == "a.example.com");
  CHECK(cn_for("x.wild.example.com") == "wild");
  CHECK(cn_for("deep.x.wild.example.com") == "default.test");  // a wildcard covers one label
  CHECK(cn_for("wild.example.com") == "default.test");
  CHECK(cn_for("unknown.test") == "default.test");
  CHECK(cn_for("") == "default.test");
}

TEST_CASE("tls: RSA and ECDSA certificates for one name are chosen by the client's algorithms") {
  TestPki pki;
  const auto ec = pki.issue("ec", "both.test", {"both.test"}, KeyType::ec_p256);
  const auto rsa = pki.issue("rsa", "both.test", {"both.test"}, KeyType::rsa2048);
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({ec, rsa})));
  const auto ep = lbd.endpoint("web");

  auto r =
      tls_exchange(ep, {.sni = "both.test", .ca_file = pki.ca_file(), .sigalgs = "ECDSA+SHA256"});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  CHECK(r.peer_key == "EC");
  r = tls_exchange(
      ep, {.sni = "both.test", .ca_file = pki.ca_file(), .sigalgs = "RSA-PSS+SHA256:RSA+SHA256"});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  CHECK(r.peer_key == "RSA");
  r = tls_exchange(ep, {.sni = "both.test",
                        .ca_file = pki.ca_file(),
                        .max_version = TLS1_2_VERSION,
                        .sigalgs = "RSA+SHA256"});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  CHECK(r.peer_key == "RSA");
  CHECK(r.version == "TLSv1.2");
}

TEST_CASE("tls: TLS 1.1 is refused and counted, min_version 1.3 refuses TLS 1.2") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({a})));
  auto r =
      tls_exchange(lbd.endpoint("web"),
                   {.sni = "a.example.com", .max_version = TLS1_1_VERSION, .allow_legacy = true});
  CHECK_FALSE(r.handshake_ok);
  r = tls_exchange(lbd.endpoint("web"), {.sni = "a.example.com", .max_version = TLS1_2_VERSION});
  CHECK(r.handshake_ok);
  CHECK(r.version == "TLSv1.2");
  REQUIRE(wait_until([&] { return !lbd.server().tls_handshake_errors("web").empty(); },
                     std::chrono::seconds(2)));
  const auto errors = lbd.server().tls_handshake_errors("web");
  CHECK(errors.size() == 1);
  CHECK(errors.begin()->first == "unsupported protocol");
  CHECK(errors.begin()->second == 1);

  InProcessLbd strict(tls_config(backend.address(), tls_section({a}, "min_version = \"1.3\"")));
  r = tls_exchange(strict.endpoint("web"), {.sni = "a.example.com", .max_version = TLS1_2_VERSION});
  CHECK_FALSE(r.handshake_ok);
  r = tls_exchange(strict.endpoint("web"), {.sni = "a.example.com"});
  CHECK(r.handshake_ok);
  CHECK(r.version == "TLSv1.3");
}

TEST_CASE("tls: ALPN selects http/1.1 and never anything else") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({a})));
  auto r = tls_exchange(lbd.endpoint("web"), {.alpn = {"h2", "http/1.1"}});
  REQUIRE(r.handshake_ok);
  CHECK(r.alpn == "http/1.1");
  r = tls_exchange(lbd.endpoint("web"), {.alpn = {"h2"}});
  REQUIRE(r.handshake_ok);
  CHECK(r.alpn == "");
}

TEST_CASE("tls: requests through TLS reach the backend with X-Forwarded-Proto https, keep-alive") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({a})));
  auto r = tls_exchange(lbd.endpoint("web"), {.sni = "a.example.com", .ca_file = pki.ca_file()},
                        {get_close("/one"), get_close("/two")});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  REQUIRE(r.responses.size() == 2);
  CHECK(r.responses[0].starts_with("HTTP/1.1 200"));
  CHECK(r.responses[0].ends_with("o /one"));
  CHECK(r.responses[1].ends_with("o /two"));
  REQUIRE(origin.count() == 2);
  const auto req = origin.seen().at(0);
  CHECK(header(req.base(), "X-Forwarded-Proto") == "https");
  CHECK(header(req.base(), "Forwarded") == "for=127.0.0.1;host=a.example.com;proto=https");
  CHECK(header(req.base(), "X-Client-Subject") == "<none>");
}

TEST_CASE("tls: plain HTTP sent to the TLS port gets a plain-text 400 and is counted") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({a})));
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, get("/")));
  const auto answer = read_to_eof(fd);
  ::close(fd);
  CHECK(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(answer.ends_with("This port expects HTTPS (TLS), not HTTP\n"));
  CHECK(origin.count() == 0);
  REQUIRE(
      wait_until([&] { return lbd.server().tls_handshake_errors("web").contains("http request"); },
                 std::chrono::seconds(2)));
}

TEST_CASE("tls: a failed handshake does not disturb a concurrent good connection") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({a})));
  const auto ep = lbd.endpoint("web");
  // A good client mid-handshake-free keep-alive, while garbage and half handshakes arrive.
  std::thread bad([&] {
    for (int i = 0; i < 20; ++i) {
      const int fd = connect_to(ep);
      if (fd < 0) continue;
      send_all(fd, std::string("\x16\x03\x01\x00\x05garbagegarbage", 20));
      read_to_eof(fd);
      ::close(fd);
    }
  });
  std::vector<std::string> requests;
  for (int i = 0; i < 20; ++i) requests.push_back(get_close(fmt::format("/{}", i)));
  auto r = tls_exchange(ep, {.sni = "a.example.com"}, requests);
  bad.join();
  REQUIRE(r.handshake_ok);
  REQUIRE(r.responses.size() == 20);
  for (int i = 0; i < 20; ++i) CHECK(r.responses[i].ends_with(fmt::format("o /{}", i)));
  REQUIRE(wait_until(
      [&] {
        std::uint64_t n = 0;
        for (const auto& [reason, count] : lbd.server().tls_handshake_errors("web")) n += count;
        return n == 20;
      },
      std::chrono::seconds(3)));
}

TEST_CASE("tls: curl with --resolve and --cacert gets the response over TLS") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({a})));
  const auto port = lbd.endpoint("web").port;
  const auto res = run_command(fmt::format(
      "curl -sS --max-time 5 --resolve a.example.com:{0}:127.0.0.1 --cacert {1} "
      "-w ' %{{http_version}} %{{ssl_verify_result}}' https://a.example.com:{0}/curl 2>&1",
      port, pki.ca_file()));
  CHECK(res.exit_code == 0);
  CHECK(res.output == "o /curl 1.1 0");
}
