// Plain value types for IPv4/IPv6 addresses, endpoints and CIDR prefixes. No Asio here, so pure
// code (balancers, stick tables, replication, VRRP) can hash, compare and print addresses.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

namespace lb {

/// An IPv4 or IPv6 address. IPv4 is stored in the first 4 bytes.
class IpAddress {
 public:
  enum class Family : std::uint8_t { v4 = 4, v6 = 6 };

  IpAddress() = default;
  static IpAddress v4(std::array<std::uint8_t, 4> bytes);
  static IpAddress v6(std::array<std::uint8_t, 16> bytes);
  /// Parses dotted-quad or RFC 4291 text (no brackets, no zone). nullopt when invalid.
  static std::optional<IpAddress> parse(std::string_view text);

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::v4; }
  bool is_v6() const { return family_ == Family::v6; }
  /// 4 or 16.
  std::size_t size() const { return is_v4() ? 4 : 16; }
  const std::uint8_t* data() const { return bytes_.data(); }
  const std::array<std::uint8_t, 16>& raw() const { return bytes_; }
  /// For v4-mapped IPv6 (::ffff:a.b.c.d) returns the IPv4 address, otherwise itself.
  IpAddress unmapped() const;
  /// Keeps the first `prefix_len` bits, zeroes the rest (prefix_len clamped to the family size).
  IpAddress masked(unsigned prefix_len) const;
  std::string to_string() const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  Family family_ = Family::v4;
  std::array<std::uint8_t, 16> bytes_{};
};

/// An address and a port.
struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;

  /// "192.0.2.1:80", "[2001:db8::1]:80". nullopt when invalid or the port is missing.
  static std::optional<Endpoint> parse(std::string_view text);
  /// Fills a sockaddr_in / sockaddr_in6; returns its length.
  unsigned to_sockaddr(sockaddr_storage& out) const;
  static std::optional<Endpoint> from_sockaddr(const sockaddr* sa);
  std::string to_string() const;

  friend auto operator<=>(const Endpoint&, const Endpoint&) = default;
};

/// A network prefix such as 10.0.0.0/8 or 2001:db8::/32.
struct Cidr {
  IpAddress network;
  unsigned prefix_len = 0;

  /// "10.0.0.0/8"; a bare address means a host prefix (/32 or /128).
  static std::optional<Cidr> parse(std::string_view text);
  bool contains(const IpAddress& a) const;
  std::string to_string() const;

  friend bool operator==(const Cidr&, const Cidr&) = default;
};

}  // namespace lb
