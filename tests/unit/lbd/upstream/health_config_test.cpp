#include "lbd/upstream/health_config.hpp"

#include <doctest/doctest.h>

#include "lbd/config.hpp"

using lb::config::Diagnostics;
using namespace std::chrono_literals;

namespace {

constexpr const char* kHead = R"(
[[listener]]
name = "web"
bind = "127.0.0.1:8080"
pool = "app"
[[pool]]
name = "app"
)";

lbd::Config load(const std::string& pool_body, Diagnostics& diags) {
  return lbd::load_config_from_string(std::string(kHead) + pool_body, "t.toml", diags);
}

}  // namespace

TEST_CASE("health_config: without [pool.health] a pool has no active check and defaults") {
  Diagnostics diags;
  auto c = load(R"(
[[pool.server]]
name = "a"
address = "127.0.0.1:9001"
)",
                diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  const auto& s = c.pools[0].servers[0].health;
  CHECK(s.check.type == lbd::HealthCheckType::none);
  CHECK(s.check.interval == 2s);
  CHECK(s.check.rise == 2);
  CHECK(s.check.fall == 3);
  CHECK(s.slow_start == 0s);
  CHECK(s.state == lbd::AdminState::ready);
  CHECK(c.pools[0].health.outlier.consecutive_errors == 5);
  CHECK(c.pools[0].health.outlier.max_ejection_percent == 50);
}

TEST_CASE("health_config: pool keys are read and a server overrides only what it names") {
  Diagnostics diags;
  auto c = load(R"(
[pool.health]
type = "http"
interval = "500ms"
jitter = "50ms"
fast_interval = "100ms"
timeout = "1s"
rise = 1
fall = 4
start_period = "30s"
initial_state = "down"
port = 8081
method = "HEAD"
path = "/healthz"
host = "app.example.com"
expect_status = [200, "300-302"]
expect_body = "ok"
expect_body_regex = "^o+k$"
expect_json = { key = "status", value = "UP" }
[pool.outlier]
consecutive_errors = 3
base_ejection_time = "10s"
max_ejection_time = "1m"
max_ejection_percent = 30
[[pool.server]]
name = "a"
address = "127.0.0.1:9001"
slow_start = "20s"
state = "drain"
[[pool.server]]
name = "b"
address = "127.0.0.1:9002"
state = "maint"
[pool.server.health]
type = "tcp"
address = "127.0.0.2"
send = "PING\r\n"
expect = "PONG"
fall = 1
)",
                diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  const auto& pool = c.pools[0].health;
  CHECK(pool.outlier.consecutive_errors == 3);
  CHECK(pool.outlier.base_ejection_time == 10s);
  CHECK(pool.outlier.max_ejection_time == 60s);
  CHECK(pool.outlier.max_ejection_percent == 30);
  const auto& a = c.pools[0].servers[0].health;
  CHECK(a.check.type == lbd::HealthCheckType::http);
  CHECK(a.check.interval == 500ms);
  CHECK(a.check.jitter == 50ms);
  CHECK(a.check.fast_interval == 100ms);
  CHECK(a.check.timeout == 1s);
  CHECK(a.check.rise == 1);
  CHECK(a.check.fall == 4);
  CHECK(a.check.start_period == 30s);
  CHECK_FALSE(a.check.initially_up);
  CHECK(a.check.port == 8081);
  CHECK(a.check.method == "HEAD");
  CHECK(a.check.path == "/healthz");
  CHECK(a.check.host == "app.example.com");
  CHECK(a.check.expect_status ==
        std::vector<lbd::StatusRange>{lbd::StatusRange{200, 200}, lbd::StatusRange{300, 302}});
  CHECK(a.check.expect_body == "ok");
  CHECK(a.check.expect_body_regex == "^o+k$");
  REQUIRE(a.check.expect_json);
  CHECK(a.check.expect_json->key == "status");
  CHECK(a.check.expect_json->value == "UP");
  CHECK(a.slow_start == 20s);
  CHECK(a.state == lbd::AdminState::drain);
  const auto& b = c.pools[0].servers[1].health;
  CHECK(b.state == lbd::AdminState::maint);
  CHECK(b.check.type == lbd::HealthCheckType::tcp);
  CHECK(b.check.address->to_string() == "127.0.0.2");
  CHECK(b.check.send == "PING\r\n");
  CHECK(b.check.expect == "PONG");
  CHECK(b.check.fall == 1);
  CHECK(b.check.rise == 1);  // inherited from the pool
  CHECK(b.check.interval == 500ms);
}

