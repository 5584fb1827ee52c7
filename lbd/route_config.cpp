// [[listener.route]] and [[listener.sni_route]] readers.
#include "lbd/route_config.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/config/reader.hpp"
#include "common/config/regex.hpp"

namespace lbd {

using lb::config::TableReader;

namespace {

void check_regex(TableReader& t, std::string_view key, const std::string& pattern) {
  if (auto why = lb::config::regex_error(pattern)) {
    t.error(key, fmt::format("invalid regular expression \"{}\" (RE2 syntax): {}", pattern, *why));
  }
}

HeaderMatch read_header_match(TableReader& t) {
  HeaderMatch m;
  if (auto n = t.required_string("name")) m.name = *n;
  int conditions = 0;
  if (t.has("equals")) {
    m.match = {MatchKind::exact, t.string("equals", "")};
    ++conditions;
  }
  if (t.has("prefix")) {
    m.match = {MatchKind::prefix, t.string("prefix", "")};
    ++conditions;
  }
  if (t.has("regex")) {
    m.match = {MatchKind::regex, t.string("regex", "")};
    check_regex(t, "regex", m.match.value);
    ++conditions;
  }
  if (t.has("present")) {
    if (!t.boolean("present", true)) t.error("present", "only `present = true` is supported");
    m.match = {MatchKind::present, ""};
    ++conditions;
  }
  if (conditions != 1) {
    t.error_here("give exactly one of equals, prefix, regex, present");
  }
  t.reject_unknown_keys();
  return m;
}

}  // namespace

RouteConfig read_route(TableReader& t) {
  RouteConfig r;
  if (auto p = t.required_string("pool")) r.pool = *p;
  if (t.has("host")) {
    auto host = t.string("host", "");
    if (host.starts_with("*.")) {
      r.host = StringMatch{MatchKind::wildcard, host.substr(1)};  // keeps the leading dot
    } else {
      r.host = StringMatch{MatchKind::exact, host};
    }
  }
  if (t.has("host_regex")) {
    if (r.host) t.error("host_regex", "give either host or host_regex");
    r.host = StringMatch{MatchKind::regex, t.string("host_regex", "")};
    check_regex(t, "host_regex", r.host->value);
  }
  int path_conditions = 0;
  if (t.has("path")) {
    r.path = StringMatch{MatchKind::exact, t.string("path", "")};
    ++path_conditions;
  }
  if (t.has("path_prefix")) {
    r.path = StringMatch{MatchKind::prefix, t.string("path_prefix", "")};
    ++path_conditions;
  }
  if (t.has("path_regex")) {
    r.path = StringMatch{MatchKind::regex, t.string("path_regex", "")};
    check_regex(t, "path_regex", r.path->value);
    ++path_conditions;
  }
  if (path_conditions > 1) t.error_here("give at most one of path, path_prefix, path_regex");
  for (auto& h : t.tables("header")) r.headers.push_back(read_header_match(h));
  for (auto& c : t.tables("cookie")) r.cookies.push_back(read_header_match(c));
  r.methods = t.string_array("methods");
  t.reject_unknown_keys();
  return r;
}

SniRouteConfig read_sni_route(TableReader& t) {
  SniRouteConfig r;
  if (auto p = t.required_string("pool")) r.pool = *p;
  for (auto name : t.string_or_array("server_name")) {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    const std::string_view host = name.starts_with("*.") ? std::string_view(name).substr(2) : name;
    const bool ok =
        !host.empty() && host.size() <= 253 && !host.starts_with('.') && !host.ends_with('.') &&
        host.find("..") == std::string_view::npos &&
        host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-._") == std::string_view::npos;
    if (!ok) {
      t.error("server_name", fmt::format("\"{}\" is not a DNS name or \"*.\" wildcard", name));
    }
    r.server_names.push_back(std::move(name));
  }
  if (r.server_names.empty()) t.error("server_name", "an sni_route needs at least one server_name");
  t.reject_unknown_keys();
  return r;
}

}  // namespace lbd
