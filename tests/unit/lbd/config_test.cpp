#include "lbd/config.hpp"

#include <doctest/doctest.h>

using lb::config::Diagnostics;

TEST_CASE("lbd config: the example conf/lbd.toml loads without errors") {
  Diagnostics diags;
  auto config = lbd::load_config(LBPAIR_SOURCE_DIR "/conf/lbd.toml", diags);
  INFO(diags.to_string());
  CHECK(diags.empty());
  CHECK_FALSE(config.listeners.empty());
  CHECK_FALSE(config.pools.empty());
}

TEST_CASE("lbd config: listeners, routes and pools are read with defaults filled in") {
  Diagnostics diags;
  auto c = lbd::load_config_from_string(R"(
[global]
workers = 2
[[listener]]
name = "web"
bind = ["127.0.0.1:8080", "[::1]:8080"]
pool = "app"
[[listener.route]]
pool = "api"
host = "*.example.com"
path_prefix = "/api/"
methods = ["GET"]
[[listener.route.header]]
name = "X-Tenant"
equals = "blue"
[[pool]]
name = "app"
[[pool.server]]
name = "a1"
address = "127.0.0.1:9001"
[[pool]]
name = "api"
[[pool.server]]
name = "b1"
address = "127.0.0.1:9002"
weight = 3
)",
                                        "t.toml", diags);
  INFO(diags.to_string());
  REQUIRE(diags.empty());
  CHECK(c.global.workers == 2);
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].binds.size() == 2);
  CHECK(c.listeners[0].mode == lbd::ListenerMode::http);
  REQUIRE(c.listeners[0].routes.size() == 1);
  const auto& r = c.listeners[0].routes[0];
  CHECK(r.host->kind == lbd::MatchKind::wildcard);
  CHECK(r.host->value == ".example.com");
  CHECK(r.path->kind == lbd::MatchKind::prefix);
  CHECK(r.headers.at(0).match.value == "blue");
  CHECK(c.find_pool("api")->balance.algorithm == lbd::Algorithm::round_robin);
  CHECK(c.find_pool("api")->servers[0].weight == 3);
  CHECK(c.timeouts.connect == std::chrono::seconds(5));
}

TEST_CASE("lbd config: references, duplicates and bad regexes are all reported") {
  Diagnostics diags;
  lbd::load_config_from_string(R"([[listener]]
name = "web"
bind = "127.0.0.1:80"
pool = "nope"
[[listener.route]]
pool = "ghost"
path_regex = "("
[[pool]]
name = "p"
[[pool.server]]
name = "s"
address = "127.0.0.1:1"
[[pool.server]]
name = "s"
address = "127.0.0.1:2"
)",
                               "bad.toml", diags);
  const auto text = diags.to_string();
  INFO(text);
  CHECK(text.find("bad.toml:4:8: listener[0].pool: unknown pool \"nope\"") != std::string::npos);
  CHECK(text.find("listener[0].route[0].pool: unknown pool \"ghost\"") != std::string::npos);
  CHECK(text.find("listener[0].route[0].path_regex: invalid regular expression") !=
        std::string::npos);
  CHECK(text.find("bad.toml:14:8: pool[0].server[1].name: duplicate server name") !=
        std::string::npos);
}

TEST_CASE("lbd config: a listener of any mode without a pool name is an error, not a crash") {
  for (const std::string mode : {"tcp", "http", "forward"}) {
    for (const std::string pool_line : {"", "pool = \"\"\n"}) {
      CAPTURE(mode);
      CAPTURE(pool_line);
      Diagnostics diags;
      lbd::load_config_from_string(
          "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:80\"\n"
          "mode = \"" +
              mode + "\"\n" + pool_line +
              "[[pool]]\nname = \"p\"\n[[pool.server]]\n"
              "address = \"127.0.0.1:1\"\n",
          "nopool.toml", diags);
      const auto text = diags.to_string();
      INFO(text);
      CHECK(text.find("nopool.toml:") != std::string::npos);
      CHECK(text.find("listener[0].pool: ") != std::string::npos);
    }
  }
}

TEST_CASE(
    "lbd config: regexes use RE2 syntax, and a backreference is an error naming file:line:key") {
  Diagnostics diags;
  lbd::load_config_from_string(R"([[listener]]
name = "web"
bind = "127.0.0.1:80"
pool = "p"
[[listener.route]]
pool = "p"
path_regex = "^/(a)\\1$"
[[pool]]
name = "p"
[[pool.server]]
name = "s"
address = "127.0.0.1:1"
)",
                               "re.toml", diags);
  const auto text = diags.to_string();
  INFO(text);
  REQUIRE(diags.size() == 1);
  CHECK(text.find("re.toml:7:") != std::string::npos);
  CHECK(text.find("listener[0].route[0].path_regex: invalid regular expression") !=
        std::string::npos);
  CHECK(text.find("RE2") != std::string::npos);
}

