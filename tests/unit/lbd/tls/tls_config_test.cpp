// [listener.tls] loading: valid certificates build a context; every broken file or setting is a
// config error naming file, line and key. Certificates are made at test time.
#include <algorithm>

#include <fmt/format.h>

#include <doctest/doctest.h>

#include "lbd/config.hpp"
#include "lbd/tls/tls_context.hpp"
#include "tests/support/test_pki.hpp"

using lb::config::Diagnostics;
using lbtest::PemFiles;
using lbtest::TestPki;

namespace {

std::string config_with(const std::string& tls) {
  return R"([[listener]]
name = "web"
bind = "127.0.0.1:8443"
pool = "app"
)" + tls +
         R"(
[[pool]]
name = "app"
[[pool.server]]
name = "a1"
address = "127.0.0.1:9001"
)";
}

std::string cert_table(const std::string& cert, const std::string& key) {
  return fmt::format("[[listener.tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"\n", cert, key);
}

std::string load_errors(const std::string& text, lbd::Config* out = nullptr) {
  Diagnostics diags;
  auto c = lbd::load_config_from_string(text, "t.toml", diags);
  if (out) *out = std::move(c);
  return diags.to_string();
}

}  // namespace

TEST_CASE("tls config: certificates load and names map to contexts, first is the default") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com", "www.a.example.com"});
  const auto w = pki.issue("w", "w", {"*.w.example.com"});
  lbd::Config c;
  const auto errors =
      load_errors(config_with("[listener.tls]\nmin_version = \"1.3\"\n" +
                              cert_table(a.cert, a.key) + cert_table(w.cert, w.key)),
                  &c);
  REQUIRE_MESSAGE(errors.empty(), errors);
  REQUIRE(c.listeners.at(0).tls);
  const auto& tls = *c.listeners[0].tls;
  CHECK(tls.min_version == lbd::proxy::TlsVersion::v1_3);
  REQUIRE(tls.context);
  const auto names = tls.context->names();
  REQUIRE(names.size() == 2);
  CHECK(names[0] == std::vector<std::string>{"a.example.com", "www.a.example.com"});
  CHECK(tls.context->select("nothing.test") == tls.context->select("a.example.com"));
  CHECK(tls.context->select("x.w.example.com") != tls.context->select("a.example.com"));
  CHECK(tls.context->select("X.W.Example.com") == tls.context->select("x.w.example.com"));
}

TEST_CASE("tls config: a missing certificate file names the file, line and key") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  const auto errors =
      load_errors(config_with("[listener.tls]\n" + cert_table("/nonexistent/c.pem", a.key)));
  CHECK(errors.find("t.toml:7:") != std::string::npos);
  CHECK(errors.find("listener[0].tls.certificate[0].cert") != std::string::npos);
  CHECK(errors.find("cannot read \"/nonexistent/c.pem\"") != std::string::npos);
}

TEST_CASE("tls config: a key that does not match its certificate is refused") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  const auto b = pki.issue("b", "b.example.com", {"b.example.com"});
  const auto errors = load_errors(config_with("[listener.tls]\n" + cert_table(a.cert, b.key)));
  CHECK(errors.find("certificate[0].key") != std::string::npos);
  CHECK(errors.find("does not match the certificate") != std::string::npos);
}

TEST_CASE("tls config: files without PEM data are refused") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  lbtest::write_file(pki.path("junk.pem"), "not a certificate\n");
  auto errors =
      load_errors(config_with("[listener.tls]\n" + cert_table(pki.path("junk.pem"), a.key)));
  CHECK(errors.find("holds no PEM certificate") != std::string::npos);
  errors = load_errors(config_with("[listener.tls]\n" + cert_table(a.cert, pki.path("junk.pem"))));
  CHECK(errors.find("holds no PEM private key") != std::string::npos);
}

TEST_CASE("tls config: settings are checked (version, mode, verify_client, certificates, keys)") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  const auto certs = cert_table(a.cert, a.key);
  CHECK(load_errors(config_with("[listener.tls]\nmin_version = \"1.1\"\n" + certs))
            .find("tls.min_version: unknown value \"1.1\"") != std::string::npos);
  CHECK(load_errors(config_with("[listener.tls]\n")).find("at least one") != std::string::npos);
  CHECK(load_errors(config_with("[listener.tls]\nverify_client = \"required\"\n" + certs))
            .find("verify_client needs client_ca") != std::string::npos);
  CHECK(load_errors(config_with("[listener.tls]\nclient_ca = \"" + pki.ca_file() + "\"\n" + certs))
            .find("client_ca is set but verify_client") != std::string::npos);
  CHECK(load_errors(config_with("[listener.tls]\nsni = true\n" + certs)).find("tls.sni") !=
        std::string::npos);
  CHECK(load_errors(config_with("mode = \"tcp\"\n[listener.tls]\n" + certs))
            .find("TLS termination needs mode = \"http\"") != std::string::npos);
  lbtest::write_file(pki.path("junk.der"), "junk");
  CHECK(load_errors(config_with("[listener.tls]\n" + certs + "ocsp_file = \"" +
                                pki.path("junk.der") + "\"\n"))
            .find("certificate[0].ocsp_file: \"" + pki.path("junk.der") +
                  "\" is not a successful DER OCSP response") != std::string::npos);
  lbtest::write_file(pki.path("tickets"), "short\n");
  CHECK(load_errors(config_with("[listener.tls]\nticket_key_file = \"" + pki.path("tickets") +
                                "\"\n" + certs))
            .find("tls.ticket_key_file: ") != std::string::npos);
}

