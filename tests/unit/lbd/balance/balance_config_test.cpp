// The balancing keys of [[pool]] in lbd's config: defaults, every algorithm, and each error.
#include <doctest/doctest.h>

#include <string>

#include "lbd/config.hpp"

using lb::config::Diagnostics;
using namespace std::chrono_literals;

namespace {

// A minimal config whose pool "p" gets `pool_keys` and `servers` servers.
std::string config_with(const std::string& pool_keys, int servers = 2) {
  std::string text = R"([[listener]]
name = "web"
bind = "127.0.0.1:8080"
pool = "p"
[[pool]]
name = "p"
)" + pool_keys + "\n";
  for (int i = 0; i < servers; ++i) {
    text += "[[pool.server]]\nname = \"s" + std::to_string(i) +
            "\"\naddress = \"127.0.0.1:" + std::to_string(9000 + i) + "\"\n";
  }
  return text;
}

std::string errors_of(const std::string& pool_keys, int servers = 2) {
  Diagnostics diags;
  lbd::load_config_from_string(config_with(pool_keys, servers), "t.toml", diags);
  return diags.to_string();
}

lbd::BalanceOptions options_of(const std::string& pool_keys) {
  Diagnostics diags;
  auto c = lbd::load_config_from_string(config_with(pool_keys), "t.toml", diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  return c.pools.at(0).balance;
}

}  // namespace

TEST_CASE("balance config: defaults when no key is given") {
  const auto b = options_of("");
  CHECK(b.algorithm == lbd::Algorithm::round_robin);
  CHECK(b.hash_key == lbd::HashKey{lbd::HashKey::Kind::source_ip, ""});
  CHECK(b.ring_virtual_nodes == 160);
  CHECK(b.maglev_table_size == 65537);
  CHECK(b.hash_balance_factor == 0.0);
  CHECK(b.least_time_decay == 10s);
  CHECK(b.agent.port == 0);
  CHECK(b.agent.interval == 2s);
  CHECK(b.agent.timeout == 1s);
  CHECK(b.agent.type == lbd::AgentType::tcp);
  CHECK(b.agent.path == "/");
}

TEST_CASE("balance config: every algorithm is accepted") {
  for (const char* name : {"round_robin", "least_conn", "p2c", "random", "least_time",
                           "source_hash", "ring_hash", "maglev"}) {
    CAPTURE(name);
    CHECK(lbd::algorithm_name(options_of(std::string("algorithm = \"") + name + "\"").algorithm) ==
          std::string(name));
  }
  CHECK(options_of("algorithm = \"agent\"\nagent_port = 5555").algorithm == lbd::Algorithm::agent);
}

TEST_CASE("balance config: every key is read") {
  const auto b = options_of(R"(algorithm = "maglev"
hash_key = "cookie:sid"
ring_virtual_nodes = 40
maglev_table_size = 1009
hash_balance_factor = 1.25
least_time_decay = "3s")");
  CHECK(b.algorithm == lbd::Algorithm::maglev);
  CHECK(b.hash_key == lbd::HashKey{lbd::HashKey::Kind::cookie, "sid"});
  CHECK(b.ring_virtual_nodes == 40);
  CHECK(b.maglev_table_size == 1009);
  CHECK(b.hash_balance_factor == 1.25);
  CHECK(b.least_time_decay == 3s);
  const auto a = options_of(R"(algorithm = "agent"
agent_port = 7777
agent_interval = "500ms"
agent_timeout = "200ms")");
  CHECK(a.agent.port == 7777);
  CHECK(a.agent.interval == 500ms);
  CHECK(a.agent.timeout == 200ms);
  const auto h = options_of(R"(algorithm = "agent"
agent_port = 7777
agent_type = "http"
agent_path = "/health/agent?x=1")");
  CHECK(h.agent.type == lbd::AgentType::http);
  CHECK(h.agent.path == "/health/agent?x=1");
}