TEST_CASE("health_config: an inherited jitter shrinks with a shorter interval") {
  Diagnostics diags;
  auto c = load(R"(
[pool.health]
type = "tcp"
interval = "100ms"
[[pool.server]]
name = "a"
address = "127.0.0.1:9001"
)",
                diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  CHECK(c.pools[0].servers[0].health.check.jitter == 10ms);
}

TEST_CASE("health_config: bad values are errors naming the key, all reported at once") {
  Diagnostics diags;
  load(R"(
[pool.health]
type = "ping"
interval = "1s"
jitter = "2s"
rise = 0
initial_state = "maybe"
address = "not-an-ip"
path = "healthz"
expect_status = ["200-99", 700]
expect_body_regex = "(("
expect_json = { key = "status" }
colour = "blue"
[pool.outlier]
max_ejection_percent = 101
base_ejection_time = "1m"
max_ejection_time = "10s"
[[pool.server]]
name = "a"
address = "127.0.0.1:9001"
state = "sleeping"
slow_start = "soon"
[pool.server.health]
type = "exec"
)",
       diags);
  const auto text = diags.to_string();
  INFO(text);
  for (const char* key :
       {"pool[0].health.type", "pool[0].health.jitter", "pool[0].health.rise",
        "pool[0].health.initial_state", "pool[0].health.address", "pool[0].health.path",
        "pool[0].health.expect_status", "pool[0].health.expect_body_regex",
        "pool[0].health.expect_json.value", "pool[0].health.colour",
        "pool[0].outlier.max_ejection_percent", "pool[0].outlier.max_ejection_time",
        "pool[0].server[0].state", "pool[0].server[0].slow_start", "pool[0].server[0].health"}) {
    CHECK_MESSAGE(text.find(key) != std::string::npos, key);
  }
  CHECK(text.find("needs a command") != std::string::npos);
  CHECK(text.find("t.toml:") != std::string::npos);
}

TEST_CASE("health_config: status ranges parse single codes and inclusive ranges") {
  CHECK(lbd::parse_status_range("204") == lbd::StatusRange{204, 204});
  CHECK(lbd::parse_status_range("200-399") == lbd::StatusRange{200, 399});
  CHECK_FALSE(lbd::parse_status_range("399-200"));
  CHECK_FALSE(lbd::parse_status_range("2xx"));
  CHECK_FALSE(lbd::parse_status_range("99"));
  CHECK_FALSE(lbd::parse_status_range("200-"));
}

TEST_CASE("health_config: conf/lbd.toml shows exactly the built-in defaults") {
  Diagnostics diags;
  auto c = lbd::load_config(LBPAIR_SOURCE_DIR "/conf/lbd.toml", diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  const lbd::HealthCheckConfig d;
  const auto& h = c.pools.at(0).health.check;
  CHECK(h.type == d.type);
  CHECK(h.interval == d.interval);
  CHECK(h.jitter == d.jitter);
  CHECK(h.fast_interval == d.fast_interval);
  CHECK(h.timeout == d.timeout);
  CHECK(h.start_period == d.start_period);
  CHECK(h.rise == d.rise);
  CHECK(h.fall == d.fall);
  CHECK(h.initially_up == d.initially_up);
  CHECK(h.address == d.address);
  CHECK(h.port == d.port);
  CHECK(h.method == d.method);
  CHECK(h.path == d.path);
  CHECK(h.host == d.host);
  CHECK(h.expect_status == d.expect_status);
  CHECK(h.expect_body == d.expect_body);
  CHECK(h.expect_body_regex == d.expect_body_regex);
  CHECK_FALSE(h.expect_json);
  CHECK(h.send == d.send);
  CHECK(h.expect == d.expect);
  CHECK(h.command == d.command);
  const lbd::OutlierConfig o;
  const auto& ho = c.pools.at(0).health.outlier;
  CHECK(ho.consecutive_errors == o.consecutive_errors);
  CHECK(ho.base_ejection_time == o.base_ejection_time);
  CHECK(ho.max_ejection_time == o.max_ejection_time);
  CHECK(ho.max_ejection_percent == o.max_ejection_percent);
  const lbd::ServerHealthConfig s;
  CHECK(c.pools.at(0).servers.at(0).health.slow_start == s.slow_start);
  CHECK(c.pools.at(0).servers.at(0).health.state == s.state);
}
