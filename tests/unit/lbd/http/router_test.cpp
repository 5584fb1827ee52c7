#include "lbd/http/router.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>

namespace {

using lbd::proxy::Router;

/// Case-insensitive header map standing in for the session's parsed fields.
struct Headers : lbd::proxy::HeaderLookup {
  std::map<std::string, std::string> values;  // lowercase names
  std::optional<std::string_view> header(std::string_view name) const override {
    std::string key(name);
    for (auto& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto it = values.find(key);
    if (it == values.end()) return std::nullopt;
    return std::string_view(it->second);
  }
};

Router compile(std::string_view routes_toml) {
  std::string text = R"(
[[listener]]
name = "web"
bind = "127.0.0.1:8080"
pool = "default"
)";
  text += routes_toml;
  text += R"(
[[pool]]
name = "default"
[[pool.server]]
name = "d"
address = "127.0.0.1:9000"
[[pool]]
name = "a"
[[pool.server]]
name = "a"
address = "127.0.0.1:9001"
[[pool]]
name = "b"
[[pool.server]]
name = "b"
address = "127.0.0.1:9002"
)";
  lb::config::Diagnostics diags;
  auto config = lbd::load_config_from_string(text, "test.toml", diags);
  REQUIRE(diags.empty());
  return Router::compile(config.listeners.at(0));
}

std::string route(const Router& r, std::string_view method, std::string_view host,
                  std::string_view path, const Headers* headers = nullptr) {
  return r.pool_names().at(r.route({method, host, path, headers}));
}

}  // namespace

TEST_CASE("router: no routes sends everything to the default pool") {
  auto r = compile("");
  CHECK(r.route_count() == 0);
  CHECK(route(r, "GET", "example.com", "/") == "default");
}

TEST_CASE("router: exact host matches case-insensitively, other hosts fall through") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
host = "API.example.com"
)");
  CHECK(route(r, "GET", "api.example.com", "/") == "a");
  CHECK(route(r, "GET", "www.example.com", "/") == "default");
  CHECK(route(r, "GET", "api.example.com.evil", "/") == "default");
}

TEST_CASE("router: wildcard host needs a label before the suffix") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
host = "*.example.com"
)");
  CHECK(route(r, "GET", "www.example.com", "/") == "a");
  CHECK(route(r, "GET", "a.b.example.com", "/") == "a");
  CHECK(route(r, "GET", "example.com", "/") == "default");
  CHECK(route(r, "GET", "badexample.com", "/") == "default");
}

TEST_CASE("router: host regex is searched in the lowercased host") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
host_regex = "^(eu|us)[0-9]+\\.example\\.com$"
)");
  CHECK(route(r, "GET", "eu12.example.com", "/") == "a");
  CHECK(route(r, "GET", "asia1.example.com", "/") == "default");
}

TEST_CASE("router: path exact, prefix and regex") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
path = "/login"
[[listener.route]]
pool = "b"
path_prefix = "/api/"
[[listener.route]]
pool = "a"
path_regex = "^/v[0-9]+/"
)");
  CHECK(route(r, "GET", "h", "/login") == "a");
  CHECK(route(r, "GET", "h", "/login/x") == "default");
  CHECK(route(r, "GET", "h", "/api/users") == "b");
  CHECK(route(r, "GET", "h", "/api") == "default");
  CHECK(route(r, "GET", "h", "/v2/items") == "a");
  CHECK(route(r, "GET", "h", "/x/v2/items") == "default");
  CHECK(r.pool_names() == std::vector<std::string>{"default", "a", "b"});
}

TEST_CASE("router: the first matching route wins") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
path_prefix = "/api/"
[[listener.route]]
pool = "b"
path_prefix = "/api/v2/"
)");
  CHECK(route(r, "GET", "h", "/api/v2/x") == "a");
}

TEST_CASE("router: methods restrict a route and are case-sensitive") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
methods = ["POST", "PUT"]
)");
  CHECK(route(r, "POST", "h", "/") == "a");
  CHECK(route(r, "PUT", "h", "/") == "a");
  CHECK(route(r, "GET", "h", "/") == "default");
  CHECK(route(r, "post", "h", "/") == "default");
}