TEST_CASE("balance config: a bad hash_key names the key and the accepted forms") {
  for (const char* bad : {"ip", "header:", "cookie:a b"}) {
    CAPTURE(bad);
    const auto text = errors_of(std::string("hash_key = \"") + bad + "\"");
    CHECK(text.find("t.toml:7:12: pool[0].hash_key: invalid hash key") != std::string::npos);
    CHECK(text.find("\"header:NAME\"") != std::string::npos);
  }
}

TEST_CASE("balance config: maglev_table_size must be prime and at least 100 × servers") {
  CHECK(errors_of("maglev_table_size = 65536")
            .find("pool[0].maglev_table_size: 65536 is not prime") != std::string::npos);
  CHECK(errors_of("algorithm = \"maglev\"\nmaglev_table_size = 101", 2)
            .find("101 is smaller than 100 × 2 servers; use a prime ≥ 200") != std::string::npos);
  CHECK(errors_of("algorithm = \"maglev\"", 700)
            .find("the default 65537 is smaller than 100 × 700 servers") != std::string::npos);
  CHECK(errors_of("algorithm = \"maglev\"\nmaglev_table_size = 70001", 700).empty());
  CHECK(errors_of("maglev_table_size = 1").find("maglev_table_size") != std::string::npos);
}

TEST_CASE("balance config: hash_balance_factor is 0 or at least 1.0") {
  CHECK(errors_of("hash_balance_factor = 0.5")
            .find("pool[0].hash_balance_factor: 0.5 is below 1.0") != std::string::npos);
  CHECK(errors_of("hash_balance_factor = -1.0").find("hash_balance_factor") != std::string::npos);
  CHECK(errors_of("hash_balance_factor = 1.0").empty());
  CHECK(errors_of("hash_balance_factor = 0.0").empty());
}

TEST_CASE("balance config: agent needs agent_port, and only agent takes one") {
  CHECK(errors_of("algorithm = \"agent\"")
            .find("pool[0].agent_port: algorithm \"agent\" needs agent_port") != std::string::npos);
  CHECK(errors_of("agent_port = 5555")
            .find("pool[0].agent_port: agent_port is only used with algorithm = \"agent\"") !=
        std::string::npos);
  CHECK(errors_of("algorithm = \"agent\"\nagent_port = 70000").find("agent_port") !=
        std::string::npos);
  CHECK(errors_of("algorithm = \"agent\"\nagent_port = 5555\nagent_interval = \"100ms\"")
            .find("agent_timeout must not exceed agent_interval") != std::string::npos);
}

TEST_CASE("balance config: agent_type http needs algorithm agent, agent_path needs http") {
  CHECK(errors_of("agent_type = \"http\"")
            .find("pool[0].agent_type: agent_type = \"http\" is only used with algorithm = "
                  "\"agent\"") != std::string::npos);
  CHECK(errors_of("algorithm = \"agent\"\nagent_port = 1\nagent_path = \"/a\"")
            .find("pool[0].agent_path: agent_path is only used with agent_type = \"http\"") !=
        std::string::npos);
  CHECK(errors_of("algorithm = \"agent\"\nagent_port = 1\nagent_type = \"udp\"")
            .find("pool[0].agent_type") != std::string::npos);
  for (const char* bad : {"agent", "/a b", "/a\\r\\nX: y", ""}) {
    CAPTURE(bad);
    CHECK(errors_of(std::string("algorithm = \"agent\"\nagent_port = 1\nagent_type = \"http\"\n"
                                "agent_path = \"") +
                    bad + "\"")
              .find("is not a path: it must start with '/'") != std::string::npos);
  }
  // The defaults may be written out anywhere, as conf/lbd.toml does.
  CHECK(errors_of("agent_type = \"tcp\"\nagent_path = \"/\"").empty());
}

TEST_CASE("balance config: durations and ranges are checked, errors are all reported") {
  const auto text = errors_of(R"(least_time_decay = "0s"
ring_virtual_nodes = 0
hash_balance_factor = 0.5
algoritm = "maglev")");
  INFO(text);
  CHECK(text.find("least_time_decay") != std::string::npos);
  CHECK(text.find("ring_virtual_nodes") != std::string::npos);
  CHECK(text.find("hash_balance_factor") != std::string::npos);
  CHECK(text.find("algoritm: unknown key") != std::string::npos);
}
