// The control-socket protocol: what counts as a request, and replies as single lines.
#include "common/control/protocol.hpp"

#include <doctest/doctest.h>

TEST_CASE("control protocol: a request is a JSON object with a string cmd") {
  std::string error;
  auto ok = lb::control::parse_request(R"({"cmd":"status","verbose":true})", error);
  REQUIRE(ok.has_value());
  CHECK((*ok)["cmd"] == "status");
  for (const char* bad : {"", "status", "[1,2]", R"({"cmd":1})", R"({"verb":"status"})", "{"}) {
    INFO(bad);
    error.clear();
    CHECK_FALSE(lb::control::parse_request(bad, error).has_value());
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("control protocol: over-long requests are refused before parsing") {
  std::string error;
  const std::string huge = R"({"cmd":")" + std::string(lb::control::kMaxLineBytes, 'x') + "\"}";
  CHECK_FALSE(lb::control::parse_request(huge, error).has_value());
  CHECK(error == "request too long");
}

TEST_CASE("control protocol: replies are one compact line, invalid UTF-8 replaced") {
  const auto line = lb::control::to_line({{"ok", true}, {"text", "a\nb"}});
  CHECK(line == "{\"ok\":true,\"text\":\"a\\nb\"}\n");
  CHECK(lb::control::to_line({{"s", std::string("\xff")}}) == "{\"s\":\"\xef\xbf\xbd\"}\n");
  CHECK(lb::control::error_reply("nope") == nlohmann::json{{"ok", false}, {"error", "nope"}});
}
