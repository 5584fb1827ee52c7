// [pool.persistence] reader.
#include "lbd/persistence_config.hpp"

#include <fmt/format.h>

#include <fstream>
#include <initializer_list>
#include <sstream>
#include <string_view>
#include <vector>

#include "common/config/reader.hpp"

namespace lbd {

namespace {

constexpr std::size_t kMinKeySize = 32;

using Mode = PersistenceMode;

/// Keys that only make sense in one mode; setting them under another mode is an error rather
/// than silently ignored.
struct ModeKeys {
  Mode mode;
  std::vector<std::string_view> keys;
};
const ModeKeys kModeKeys[] = {
    {Mode::cookie,
     {"cookie_name", "cookie_key", "cookie_key_file", "cookie_previous_keys", "cookie_max_age",
      "cookie_domain", "cookie_path", "cookie_secure", "cookie_http_only", "cookie_same_site",
      "cookie_indirect"}},
    {Mode::source_ip, {"ipv4_mask", "ipv6_mask"}},
    {Mode::learned_cookie, {"learn_cookie", "url_parameter"}},
    {Mode::header, {"header"}},
};

bool valid_token(std::string_view s) {
  // RFC 6265 cookie-name / RFC 9110 field-name: a token (tchar).
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

void read_cookie(lb::config::TableReader& t, CookieInsertOptions& c) {
  c.name = t.string("cookie_name", c.name);
  if (!valid_token(c.name)) t.error("cookie_name", "must be a cookie-name token (RFC 6265)");
  const bool has_key = t.has("cookie_key");
  const bool has_file = t.has("cookie_key_file");
  if (has_key && has_file) {
    t.error("cookie_key_file", "set cookie_key or cookie_key_file, not both");
  }
  std::string key;
  if (has_key) key = t.string("cookie_key", "");
  if (has_file) {
    const std::string path = t.string("cookie_key_file", "");
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      t.error("cookie_key_file", fmt::format("cannot read \"{}\"", path));
    } else {
      std::ostringstream s;
      s << in.rdbuf();
      key = s.str();
      while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    }
  }
  if (!has_key && !has_file) {
    t.error_here("mode \"cookie\" needs cookie_key or cookie_key_file (the HMAC signing key)");
  } else if (key.size() < kMinKeySize) {
    // The message never echoes the key.
    t.error(has_file ? "cookie_key_file" : "cookie_key",
            fmt::format("the key must be at least {} bytes", kMinKeySize));
  }
  c.keys.clear();
  if (!key.empty()) c.keys.push_back(key);
  for (auto& k : t.string_array("cookie_previous_keys")) {
    if (k.size() < kMinKeySize) {
      t.error("cookie_previous_keys",
              fmt::format("each key must be at least {} bytes", kMinKeySize));
    }
    c.keys.push_back(std::move(k));
  }
  c.max_age = std::chrono::duration_cast<std::chrono::seconds>(t.duration(
      "cookie_max_age", c.max_age, std::chrono::seconds(0), std::chrono::hours(24 * 400)));
  c.domain = t.string("cookie_domain", c.domain);
  c.path = t.string("cookie_path", c.path);
  if (c.path.empty() || c.path.front() != '/') t.error("cookie_path", "must start with '/'");
  auto no_separators = [&](std::string_view key, const std::string& value) {
    // They go verbatim into Set-Cookie: a ';' would inject attributes, a line break a header.
    if (value.find_first_of(";,\r\n") != std::string::npos) {
      t.error(key, "must not contain ';', ',' or line breaks");
    }
  };
  no_separators("cookie_domain", c.domain);
  no_separators("cookie_path", c.path);
  c.secure = t.boolean("cookie_secure", c.secure);
  c.http_only = t.boolean("cookie_http_only", c.http_only);
  c.same_site = t.enumeration("cookie_same_site", c.same_site,
                              {{"", SameSite::unset},
                               {"lax", SameSite::lax},
                               {"strict", SameSite::strict},
                               {"none", SameSite::none}});
  if (c.same_site == SameSite::none && !c.secure) {
    t.error("cookie_same_site",
            "\"none\" needs cookie_secure = true (browsers refuse it otherwise)");
  }
  c.indirect = t.boolean("cookie_indirect", c.indirect);
}

}  // namespace

const char* persistence_mode_name(PersistenceMode m) {
  switch (m) {
    case Mode::none:
      return "none";
    case Mode::cookie:
      return "cookie";
    case Mode::source_ip:
      return "source_ip";
    case Mode::learned_cookie:
      return "learned_cookie";
    case Mode::header:
      return "header";
  }
  return "?";
}

PersistenceOptions read_persistence(lb::config::TableReader& t) {
  PersistenceOptions p;
  p.mode = t.enumeration("mode", p.mode,
                         {{"none", Mode::none},
                          {"cookie", Mode::cookie},
                          {"source_ip", Mode::source_ip},
                          {"learned_cookie", Mode::learned_cookie},
                          {"header", Mode::header}});
  for (const auto& mk : kModeKeys) {
    if (mk.mode == p.mode) continue;
    for (auto key : mk.keys) {
      if (t.has(key)) {
        t.error(key, fmt::format("applies only to mode \"{}\" (mode is \"{}\")",
                                 persistence_mode_name(mk.mode), persistence_mode_name(p.mode)));
        (void)t.raw(key);  // reported once, not again as unknown
      }
    }
  }
  const bool table_mode = p.uses_stick_table();
  for (std::string_view key : {"ttl", "max_entries"}) {
    if (!table_mode && t.has(key)) {
      t.error(key, "applies only to the stick-table modes (source_ip, learned_cookie, header)");
      (void)t.raw(key);
    }
  }
  switch (p.mode) {
    case Mode::none:
      break;
    case Mode::cookie:
      read_cookie(t, p.cookie);
      break;
    case Mode::source_ip:
      p.ipv4_mask = static_cast<unsigned>(t.integer("ipv4_mask", p.ipv4_mask, 1, 32));
      p.ipv6_mask = static_cast<unsigned>(t.integer("ipv6_mask", p.ipv6_mask, 1, 128));
      break;
    case Mode::learned_cookie:
      p.learn_cookie = t.string("learn_cookie", p.learn_cookie);
      if (!valid_token(p.learn_cookie)) {
        t.error("learn_cookie", "must be a cookie-name token (RFC 6265)");
      }
      p.url_parameter = t.string("url_parameter", p.url_parameter);
      if (p.url_parameter.find_first_of("&;=?#") != std::string::npos) {
        t.error("url_parameter", "must not contain '&', ';', '=', '?' or '#'");
      }
      break;
    case Mode::header:
      if (auto h = t.required_string("header")) {
        p.header = *h;
        if (!valid_token(p.header)) t.error("header", "must be a header field name");
      }
      break;
  }
  if (table_mode) {
    p.ttl = t.duration("ttl", p.ttl, std::chrono::seconds(1), std::chrono::hours(24 * 30));
    p.max_entries = static_cast<std::size_t>(
        t.integer("max_entries", static_cast<std::int64_t>(p.max_entries), 1, 100'000'000));
  }
  t.reject_unknown_keys();
  return p;
}

}  // namespace lbd
