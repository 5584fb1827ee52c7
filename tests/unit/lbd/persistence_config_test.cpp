#include "lbd/persistence_config.hpp"

#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/config/reader.hpp"

using lb::config::Diagnostics;

namespace {

struct Read {
  lbd::PersistenceOptions options;
  std::string errors;
};

Read read(const std::string& body) {
  Diagnostics diags;
  auto doc = lb::config::Document::parse_string("[persistence]\n" + body, "p.toml", diags);
  REQUIRE(diags.empty());
  auto root = doc.root();
  auto t = root.table("persistence");
  REQUIRE(t.has_value());
  Read r{lbd::read_persistence(*t), ""};
  r.errors = diags.to_string();
  return r;
}

const std::string kKey = "cookie_key = \"0123456789abcdef0123456789abcdef\"\n";

}  // namespace

TEST_CASE("persistence config: an empty table means no persistence, with defaults") {
  auto r = read("");
  CHECK(r.errors.empty());
  CHECK(r.options.mode == lbd::PersistenceMode::none);
  CHECK_FALSE(r.options.uses_stick_table());
}

TEST_CASE("persistence config: cookie mode reads every cookie key") {
  auto r = read("mode = \"cookie\"\n" + kKey + R"(
cookie_name = "SRV"
cookie_previous_keys = ["fedcba9876543210fedcba9876543210"]
cookie_max_age = "1h"
cookie_domain = "example.com"
cookie_path = "/app"
cookie_secure = true
cookie_http_only = false
cookie_same_site = "none"
cookie_indirect = false
)");
  INFO(r.errors);
  REQUIRE(r.errors.empty());
  const auto& c = r.options.cookie;
  CHECK(r.options.mode == lbd::PersistenceMode::cookie);
  CHECK(c.name == "SRV");
  REQUIRE(c.keys.size() == 2);
  CHECK(c.keys[0] == "0123456789abcdef0123456789abcdef");
  CHECK(c.max_age == std::chrono::hours(1));
  CHECK(c.domain == "example.com");
  CHECK(c.path == "/app");
  CHECK(c.secure);
  CHECK_FALSE(c.http_only);
  CHECK(c.same_site == lbd::SameSite::none);
  CHECK_FALSE(c.indirect);
}

TEST_CASE("persistence config: cookie mode without a key, or with a short key, is an error") {
  CHECK(read("mode = \"cookie\"\n").errors.find("needs cookie_key") != std::string::npos);
  auto r = read("mode = \"cookie\"\ncookie_key = \"short-secret\"\n");
  CHECK(r.errors.find("persistence.cookie_key: the key must be at least 32 bytes") !=
        std::string::npos);
  CHECK(r.errors.find("short-secret") == std::string::npos);  // never echo a secret
}

TEST_CASE("persistence config: the cookie key can come from a file") {
  const std::string path = "/tmp/lbpair-persistence-key-" + std::to_string(::getpid());
  std::ofstream(path) << "0123456789abcdef0123456789abcdef\n";
  auto r = read("mode = \"cookie\"\ncookie_key_file = \"" + path + "\"\n");
  std::remove(path.c_str());
  INFO(r.errors);
  CHECK(r.errors.empty());
  REQUIRE(r.options.cookie.keys.size() == 1);
  CHECK(r.options.cookie.keys[0] == "0123456789abcdef0123456789abcdef");
  auto missing = read("mode = \"cookie\"\ncookie_key_file = \"/nonexistent/key\"\n");
  CHECK(missing.errors.find("cannot read \"/nonexistent/key\"") != std::string::npos);
}

TEST_CASE("persistence config: bad cookie attributes are errors") {
  auto r =
      read("mode = \"cookie\"\n" + kKey +
           "cookie_name = \"a b\"\ncookie_path = \"/x;HttpOnly\"\ncookie_same_site = \"none\"\n");
  CHECK(r.errors.find("cookie_name: must be a cookie-name token") != std::string::npos);
  CHECK(r.errors.find("cookie_path: must not contain") != std::string::npos);
  CHECK(r.errors.find("cookie_same_site: \"none\" needs cookie_secure") != std::string::npos);
}

TEST_CASE("persistence config: source_ip mode reads masks, ttl and max_entries") {
  auto r = read(
      "mode = \"source_ip\"\nipv4_mask = 24\nipv6_mask = 48\nttl = \"10m\"\n"
      "max_entries = 5000\n");
  INFO(r.errors);
  REQUIRE(r.errors.empty());
  CHECK(r.options.ipv4_mask == 24);
  CHECK(r.options.ipv6_mask == 48);
  CHECK(r.options.ttl == std::chrono::minutes(10));
  CHECK(r.options.max_entries == 5000);
  CHECK(r.options.uses_stick_table());
  CHECK(read("mode = \"source_ip\"\nipv4_mask = 33\n").errors.find("ipv4_mask") !=
        std::string::npos);
  CHECK(read("mode = \"source_ip\"\nmax_entries = 0\n").errors.find("max_entries") !=
        std::string::npos);
}

TEST_CASE("persistence config: learned_cookie and header modes") {
  auto l =
      read("mode = \"learned_cookie\"\nlearn_cookie = \"PHPSESSID\"\nurl_parameter = \"sid\"\n");
  INFO(l.errors);
  REQUIRE(l.errors.empty());
  CHECK(l.options.learn_cookie == "PHPSESSID");
  CHECK(l.options.url_parameter == "sid");
  CHECK(read("mode = \"learned_cookie\"\n").options.learn_cookie == "JSESSIONID");
  auto h = read("mode = \"header\"\nheader = \"X-Tenant\"\n");
  CHECK(h.errors.empty());
  CHECK(h.options.header == "X-Tenant");
  CHECK(read("mode = \"header\"\n").errors.find("header") != std::string::npos);
}

TEST_CASE("persistence config: a key of another mode is an error, not silently ignored") {
  auto r = read("mode = \"source_ip\"\ncookie_name = \"SRV\"\n");
  CHECK(r.errors.find("persistence.cookie_name: applies only to mode \"cookie\" (mode is "
                      "\"source_ip\")") != std::string::npos);
  CHECK(r.errors.find("unknown key") == std::string::npos);  // reported once
  CHECK(read("mode = \"cookie\"\n" + kKey + "ttl = \"1m\"\n").errors.find("ttl: applies only") !=
        std::string::npos);
}

TEST_CASE("persistence config: unknown modes and keys are errors") {
  CHECK(read("mode = \"sticky\"\n").errors.find("unknown value \"sticky\"") != std::string::npos);
  CHECK(read("mode = \"none\"\nmax_entires = 3\n").errors.find("unknown key") != std::string::npos);
}