TEST_CASE("tls ticket keys: 80-byte base64 lines parse in order, comments skipped, junk refused") {
  const std::string k1(108, 'A');
  std::string key1 = k1.substr(0, 107) + "=";
  std::string key2 = std::string(107, '/');
  key2[106] = 'A';  // the last character before "=" must leave no stray bits: 'A' = 0
  key2 += "=";
  auto keys = lbd::proxy::parse_ticket_keys("# rotated daily\n" + key1 + "\n\n" + key2 + "\n");
  REQUIRE(keys);
  REQUIRE(keys->size() == 2);
  CHECK(keys->at(0).name[0] == 0);
  CHECK(keys->at(1).name[0] == 0xff);
  CHECK_FALSE(lbd::proxy::parse_ticket_keys(""));
  CHECK_FALSE(lbd::proxy::parse_ticket_keys("# only a comment\n"));
  CHECK(lbd::proxy::parse_ticket_keys(key1.substr(1)).error().find("line 1: expected 108") == 0);
  CHECK(lbd::proxy::parse_ticket_keys(key1 + "\n" + std::string(107, '*') + "=").error() ==
        "line 2: not valid base64 of 80 bytes");
  CHECK_FALSE(lbd::proxy::parse_ticket_keys(std::string(106, 'A') + "=="));
}

TEST_CASE("tls config: crl_file loads PEM CRLs, needs client_ca, and a bad file names the key") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  const auto client = pki.issue("c", "alice", {}, lbtest::KeyType::ec_p256, true);
  const auto certs = cert_table(a.cert, a.key);
  const auto crl = pki.crl("crl", {client.serial});
  const auto mtls = fmt::format(
      "[listener.tls]\nclient_ca = \"{}\"\nverify_client = \"required\"\n", pki.ca_file());
  lbd::Config c;
  const auto ok = load_errors(config_with(mtls + "crl_file = \"" + crl + "\"\n" + certs), &c);
  REQUIRE_MESSAGE(ok.empty(), ok);
  CHECK(c.listeners.at(0).tls->crl_file == crl);
  const auto watched = c.listeners.at(0).tls->watched_files();
  CHECK(std::find(watched.begin(), watched.end(), crl) != watched.end());

  CHECK(load_errors(config_with("[listener.tls]\ncrl_file = \"" + crl + "\"\n" + certs))
            .find("tls.crl_file: crl_file needs client_ca") != std::string::npos);
  lbtest::write_file(pki.path("junk.crl"), "junk");
  CHECK(load_errors(config_with(mtls + "crl_file = \"" + pki.path("junk.crl") + "\"\n" + certs))
            .find("tls.crl_file: \"" + pki.path("junk.crl") + "\" holds no PEM CRL") !=
        std::string::npos);
  CHECK(load_errors(config_with(mtls + "crl_file = \"" + pki.path("absent.crl") + "\"\n" + certs))
            .find("tls.crl_file: cannot read") != std::string::npos);
}

TEST_CASE("tls config: alpn defaults to h2 then http/1.1, reads a list, refuses unknown names") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  lbd::Config c;
  REQUIRE(load_errors(config_with("[listener.tls]\n" + cert_table(a.cert, a.key)), &c).empty());
  CHECK(c.listeners.at(0).tls->alpn == std::vector<std::string>{"h2", "http/1.1"});
  CHECK(c.listeners[0].tls->context->alpn_wire() == std::string("\x02h2\x08http/1.1"));
  REQUIRE(
      load_errors(
          config_with("[listener.tls]\nalpn = [\"http/1.1\"]\n" + cert_table(a.cert, a.key)), &c)
          .empty());
  CHECK(c.listeners.at(0).tls->alpn == std::vector<std::string>{"http/1.1"});
  const auto errors =
      load_errors(config_with("[listener.tls]\nalpn = [\"h3\"]\n" + cert_table(a.cert, a.key)));
  CHECK(errors.find("listener[0].tls.alpn") != std::string::npos);
  CHECK(errors.find("unknown protocol \"h3\"") != std::string::npos);
}