TEST_CASE("lbd config: timeouts.request_body defaults to 120 s, reads a duration, rejects 0") {
  const std::string rest =
      "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"http\"\npool = \"p\"\n"
      "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n";
  Diagnostics d1, d2, d3;
  CHECK(lbd::load_config_from_string(rest, "t.toml", d1).timeouts.request_body ==
        std::chrono::seconds(120));
  CHECK(lbd::load_config_from_string("[timeouts]\nrequest_body = \"5s\"\n" + rest, "t.toml", d2)
            .timeouts.request_body == std::chrono::seconds(5));
  CHECK(d1.empty());
  CHECK(d2.empty());
  lbd::load_config_from_string("[timeouts]\nrequest_body = \"0s\"\n" + rest, "t.toml", d3);
  REQUIRE(d3.size() == 1);
  CHECK(d3.to_string().find("t.toml:2:") != std::string::npos);
  CHECK(d3.items()[0].key_path.find("request_body") != std::string::npos);
}

TEST_CASE("lbd config: global.splice defaults to true, reads false, rejects a non-boolean") {
  const std::string rest =
      "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"tcp\"\npool = \"p\"\n"
      "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n";
  Diagnostics d1, d2, d3;
  CHECK(lbd::load_config_from_string(rest, "t.toml", d1).global.splice);
  CHECK_FALSE(lbd::load_config_from_string("[global]\nsplice = false\n" + rest, "t.toml", d2)
                  .global.splice);
  CHECK(d1.empty());
  CHECK(d2.empty());
  lbd::load_config_from_string("[global]\nsplice = 3\n" + rest, "t.toml", d3);
  REQUIRE(d3.size() == 1);
  CHECK(d3.items()[0].key_path.find("splice") != std::string::npos);
}

TEST_CASE(
    "lbd config: global.control_socket defaults to none, reads a path, rejects a relative one") {
  const std::string rest =
      "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"tcp\"\npool = \"p\"\n"
      "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n";
  Diagnostics d1, d2, d3, d4;
  CHECK(lbd::load_config_from_string(rest, "t.toml", d1).global.control_socket.empty());
  CHECK(lbd::load_config_from_string("[global]\ncontrol_socket = \"/run/lbpair/lbd.sock\"\n" + rest,
                                     "t.toml", d2)
            .global.control_socket == "/run/lbpair/lbd.sock");
  CHECK(d1.empty());
  CHECK(d2.empty());
  lbd::load_config_from_string("[global]\ncontrol_socket = \"lbd.sock\"\n" + rest, "t.toml", d3);
  REQUIRE(d3.size() == 1);
  CHECK(d3.items()[0].key_path.find("control_socket") != std::string::npos);
  CHECK(d3.items()[0].message.find("absolute path") != std::string::npos);
  lbd::load_config_from_string(
      "[global]\ncontrol_socket = \"/" + std::string(120, 'x') + "\"\n" + rest, "t.toml", d4);
  REQUIRE(d4.size() == 1);
  CHECK(d4.items()[0].message.find("too long") != std::string::npos);
}

TEST_CASE("lbd config: forward_headers defaults to all, reads a list, refuses unknown names") {
  const auto config_with = [](const std::string& listener_extra, std::string mode = "http") {
    return "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"" + mode +
           "\"\npool = \"p\"\n" + listener_extra +
           "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n";
  };
  Diagnostics d1, d2, d3, d4, d5;
  CHECK(lbd::load_config_from_string(config_with(""), "t.toml", d1).listeners[0].forward_headers ==
        lbd::proxy::kAllForwardHeaders);
  CHECK(lbd::load_config_from_string(
            config_with("forward_headers = [\"X-Forwarded-For\", \"via\"]\n"), "t.toml", d2)
            .listeners[0]
            .forward_headers == (lbd::proxy::kXForwardedFor | lbd::proxy::kVia));
  CHECK(lbd::load_config_from_string(config_with("forward_headers = []\n"), "t.toml", d3)
            .listeners[0]
            .forward_headers == 0);
  CHECK(d1.empty());
  CHECK(d2.empty());
  CHECK(d3.empty());
  lbd::load_config_from_string(config_with("forward_headers = [\"x-real-ip\"]\n"), "t.toml", d4);
  REQUIRE(d4.size() == 1);
  CHECK(d4.items()[0].key_path.find("forward_headers") != std::string::npos);
  CHECK(d4.items()[0].message.find("x-real-ip") != std::string::npos);
  lbd::load_config_from_string(config_with("forward_headers = []\n", "tcp"), "t.toml", d5);
  REQUIRE(d5.size() == 1);
  CHECK(d5.items()[0].message.find("mode = \"http\"") != std::string::npos);
}