TEST_CASE("router: header present, equals, prefix and regex conditions") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
[[listener.route.header]]
name = "X-Canary"
present = true
[[listener.route]]
pool = "b"
[[listener.route.header]]
name = "X-Tenant"
equals = "blue"
[[listener.route]]
pool = "a"
[[listener.route.header]]
name = "User-Agent"
prefix = "curl/"
[[listener.route]]
pool = "b"
[[listener.route.header]]
name = "Accept"
regex = "json"
)");
  Headers h;
  CHECK(route(r, "GET", "h", "/", &h) == "default");
  CHECK(route(r, "GET", "h", "/", nullptr) == "default");
  h.values = {{"x-canary", ""}};
  CHECK(route(r, "GET", "h", "/", &h) == "a");
  h.values = {{"x-tenant", "blue"}};
  CHECK(route(r, "GET", "h", "/", &h) == "b");
  h.values = {{"x-tenant", "bluer"}};
  CHECK(route(r, "GET", "h", "/", &h) == "default");
  h.values = {{"user-agent", "curl/8.0"}};
  CHECK(route(r, "GET", "h", "/", &h) == "a");
  h.values = {{"accept", "application/json; q=1"}};
  CHECK(route(r, "GET", "h", "/", &h) == "b");
}

TEST_CASE("router: cookie conditions look into the Cookie header") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
[[listener.route.cookie]]
name = "beta"
equals = "1"
[[listener.route]]
pool = "b"
[[listener.route.cookie]]
name = "session"
present = true
)");
  Headers h;
  CHECK(route(r, "GET", "h", "/", &h) == "default");
  h.values = {{"cookie", "x=y; beta=1"}};
  CHECK(route(r, "GET", "h", "/", &h) == "a");
  h.values = {{"cookie", "beta=2; session=abc"}};
  CHECK(route(r, "GET", "h", "/", &h) == "b");
  h.values = {{"cookie", "Beta=1"}};
  CHECK(route(r, "GET", "h", "/", &h) == "default");
}

TEST_CASE("router: every condition of a route must hold") {
  auto r = compile(R"(
[[listener.route]]
pool = "a"
host = "api.example.com"
path_prefix = "/v1/"
methods = ["GET"]
)");
  CHECK(route(r, "GET", "api.example.com", "/v1/x") == "a");
  CHECK(route(r, "POST", "api.example.com", "/v1/x") == "default");
  CHECK(route(r, "GET", "www.example.com", "/v1/x") == "default");
  CHECK(route(r, "GET", "api.example.com", "/v2/x") == "default");
}

TEST_CASE("router: normalize_host lowercases and drops the port and a trailing dot") {
  std::string out;
  lbd::proxy::normalize_host("WWW.Example.COM:8080", out);
  CHECK(out == "www.example.com");
  lbd::proxy::normalize_host("example.com.", out);
  CHECK(out == "example.com");
  lbd::proxy::normalize_host("[2001:DB8::1]:443", out);
  CHECK(out == "[2001:db8::1]");
  lbd::proxy::normalize_host("[2001:db8::1]", out);
  CHECK(out == "[2001:db8::1]");
  lbd::proxy::normalize_host("", out);
  CHECK(out.empty());
}

TEST_CASE("router: split_target separates query, authority and asterisk-form") {
  auto p = lbd::proxy::split_target("/a/b?x=1");
  CHECK(p.path == "/a/b");
  CHECK(p.authority.empty());
  p = lbd::proxy::split_target("http://Example.com:80/x?y");
  CHECK(p.authority == "Example.com:80");
  CHECK(p.path == "/x");
  p = lbd::proxy::split_target("http://example.com");
  CHECK(p.authority == "example.com");
  CHECK(p.path == "/");
  p = lbd::proxy::split_target("*");
  CHECK(p.path == "*");
}

TEST_CASE("router: find_cookie finds exact names and tolerates spacing") {
  CHECK(lbd::proxy::find_cookie("a=1; b=2", "b") == "2");
  CHECK(lbd::proxy::find_cookie("a=1;b=2", "b") == "2");
  CHECK(lbd::proxy::find_cookie("ab=1; b=\"q\"", "b") == "\"q\"");
  CHECK_FALSE(lbd::proxy::find_cookie("a=1; flag", "flag"));
  CHECK_FALSE(lbd::proxy::find_cookie("", "a"));
  CHECK(lbd::proxy::find_cookie("a=", "a") == "");
}

TEST_CASE("router: a 64 KiB path or header value is matched without exhausting the stack") {
  // A backtracking engine recurses once per repetition of the group: 64 Ki levels overflow a
  // worker's stack. RE2 matches in linear time without recursion.
  auto r = compile(R"(
[[listener.route]]
pool = "a"
path_regex = "^/(a|b)*$"
[[listener.route]]
pool = "b"
[[listener.route.header]]
name = "X-Long"
regex = "^(x|y)*z$"
)");
  const std::string path = "/" + std::string(64 * 1024, 'a');
  CHECK(route(r, "GET", "h", path) == "a");
  CHECK(route(r, "GET", "h", path + "c") == "default");
  Headers h;
  h.values = {{"x-long", std::string(64 * 1024, 'x') + "z"}};
  CHECK(route(r, "GET", "h", "/c", &h) == "b");
  h.values = {{"x-long", std::string(64 * 1024, 'x')}};
  CHECK(route(r, "GET", "h", "/c", &h) == "default");
}
