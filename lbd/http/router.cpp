#include "lbd/http/router.hpp"

#include <algorithm>

namespace lbd::proxy {

namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

void normalize_host(std::string_view raw, std::string& out) {
  raw = trim(raw);
  if (!raw.empty() && raw.front() == '[') {
    // IPv6 literal: keep up to and including ']'.
    if (auto close = raw.find(']'); close != std::string_view::npos) raw = raw.substr(0, close + 1);
  } else if (auto colon = raw.rfind(':'); colon != std::string_view::npos) {
    raw = raw.substr(0, colon);
  }
  if (!raw.empty() && raw.back() == '.') raw.remove_suffix(1);
  out.assign(raw);
  for (auto& c : out) c = lower(c);
}

TargetParts split_target(std::string_view target) {
  TargetParts parts;
  if (target == "*") {
    parts.path = target;
    return parts;
  }
  if (!target.empty() && target.front() != '/') {
    // absolute-form: scheme "://" authority path-abempty [ "?" query ]
    if (auto scheme_end = target.find("://"); scheme_end != std::string_view::npos) {
      auto rest = target.substr(scheme_end + 3);
      auto auth_end = rest.find_first_of("/?");
      parts.authority = rest.substr(0, auth_end);
      target = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
    }
  }
  auto q = target.find('?');
  parts.path = target.substr(0, q);
  if (parts.path.empty()) parts.path = "/";
  return parts;
}

std::optional<std::string_view> find_cookie(std::string_view header, std::string_view name) {
  // cookie-string = cookie-pair *( ";" SP cookie-pair ); be lenient about spaces.
  while (!header.empty()) {
    auto semi = header.find(';');
    auto pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(pair.substr(0, eq)) == name) return trim(pair.substr(eq + 1));
  }
  return std::nullopt;
}

bool Router::Matcher::matches(std::string_view s) const {
  switch (kind) {
    case MatchKind::exact:
      return s == text;
    case MatchKind::prefix:
      return s.starts_with(text);
    case MatchKind::wildcard:
      // "*.example.com" (text ".example.com") needs at least one label before the suffix.
      return s.size() > text.size() && s.ends_with(text);
    case MatchKind::present:
      return true;
    case MatchKind::regex:
      return re->search(s);
  }
  return false;
}

Router::Matcher Router::compile_match(const StringMatch& m, bool lowercase_text) {
  Matcher out;
  out.kind = m.kind;
  if (m.kind == MatchKind::regex) {
    // RE2 like the config check: linear time, no recursion, whatever the client sends. Host
    // regexes see the lowercased host, so compile them case-insensitive.
    out.re = std::make_shared<const lb::config::Regex>(m.value, lowercase_text);
  } else {
    out.text = lowercase_text ? lowercase(m.value) : m.value;
  }
  return out;
}

Router Router::compile(const ListenerConfig& listener) {
  Router r;
  r.pool_names_.push_back(listener.default_pool);
  for (const auto& rc : listener.routes) {
    Route route;
    auto it = std::find(r.pool_names_.begin(), r.pool_names_.end(), rc.pool);
    route.pool = static_cast<std::size_t>(it - r.pool_names_.begin());
    if (it == r.pool_names_.end()) r.pool_names_.push_back(rc.pool);
    if (rc.host) {
      route.host = compile_match(*rc.host, true);
      // normalize_host drops a trailing dot, so do the same to the configured name.
      if (route.host->kind != MatchKind::regex && route.host->text.ends_with('.')) {
        route.host->text.pop_back();
      }
    }
    if (rc.path) route.path = compile_match(*rc.path, false);
    for (const auto& h : rc.headers)
      route.headers.push_back({h.name, compile_match(h.match, false)});
    for (const auto& c : rc.cookies)
      route.cookies.push_back({c.name, compile_match(c.match, false)});
    route.methods = rc.methods;
    r.routes_.push_back(std::move(route));
  }
  return r;
}

bool Router::matches(const Route& r, const RouteRequest& req) const {
  // Cheapest conditions first: method, then host and path, then headers and cookies.
  if (!r.methods.empty() &&
      std::find(r.methods.begin(), r.methods.end(), req.method) == r.methods.end()) {
    return false;
  }
  if (r.host && !r.host->matches(req.host)) return false;
  if (r.path && !r.path->matches(req.path)) return false;
  for (const auto& h : r.headers) {
    if (!req.headers) return false;
    auto v = req.headers->header(h.name);
    if (!v || !h.match.matches(*v)) return false;
  }
  if (!r.cookies.empty()) {
    if (!req.headers) return false;
    auto cookie_header = req.headers->header("cookie");
    if (!cookie_header) return false;
    for (const auto& c : r.cookies) {
      auto v = find_cookie(*cookie_header, c.name);
      if (!v || !c.match.matches(*v)) return false;
    }
  }
  return true;
}

std::size_t Router::route(const RouteRequest& req, int* matched) const {
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (matches(routes_[i], req)) {
      if (matched) *matched = static_cast<int>(i);
      return routes_[i].pool;
    }
  }
  if (matched) *matched = -1;
  return 0;
}

}  // namespace lbd::proxy
