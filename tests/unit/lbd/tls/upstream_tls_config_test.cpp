// [pool.tls] loading: a valid table builds the pool's client context and hands it to
// the pool's checks; every missing, conflicting or broken setting is a config error naming file,
// line and key. Certificates are made at test time.
#include <fmt/format.h>

#include <doctest/doctest.h>

#include "lbd/config.hpp"
#include "lbd/tls/upstream_tls_context.hpp"
#include "tests/support/test_pki.hpp"

using lb::config::Diagnostics;
using lbtest::TestPki;

namespace {

/// An http listener on pool "app" whose [pool.tls] is `tls` (no table when empty).
std::string config_with(const std::string& tls, const std::string& mode = "http") {
  return fmt::format(R"([[listener]]
name = "web"
bind = "127.0.0.1:8080"
mode = "{}"
pool = "app"

[[pool]]
name = "app"
[pool.health]
type = "http"
{}
[[pool.server]]
name = "a1"
address = "127.0.0.1:9001"
)",
                     mode, tls.empty() ? "" : "[pool.tls]\n" + tls);
}

std::string load_errors(const std::string& text, lbd::Config* out = nullptr) {
  Diagnostics diags;
  auto c = lbd::load_config_from_string(text, "t.toml", diags);
  if (out) *out = std::move(c);
  return diags.to_string();
}

bool has(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("upstream tls config: a CA, verify name and client certificate build the context") {
  TestPki pki;
  const auto client = pki.issue("c", "lbd", {"lbd"}, lbtest::KeyType::ec_p256, true);
  lbd::Config c;
  const auto errors = load_errors(
      config_with(fmt::format("ca_file = \"{}\"\nverify_name = \"be.test\"\nmin_version = "
                              "\"1.3\"\ncert = \"{}\"\nkey = \"{}\"\nsession_reuse = false\n",
                              pki.ca_file(), client.cert, client.key)),
      &c);
  REQUIRE_MESSAGE(errors.empty(), errors);
  const auto& pool = c.pools.at(0);
  REQUIRE(pool.tls);
  CHECK(pool.tls->verify_name == "be.test");
  CHECK(pool.tls->effective_sni() == "be.test");
  CHECK(pool.tls->min_version == lbd::proxy::TlsVersion::v1_3);
  CHECK_FALSE(pool.tls->session_reuse);
  REQUIRE(pool.tls->context);
  // The pool's HTTP checks speak TLS with the same context.
  CHECK(pool.servers.at(0).health.check.tls == pool.tls->context);
}

TEST_CASE("upstream tls config: no table, or enabled = false, is plain TCP") {
  lbd::Config c;
  REQUIRE(load_errors(config_with(""), &c).empty());
  CHECK_FALSE(c.pools.at(0).tls);
  CHECK(c.pools.at(0).servers.at(0).health.check.tls == nullptr);
  // A disabled table is not checked (its files may not exist yet).
  REQUIRE(
      load_errors(config_with("enabled = false\nca_file = \"/nonexistent/ca.pem\"\n"), &c).empty());
  CHECK_FALSE(c.pools.at(0).tls);
}

TEST_CASE("upstream tls config: insecure = true needs no CA, and sni defaults to verify_name") {
  lbd::Config c;
  REQUIRE(load_errors(config_with("insecure = true\nsni = \"x.test\"\n"), &c).empty());
  REQUIRE(c.pools.at(0).tls);
  CHECK(c.pools.at(0).tls->insecure);
  CHECK(c.pools.at(0).tls->effective_sni() == "x.test");
}

TEST_CASE("upstream tls config: without ca_file or insecure the error says which to set") {
  const auto errors = load_errors(config_with("verify_name = \"be.test\"\n"));
  CHECK(has(errors, "t.toml:11:1: pool[0].tls.ca_file: [pool.tls] needs ca_file"));
  CHECK(has(errors, "or insecure = true"));
}

TEST_CASE("upstream tls config: insecure together with ca_file or verify_name is refused") {
  TestPki pki;
  auto errors =
      load_errors(config_with(fmt::format("ca_file = \"{}\"\ninsecure = true\n", pki.ca_file())));
  CHECK(has(errors, "t.toml:13:12: pool[0].tls.insecure: insecure = true and ca_file exclude"));
  errors = load_errors(config_with("insecure = true\nverify_name = \"be.test\"\n"));
  CHECK(has(errors, "pool[0].tls.verify_name: verify_name does nothing with insecure = true"));
}

TEST_CASE("upstream tls config: missing and broken files name the key") {
  TestPki pki;
  auto errors = load_errors(config_with("ca_file = \"/nonexistent/ca.pem\"\n"));
  CHECK(has(errors, "t.toml:12:11: pool[0].tls.ca_file: cannot read \"/nonexistent/ca.pem\""));

  const auto junk = pki.path("junk.pem");
  lbtest::write_file(junk, "not a certificate\n");
  errors = load_errors(config_with(fmt::format("ca_file = \"{}\"\n", junk)));
  CHECK(has(errors, "pool[0].tls.ca_file: \"" + junk + "\" holds no usable PEM CA certificate"));

  const auto a = pki.issue("a", "a", {"a"});
  const auto b = pki.issue("b", "b", {"b"});
  errors = load_errors(config_with(fmt::format("ca_file = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
                                               pki.ca_file(), a.cert, b.key)));
  INFO(errors);
  CHECK(has(errors, "pool[0].tls.key: the key in"));
  CHECK(has(errors, "does not match the certificate"));

  errors = load_errors(
      config_with(fmt::format("ca_file = \"{}\"\ncert = \"{}\"\n", pki.ca_file(), a.cert)));
  CHECK(has(errors, "pool[0].tls.key: a client certificate needs both cert and key"));
}

TEST_CASE("upstream tls config: unknown keys and bad versions are refused") {
  auto errors = load_errors(config_with("insecure = true\nverify = \"none\"\n"));
  CHECK(has(errors, "pool[0].tls.verify: unknown key"));
  errors = load_errors(config_with("insecure = true\nmin_version = \"1.1\"\n"));
  CHECK(has(errors, "pool[0].tls.min_version"));
}

TEST_CASE("upstream tls config: a TLS pool on a tcp listener is refused") {
  const auto errors = load_errors(config_with("insecure = true\n", "tcp"));
  CHECK(has(errors, "listener[0].pool: pool \"app\" has [pool.tls], which needs mode = \"http\""));
}
