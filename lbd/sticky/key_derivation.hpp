// Stick keys: how a request or connection is turned into the bytes a StickyTable is keyed by —
// the client address (optionally masked), a header value, an application session cookie learned
// from the backend's Set-Cookie, or a URL query parameter. Pure; no HTTP library here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/net/ip_address.hpp"

namespace lbd::stick_key {

/// Longest value used as a key; longer header/cookie/parameter values give no key (the request
/// falls back to the balancer) rather than a truncated one that could collide.
inline constexpr std::size_t kMaxValueSize = 256;

/// Key of a client address: one family byte (4 or 6) and the address masked to `v4_prefix` /
/// `v6_prefix` bits (e.g. /24, /64). A v4-mapped IPv6 address counts as IPv4.
std::string from_address(const lb::IpAddress& client, unsigned v4_prefix = 32,
                         unsigned v6_prefix = 128);

/// Key of a header value: the value with surrounding whitespace trimmed; nullopt when empty or
/// longer than kMaxValueSize.
std::optional<std::string> from_header_value(std::string_view value);

/// The value of cookie `name` in a request `Cookie` header ("a=1; b=2"), RFC 6265 §5.4 syntax:
/// pairs separated by ';', optional spaces, a DQUOTE-wrapped value is unwrapped. Names compare
/// case-sensitively. The first occurrence wins. nullopt when absent or empty.
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);

/// One `Set-Cookie` header value parsed per RFC 6265 §5.2: its cookie name and value (the first
/// name=value pair; attributes after the first ';' are ignored). nullopt when there is no '='
/// or the name is empty.
struct SetCookie {
  std::string_view name;
  std::string_view value;
};
std::optional<SetCookie> parse_set_cookie(std::string_view set_cookie_header);

/// The value of query parameter `name` in a request target ("/p?a=1&jsessionid=x"), and also the
/// Java-style path parameter ("/p;jsessionid=x?..."). Raw (not percent-decoded) so it matches the
/// cookie value it mirrors. nullopt when absent or empty.
std::optional<std::string_view> url_parameter(std::string_view target, std::string_view name);

/// Key from a learned session value (cookie or URL parameter): the value itself, if it is
/// 1..kMaxValueSize bytes.
std::optional<std::string> from_session_value(std::string_view value);

/// A printable form of a key for the control socket: an address key prints as the address
/// ("192.0.2.0"), a printable value as itself, anything else as hex ("0x0a1b…").
std::string describe(std::string_view key);

}  // namespace lbd::stick_key
