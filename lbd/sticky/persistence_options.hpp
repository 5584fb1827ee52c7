// Session persistence options of one pool, as configured ([pool.persistence]). Plain
// data: the reader is persistence_config.hpp, the users are the proxy and the stick tables.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace lbd {

enum class PersistenceMode {
  none,            // the balancer alone decides
  cookie,          // lbd inserts a signed cookie naming the server
  source_ip,       // client address (masked) → server, in a stick table
  learned_cookie,  // the backend's own session cookie value → server, in a stick table
  header,          // a request header value → server, in a stick table
};

enum class SameSite { unset, lax, strict, none };

struct CookieInsertOptions {
  std::string name = "LBSRV";
  /// keys[0] signs, every key verifies (rotation). Each ≥ 32 bytes. Never logged.
  std::vector<std::string> keys;
  std::chrono::seconds max_age{0};  // 0: a session cookie (checked against 24 h, see below)
  std::string domain;               // empty: no Domain attribute
  std::string path = "/";
  bool secure = false;
  bool http_only = true;
  SameSite same_site = SameSite::lax;
  bool indirect = true;  // strip our cookie from requests before forwarding them
};

/// How long lbd honours a session cookie (cookie_max_age = 0) after its signed issue time: a
/// browser may keep a session cookie for weeks, so the age is checked by lbd, not left to it.
inline constexpr std::chrono::seconds kSessionCookieLifetime = std::chrono::hours(24);

/// The age limit lbd checks on a cookie: cookie_max_age, or kSessionCookieLifetime.
inline std::chrono::seconds cookie_lifetime(const CookieInsertOptions& o) {
  return o.max_age.count() > 0 ? o.max_age : kSessionCookieLifetime;
}

/// A valid cookie older than this is issued anew with the response, so a client that keeps
/// coming back keeps its server past the lifetime; an idle one loses it.
inline std::chrono::seconds cookie_refresh_after(const CookieInsertOptions& o) {
  return cookie_lifetime(o) / 2;
}

struct PersistenceOptions {
  PersistenceMode mode = PersistenceMode::none;
  CookieInsertOptions cookie;
  // Stick-table modes (source_ip, learned_cookie, header).
  std::chrono::nanoseconds ttl = std::chrono::minutes(30);  // idle time-to-live
  std::size_t max_entries = 1'000'000;                      // LRU eviction beyond
  unsigned ipv4_mask = 32;                                  // source_ip: prefix length kept
  unsigned ipv6_mask = 64;
  std::string learn_cookie = "JSESSIONID";  // learned_cookie: the backend's cookie name
  std::string url_parameter;                // learned_cookie: also read the value from here
  std::string header;                       // header: the request header used as the key

  bool uses_stick_table() const {
    return mode == PersistenceMode::source_ip || mode == PersistenceMode::learned_cookie ||
           mode == PersistenceMode::header;
  }
};

/// Textual name of a mode as written in the config.
const char* persistence_mode_name(PersistenceMode m);

}  // namespace lbd