TEST_CASE("lbd config: accept_proxy_protocol needs proxy_protocol_from, a list of trusted CIDRs") {
  const auto config_with = [](const std::string& listener_extra) {
    return "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"tcp\"\npool = \"p\"\n" +
           listener_extra +
           "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n";
  };
  Diagnostics ok, missing, stray, bad;
  const auto c = lbd::load_config_from_string(
      config_with("accept_proxy_protocol = true\n"
                  "proxy_protocol_from = [\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"]\n"),
      "t.toml", ok);
  INFO(ok.to_string());
  REQUIRE(ok.empty());
  const auto& l = c.listeners[0];
  REQUIRE(l.proxy_protocol_from.size() == 3);
  CHECK(l.expects_proxy_header(*lb::IpAddress::parse("10.1.2.3")));
  CHECK(l.expects_proxy_header(*lb::IpAddress::parse("2001:db8::5")));
  CHECK(l.expects_proxy_header(*lb::IpAddress::parse("192.0.2.7")));
  CHECK_FALSE(l.expects_proxy_header(*lb::IpAddress::parse("192.0.2.8")));
  CHECK_FALSE(l.expects_proxy_header(*lb::IpAddress::parse("127.0.0.1")));

  // No default: trusting every source must be written out.
  lbd::load_config_from_string(config_with("accept_proxy_protocol = true\n"), "t.toml", missing);
  REQUIRE(missing.size() == 1);
  CHECK(missing.items()[0].key_path.find("accept_proxy_protocol") != std::string::npos);
  CHECK(missing.items()[0].message.find("proxy_protocol_from") != std::string::npos);
  lbd::load_config_from_string(config_with("proxy_protocol_from = [\"10.0.0.0/8\"]\n"), "t.toml",
                               stray);
  REQUIRE(stray.size() == 1);
  CHECK(stray.items()[0].key_path.find("proxy_protocol_from") != std::string::npos);
  lbd::load_config_from_string(
      config_with("accept_proxy_protocol = true\nproxy_protocol_from = [\"10.0.0.0/33\"]\n"),
      "t.toml", bad);
  REQUIRE(bad.size() == 1);
  CHECK(bad.items()[0].message.find("10.0.0.0/33") != std::string::npos);

  // Off by default: nobody's header is read.
  Diagnostics d;
  const auto plain = lbd::load_config_from_string(config_with(""), "t.toml", d);
  CHECK_FALSE(plain.listeners[0].expects_proxy_header(*lb::IpAddress::parse("10.1.2.3")));
}

TEST_CASE("lbd config: h2c and max_concurrent_streams are read and checked") {
  const auto config_with = [](const std::string& listener_extra, std::string mode = "http",
                              const std::string& limits = "") {
    return limits + "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"" + mode +
           "\"\npool = \"p\"\n" + listener_extra +
           "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n";
  };
  Diagnostics d1, d2, d3, d4;
  const auto plain = lbd::load_config_from_string(config_with(""), "t.toml", d1);
  CHECK_FALSE(plain.listeners[0].h2c);
  CHECK(plain.limits.max_concurrent_streams == 100);
  const auto on = lbd::load_config_from_string(
      config_with("h2c = true\n", "http", "[limits]\nmax_concurrent_streams = 16\n"), "t.toml", d2);
  CHECK(on.listeners[0].h2c);
  CHECK(on.limits.max_concurrent_streams == 16);
  CHECK(d1.empty());
  CHECK(d2.empty());
  lbd::load_config_from_string(config_with("h2c = true\n", "tcp"), "t.toml", d3);
  REQUIRE(d3.size() == 1);
  CHECK(d3.items()[0].key_path.find("h2c") != std::string::npos);
  lbd::load_config_from_string(config_with("", "http", "[limits]\nmax_concurrent_streams = 0\n"),
                               "t.toml", d4);
  REQUIRE(d4.size() == 1);
  CHECK(d4.items()[0].key_path.find("max_concurrent_streams") != std::string::npos);
}

TEST_CASE(
    "lbd config: a pool's protocol defaults to HTTP/1.1, reads h2, refuses what h2 cannot do") {
  const auto config_with = [](const std::string& pool_extra, std::string mode = "http") {
    return "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"" + mode +
           "\"\npool = \"p\"\n[[pool]]\nname = \"p\"\n" + pool_extra +
           "[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n";
  };
  Diagnostics d1, d2, d3, d4, d5;
  CHECK(lbd::load_config_from_string(config_with(""), "t.toml", d1).pools[0].protocol ==
        lbd::UpstreamProtocol::http1);
  CHECK(lbd::load_config_from_string(config_with("protocol = \"h2\"\n"), "t.toml", d2)
            .pools[0]
            .protocol == lbd::UpstreamProtocol::h2);
  CHECK(d1.empty());
  CHECK(d2.empty());
  lbd::load_config_from_string(config_with("protocol = \"h3\"\n"), "t.toml", d3);
  REQUIRE(d3.size() == 1);
  CHECK(d3.items()[0].key_path.find("protocol") != std::string::npos);
  // A PROXY header would name only the first of the clients sharing the connection.
  lbd::load_config_from_string(config_with("protocol = \"h2\"\nsend_proxy_protocol = \"v2\"\n"),
                               "t.toml", d4);
  REQUIRE(d4.size() == 1);
  CHECK(d4.items()[0].key_path.find("protocol") != std::string::npos);
  CHECK(d4.items()[0].where.line > 0);
  lbd::load_config_from_string(config_with("protocol = \"h2\"\n", "tcp"), "t.toml", d5);
  REQUIRE(d5.size() == 1);
  CHECK(d5.items()[0].message.find("mode = \"http\"") != std::string::npos);
}
