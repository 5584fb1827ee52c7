// Stick key derivation and the small RFC 6265 cookie-pair parser it needs (Beast does not parse
// cookies).
#include "lbd/sticky/key_derivation.hpp"

#include <array>
#include <cstring>

namespace lbd::stick_key {

namespace {

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

/// RFC 6265 §4.1.1: cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE ).
std::string_view unquote(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

std::string from_address(const lb::IpAddress& client, unsigned v4_prefix, unsigned v6_prefix) {
  const lb::IpAddress a = client.unmapped();
  const lb::IpAddress m = a.masked(a.is_v4() ? v4_prefix : v6_prefix);
  std::string key;
  key.reserve(1 + m.size());
  key.push_back(a.is_v4() ? '\x04' : '\x06');
  key.append(reinterpret_cast<const char*>(m.data()), m.size());
  return key;
}

std::optional<std::string> from_header_value(std::string_view value) {
  value = trim(value);
  if (value.empty() || value.size() > kMaxValueSize) return std::nullopt;
  return std::string(value);
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;  // not a pair: ignore, as browsers do
    if (trim(pair.substr(0, eq)) != name) continue;
    const std::string_view value = unquote(trim(pair.substr(eq + 1)));
    if (value.empty()) return std::nullopt;
    return value;
  }
  return std::nullopt;
}

std::optional<SetCookie> parse_set_cookie(std::string_view header) {
  // §5.2 steps 1–5: the name-value-pair is everything up to the first ';'.
  const std::string_view pair = header.substr(0, header.find(';'));
  const auto eq = pair.find('=');
  if (eq == std::string_view::npos) return std::nullopt;
  const std::string_view name = trim(pair.substr(0, eq));
  if (name.empty()) return std::nullopt;
  return SetCookie{name, unquote(trim(pair.substr(eq + 1)))};
}

std::optional<std::string_view> url_parameter(std::string_view target, std::string_view name) {
  if (name.empty()) return std::nullopt;
  const auto fragment = target.find('#');
  if (fragment != std::string_view::npos) target = target.substr(0, fragment);
  const auto q = target.find('?');
  const std::string_view path = target.substr(0, q);
  const std::string_view query =
      q == std::string_view::npos ? std::string_view() : target.substr(q + 1);

  auto search = [&](std::string_view params, char sep) -> std::optional<std::string_view> {
    while (!params.empty()) {
      const auto end = params.find(sep);
      const std::string_view item = params.substr(0, end);
      params = end == std::string_view::npos ? std::string_view() : params.substr(end + 1);
      const auto eq = item.find('=');
      if (eq == std::string_view::npos || item.substr(0, eq) != name) continue;
      const std::string_view value = item.substr(eq + 1);
      if (value.empty()) return std::nullopt;
      return value;
    }
    return std::nullopt;
  };
  if (auto v = search(query, '&')) return v;
  // Path parameters: only after the last '/' segment's first ';' ("/a/b;jsessionid=x").
  const auto slash = path.rfind('/');
  const std::string_view last = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const auto semi = last.find(';');
  if (semi == std::string_view::npos) return std::nullopt;
  return search(last.substr(semi + 1), ';');
}

std::optional<std::string> from_session_value(std::string_view value) {
  if (value.empty() || value.size() > kMaxValueSize) return std::nullopt;
  return std::string(value);
}

std::string describe(std::string_view key) {
  // Address keys start with byte 4 or 6, which no HTTP field value can (RFC 9110 §5.5 forbids
  // control characters), so the forms cannot be confused.
  if (key.size() == 5 && key[0] == '\x04') {
    std::array<std::uint8_t, 4> b{};
    std::memcpy(b.data(), key.data() + 1, 4);
    return lb::IpAddress::v4(b).to_string();
  }
  if (key.size() == 17 && key[0] == '\x06') {
    std::array<std::uint8_t, 16> b{};
    std::memcpy(b.data(), key.data() + 1, 16);
    return lb::IpAddress::v6(b).to_string();
  }
  bool printable = !key.empty();
  for (char c : key) printable = printable && c >= 0x20 && c < 0x7f;
  if (printable) return std::string(key);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "0x";
  for (char c : key) {
    out.push_back(kHex[static_cast<std::uint8_t>(c) >> 4]);
    out.push_back(kHex[static_cast<std::uint8_t>(c) & 0xf]);
  }
  return out;
}

}  // namespace lbd::stick_key
