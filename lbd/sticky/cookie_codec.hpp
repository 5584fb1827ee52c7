// The persistence cookie that `cookie insert` mode hands to clients: an opaque value naming the
// server, signed with HMAC-SHA256 under a configured key so that a client cannot pick a server by
// forging it. The server name is signed, not encrypted. OpenSSL stays in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lbd {

/// Why a cookie value was refused (for counters and debug logs; the client never sees it).
enum class CookieError {
  malformed,    // not base64url, wrong length or layout, unknown format version
  bad_mac,      // no configured key signed it (forged, altered, or an old key)
  expired,      // older than max-age
  from_future,  // issued further in the future than the allowed clock skew
};

/// What a valid cookie says.
struct CookieClaims {
  std::string server;
  std::chrono::system_clock::time_point issued;
};

/// Encodes and verifies cookie values. Layout before base64url (no padding):
///   u8 format (2) · u64 issue time, unix seconds, big-endian · u8 name length · name ·
///   32-byte HMAC-SHA256(key, u8 scope length · scope · everything before the MAC).
/// The scope (the pool's name) is signed but not sent: a cookie issued for one pool does not
/// verify in another that shares the key, where the same server name may mean another machine.
/// Wall-clock time because both nodes must honour each other's cookies. Immutable after
/// construction, so thread-safe.
class CookieCodec {
 public:
  /// `keys[0]` signs; every key verifies (so a key can be rotated without breaking sessions).
  /// Keys must be non-empty (the config reader enforces a minimum length).
  /// `scope` (at most 255 bytes): what the cookie is valid for, the pool's name.
  CookieCodec(std::vector<std::string> keys, std::string scope,
              std::chrono::seconds max_age = std::chrono::seconds(0),
              std::chrono::seconds max_skew = std::chrono::seconds(60));

  /// The cookie value for `server` (1..255 bytes) issued at `now`.
  std::string encode(std::string_view server, std::chrono::system_clock::time_point now) const;

  /// Checks `value` at `now`; max-age 0 means no age limit. Every comparison of secret-derived
  /// bytes is constant-time.
  struct Verified {
    std::optional<CookieClaims> claims;
    std::optional<CookieError> error;
  };
  Verified verify(std::string_view value, std::chrono::system_clock::time_point now) const;

 private:
  std::string mac_input(std::string_view signed_part) const;

  std::vector<std::string> keys_;
  std::string scope_;
  std::chrono::seconds max_age_;
  std::chrono::seconds max_skew_;
};

/// RFC 4648 §5 base64url without padding (exposed for tests). `decode` returns nullopt on any
/// character outside the alphabet, on padding, or on an impossible length.
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace lbd
