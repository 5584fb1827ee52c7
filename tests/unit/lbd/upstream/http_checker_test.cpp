#include "lbd/upstream/http_checker.hpp"

#include <doctest/doctest.h>

using lbd::HealthCheckConfig;
using lbd::HttpChecker;

namespace {
std::string reason(const lb::Result<void>& r) { return r ? "ok" : r.error().message; }
}  // namespace

TEST_CASE("http_checker: the status must fall in one of the expected ranges") {
  HealthCheckConfig c;
  c.expect_status = {{200, 200}, {300, 302}};
  HttpChecker h(c);
  CHECK(reason(h.evaluate(200, "")) == "ok");
  CHECK(reason(h.evaluate(301, "")) == "ok");
  CHECK(reason(h.evaluate(204, "")) == "status 204");
  CHECK(reason(h.evaluate(503, "")) == "status 503");
}

TEST_CASE("http_checker: the default accepts 200-399") {
  HttpChecker h(HealthCheckConfig{});
  CHECK(reason(h.evaluate(399, "")) == "ok");
  CHECK(reason(h.evaluate(404, "")) == "status 404");
}

TEST_CASE("http_checker: body substring and regex checks") {
  HealthCheckConfig c;
  c.expect_body = "healthy";
  c.expect_body_regex = "version=[0-9]+";
  HttpChecker h(c);
  CHECK(reason(h.evaluate(200, "healthy version=12")) == "ok");
  CHECK(reason(h.evaluate(200, "sick version=12")) == "body does not contain \"healthy\"");
  CHECK(reason(h.evaluate(200, "healthy version=x")) == "body does not match /version=[0-9]+/");
}

TEST_CASE("http_checker: a body regex over a 64 KiB body does not exhaust the stack") {
  HealthCheckConfig c;
  c.expect_body_regex = "^(x|y)*z$";
  HttpChecker h(c);
  CHECK(reason(h.evaluate(200, std::string(64 * 1024, 'x') + "z")) == "ok");
  CHECK(reason(h.evaluate(200, std::string(64 * 1024, 'x'))) == "body does not match /^(x|y)*z$/");
}

TEST_CASE("http_checker: the JSON check follows a dotted key and compares the value") {
  HealthCheckConfig c;
  c.expect_json = lbd::JsonExpectation{"status", "UP"};
  HttpChecker h(c);
  CHECK(reason(h.evaluate(200, R"({"status":"UP"})")) == "ok");
  CHECK(reason(h.evaluate(200, R"({"status":"DOWN"})")) == "json status=\"DOWN\", expected \"UP\"");
  CHECK(reason(h.evaluate(200, R"({"other":1})")) == "json status missing");
  CHECK(reason(h.evaluate(200, "<html>")) == "body is not JSON");
  c.expect_json = lbd::JsonExpectation{"components.db.ok", "true"};
  HttpChecker nested(c);
  CHECK(reason(nested.evaluate(200, R"({"components":{"db":{"ok":true}}})")) == "ok");
  CHECK(reason(nested.evaluate(200, R"({"components":{"db":{"ok":false}}})")) ==
        "json components.db.ok=\"false\", expected \"true\"");
}

TEST_CASE("health_checker: durations in failure reasons read naturally") {
  using namespace std::chrono_literals;
  CHECK(lbd::timeout_reason(2s) == "timeout after 2s");
  CHECK(lbd::describe_duration(250ms) == "250ms");
  CHECK(lbd::describe_duration(1500ms) == "1.5s");
  CHECK(lbd::describe_duration(100us) == "100us");
}

TEST_CASE("health_checker: targets take the address and port overrides, IPv6 included") {
  lbd::Backend b("s", *lb::Endpoint::parse("[2001:db8::1]:80"), 1);
  HealthCheckConfig c;
  CHECK(lbd::check_target(c, b).to_string() == "[2001:db8::1]:80");
  c.port = 8080;
  CHECK(lbd::check_target(c, b).to_string() == "[2001:db8::1]:8080");
  c.address = lb::IpAddress::parse("192.0.2.7");
  CHECK(lbd::check_target(c, b).to_string() == "192.0.2.7:8080");
}
