#include "common/net/ip_address.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace lb {

IpAddress IpAddress::v4(std::array<std::uint8_t, 4> bytes) {
  IpAddress a;
  a.family_ = Family::v4;
  std::copy(bytes.begin(), bytes.end(), a.bytes_.begin());
  return a;
}

IpAddress IpAddress::v6(std::array<std::uint8_t, 16> bytes) {
  IpAddress a;
  a.family_ = Family::v6;
  a.bytes_ = bytes;
  return a;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // inet_pton needs a NUL-terminated string; addresses are short, so a stack buffer suffices.
  char buf[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddress a;
  if (inet_pton(AF_INET, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::v4;
    return a;
  }
  if (inet_pton(AF_INET6, buf, a.bytes_.data()) == 1) {
    a.family_ = Family::v6;
    return a;
  }
  return std::nullopt;
}

IpAddress IpAddress::unmapped() const {
  static constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (is_v6() && std::memcmp(bytes_.data(), kMappedPrefix, 12) == 0) {
    return v4({bytes_[12], bytes_[13], bytes_[14], bytes_[15]});
  }
  return *this;
}

IpAddress IpAddress::masked(unsigned prefix_len) const {
  IpAddress out = *this;
  const unsigned bits = static_cast<unsigned>(size()) * 8;
  prefix_len = std::min(prefix_len, bits);
  for (unsigned i = 0; i < size(); ++i) {
    const unsigned first_bit = i * 8;
    if (first_bit >= prefix_len) {
      out.bytes_[i] = 0;
    } else if (prefix_len - first_bit < 8) {
      out.bytes_[i] &= static_cast<std::uint8_t>(0xff << (8 - (prefix_len - first_bit)));
    }
  }
  return out;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4()) {
    // glibc's inet_ntop formats IPv4 with sprintf: this runs for every proxied request
    // (X-Forwarded-For), so it is done with to_chars.
    char* out = buf;
    for (std::size_t i = 0; i < 4; ++i) {
      if (i > 0) *out++ = '.';
      out = std::to_chars(out, buf + sizeof buf, bytes_[i]).ptr;
    }
    return std::string(buf, out);
  }
  if (inet_ntop(AF_INET6, bytes_.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

namespace {
std::optional<std::uint16_t> parse_port(std::string_view s) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}
}  // namespace

std::optional<Endpoint> Endpoint::parse(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    // An unbracketed IPv6 address is ambiguous ("::1:80"): refuse it.
    if (host.find(':') != std::string_view::npos) return std::nullopt;
  }
  auto address = IpAddress::parse(host);
  auto p = parse_port(port);
  if (!address || !p) return std::nullopt;
  if (text.starts_with('[') && !address->is_v6()) return std::nullopt;
  return Endpoint{*address, *p};
}

unsigned Endpoint::to_sockaddr(sockaddr_storage& out) const {
  std::memset(&out, 0, sizeof out);
  if (address.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&out);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    std::memcpy(&sin->sin_addr, address.data(), 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(port);
  std::memcpy(&sin6->sin6_addr, address.data(), 16);
  return sizeof(sockaddr_in6);
}

std::optional<Endpoint> Endpoint::from_sockaddr(const sockaddr* sa) {
  if (sa == nullptr) return std::nullopt;
  if (sa->sa_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(sa);
    std::array<std::uint8_t, 4> b;
    std::memcpy(b.data(), &sin->sin_addr, 4);
    return Endpoint{IpAddress::v4(b), ntohs(sin->sin_port)};
  }
  if (sa->sa_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(sa);
    std::array<std::uint8_t, 16> b;
    std::memcpy(b.data(), &sin6->sin6_addr, 16);
    return Endpoint{IpAddress::v6(b), ntohs(sin6->sin6_port)};
  }
  return std::nullopt;
}

std::string Endpoint::to_string() const {
  if (address.is_v6()) return "[" + address.to_string() + "]:" + std::to_string(port);
  return address.to_string() + ":" + std::to_string(port);
}

std::optional<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  auto address = IpAddress::parse(text.substr(0, slash));
  if (!address) return std::nullopt;
  const unsigned max_len = static_cast<unsigned>(address->size()) * 8;
  unsigned len = max_len;
  if (slash != std::string_view::npos) {
    auto s = text.substr(slash + 1);
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), len);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || len > max_len) {
      return std::nullopt;
    }
  }
  return Cidr{address->masked(len), len};
}

bool Cidr::contains(const IpAddress& a) const {
  const IpAddress candidate = a.unmapped().family() == network.family() ? a.unmapped() : a;
  return candidate.family() == network.family() && candidate.masked(prefix_len) == network;
}

std::string Cidr::to_string() const {
  return network.to_string() + "/" + std::to_string(prefix_len);
}

}  // namespace lb
