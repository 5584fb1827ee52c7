// One access-log record (per HTTP request, per TCP connection) and its formatting as a JSON
// object or through a user template. Pure code; the async writer is in access_log.hpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lbd::admin {

/// What one line says. Views point into the session's data: format synchronously.
struct AccessRecord {
  std::chrono::system_clock::time_point time;  // when the request / connection ended
  std::string_view kind;                       // "http" or "tcp"
  std::string_view client;                     // "address:port"
  std::string_view listener;
  std::string_view route;  // the matched route ("default" or "route#N"); empty for tcp
  std::string_view pool;
  std::string_view server;      // empty when no server was reached
  std::string_view method;      // http only
  std::string_view target;      // http only
  unsigned status = 0;          // http status sent to the client; 0 for tcp / none
  std::uint64_t bytes_in = 0;   // from the client
  std::uint64_t bytes_out = 0;  // to the client
  std::optional<std::chrono::nanoseconds> connect;     // to the backend (absent: reused / none)
  std::optional<std::chrono::nanoseconds> first_byte;  // request start → response header
  std::chrono::nanoseconds total{0};                   // request (or connection) duration
  std::string_view sticky;       // "hit", "miss" or "" (pool without persistence)
  std::string_view tls_version;  // "" until the listener terminates TLS
  std::string_view tls_cipher;
};

/// A compiled line format: JSON, or a template where {field} is replaced by the field (names as
/// in the JSON keys) and {{ / }} are literal braces.
class AccessLogFormat {
 public:
  /// "json" or a template; an unknown field or an unbalanced brace is an error message.
  static std::expected<AccessLogFormat, std::string> compile(std::string_view spec);
  /// The line for `r`, with a trailing newline. JSON strings are escaped (RFC 8259: quote,
  /// backslash, control characters; bytes that are not UTF-8 become U+FFFD).
  std::string format(const AccessRecord& r) const;

  /// The field names a template may use.
  static const std::vector<std::string_view>& field_names();

 private:
  struct Segment {
    std::string literal;
    int field = -1;  // index into field_names(), -1 = literal only
  };
  bool json_ = true;
  std::vector<Segment> segments_;
};

/// Appends `s` as a JSON string (with quotes) to `out`.
void append_json_string(std::string& out, std::string_view s);

}  // namespace lbd::admin
