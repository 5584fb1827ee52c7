// Access-log lines: JSON with correct escaping, and user templates.
#include "lbd/telemetry/access_log_format.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace lbd::admin;
using namespace std::chrono_literals;

namespace {

AccessRecord sample() {
  AccessRecord r;
  r.time = std::chrono::system_clock::time_point(1'700'000'000'123ms);
  r.kind = "http";
  r.client = "192.0.2.7:40000";
  r.listener = "web";
  r.route = "route#1";
  r.pool = "app";
  r.server = "a";
  r.method = "GET";
  r.target = "/x?q=1";
  r.status = 200;
  r.bytes_in = 80;
  r.bytes_out = 1234;
  r.connect = 1500us;
  r.first_byte = 3ms;
  r.total = 4250us;
  r.sticky = "hit";
  return r;
}

}  // namespace

TEST_CASE("access log: a JSON line carries every field with numbers as numbers") {
  const auto f = AccessLogFormat::compile("json");
  REQUIRE(f);
  const auto line = f->format(sample());
  REQUIRE(line.ends_with("}\n"));
  CHECK(line.find('\n') == line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  CHECK(j["time"] == "2023-11-14T22:13:20.123Z");
  CHECK(j["client"] == "192.0.2.7:40000");
  CHECK(j["route"] == "route#1");
  CHECK(j["status"] == 200);
  CHECK(j["bytes_out"] == 1234);
  CHECK(j["connect_ms"] == doctest::Approx(1.5));
  CHECK(j["first_byte_ms"] == doctest::Approx(3.0));
  CHECK(j["total_ms"] == doctest::Approx(4.25));
  CHECK(j["sticky"] == "hit");
  CHECK(j["tls_version"] == "");
}

TEST_CASE("access log: hostile targets are escaped and the line stays one valid JSON object") {
  auto r = sample();
  const std::string target = std::string("/a\"b\\c\nd\te\x01") + "\xff\xfe" + "caf\xc3\xa9";
  r.target = target;
  r.connect.reset();
  r.status = 0;
  const auto line = AccessLogFormat::compile("json")->format(r);
  CHECK(line.find('\n') == line.size() - 1);
  const auto j = nlohmann::json::parse(line);
  CHECK(j["target"] ==
        "/a\"b\\c\nd\te\x01\xef\xbf\xbd\xef\xbf\xbd"
        "caf\xc3\xa9");
  CHECK(j["connect_ms"].is_null());
  CHECK(j["status"].is_null());
}

TEST_CASE("access log: json strings escape quote, backslash and control characters") {
  std::string out;
  append_json_string(out, "a\"\\\r\x7f");
  CHECK(out == "\"a\\\"\\\\\\r\\u007f\"");
}

TEST_CASE("access log: a template replaces fields, keeps literal braces and dashes empty ones") {
  const auto f =
      AccessLogFormat::compile("{client} {{x}} \"{method} {target}\" {status} {tls_version}");
  REQUIRE(f);
  auto r = sample();
  CHECK(f->format(r) == "192.0.2.7:40000 {x} \"GET /x?q=1\" 200 -\n");
  std::string evil = "/p\nq";
  r.target = evil;
  CHECK(f->format(r) == "192.0.2.7:40000 {x} \"GET /p?q\" 200 -\n");
}

TEST_CASE("access log: a template with an unknown field or a stray brace is refused") {
  const auto unknown = AccessLogFormat::compile("{client} {nope}");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().find("unknown field {nope}") != std::string::npos);
  CHECK_FALSE(AccessLogFormat::compile("{client"));
  CHECK_FALSE(AccessLogFormat::compile("a } b"));
}
