// The L7 routing table: a listener's routes compiled once per config (lowercased hosts, regexes
// built ahead) and matched per request, first match wins, else the listener's default pool.
// Pure: no Beast or Asio; the session adapts its parsed request to RouteRequest.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/regex.hpp"
#include "lbd/config.hpp"

namespace lbd::proxy {

/// Header access for routing. Names are matched case-insensitively by the implementation; when a
/// header occurs several times the first value is used.
class HeaderLookup {
 public:
  virtual ~HeaderLookup() = default;
  virtual std::optional<std::string_view> header(std::string_view name) const = 0;
};

/// What routing looks at. Views must stay valid during Router::route().
struct RouteRequest {
  std::string_view method;                // case-sensitive, as sent ("GET")
  std::string_view host;                  // lowercase, port removed (see normalize_host)
  std::string_view path;                  // request path without query string (see split_target)
  const HeaderLookup* headers = nullptr;  // may be null: header and cookie conditions then fail
};

/// Lowercases `raw` (a Host header or URI authority) into `out` and drops a ":port" suffix; keeps
/// the brackets of an IPv6 literal ("[2001:db8::1]:80" -> "[2001:db8::1]"). A trailing dot is
/// removed ("example.com." -> "example.com").
void normalize_host(std::string_view raw, std::string& out);

/// The parts of a request target (RFC 9112 §3.2) routing needs.
struct TargetParts {
  std::string_view authority;  // non-empty only for absolute-form ("http://host:80/p")
  std::string_view path;       // "/p" without "?query"; "*" for asterisk-form; "/" if empty
};
TargetParts split_target(std::string_view target);

/// The value of cookie `name` in a Cookie header ("a=1; b=2"), nullopt when absent. Names are
/// case-sensitive (RFC 6265); surrounding double quotes of the value are kept.
std::optional<std::string_view> find_cookie(std::string_view cookie_header, std::string_view name);

/// A listener's compiled routes. Immutable after compile(); safe to share between threads.
class Router {
 public:
  /// Compiles `listener.routes` (config already validated by load_config). Pools are numbered:
  /// 0 is the default pool, then each distinct route pool in order of first appearance.
  static Router compile(const ListenerConfig& listener);

  /// Index into pool_names() of the pool for `req`: the first route whose every condition holds,
  /// else 0 (the default pool). `matched` (optional) receives the index of that route in config
  /// order, or -1 when none matched (the access log names the route).
  std::size_t route(const RouteRequest& req, int* matched = nullptr) const;
  const std::vector<std::string>& pool_names() const { return pool_names_; }
  std::size_t route_count() const { return routes_.size(); }

 private:
  struct Matcher {
    MatchKind kind = MatchKind::exact;
    std::string text;  // exact / prefix / wildcard suffix (".example.com")
    std::shared_ptr<const lb::config::Regex> re;
    bool matches(std::string_view s) const;
  };
  struct NamedMatcher {
    std::string name;
    Matcher match;
  };
  struct Route {
    std::size_t pool = 0;
    std::optional<Matcher> host;
    std::optional<Matcher> path;
    std::vector<NamedMatcher> headers;
    std::vector<NamedMatcher> cookies;
    std::vector<std::string> methods;
  };
  static Matcher compile_match(const StringMatch& m, bool lowercase);
  bool matches(const Route& r, const RouteRequest& req) const;

  std::vector<std::string> pool_names_;
  std::vector<Route> routes_;
};

}  // namespace lbd::proxy
