// VRRPv3 advertisement codec (RFC 5798 §5): encode, decode and the §7.1 receive checks, each
// failure a distinct reason. Pure: bytes in, values out; no sockets, clock or logging.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/net/ip_address.hpp"

namespace vrrp {

/// RFC 5798 §5.1.1.3 / §5.1.2.3: IP protocol number of VRRP.
inline constexpr std::uint8_t kIpProtoVrrp = 112;
/// RFC 5798 §5.2.1: this implementation speaks version 3 only.
inline constexpr std::uint8_t kVersion = 3;
/// RFC 5798 §5.2.2: the only packet type, ADVERTISEMENT.
inline constexpr std::uint8_t kTypeAdvertisement = 1;
/// RFC 5798 §5.1.1.3 / §5.1.2.3: TTL / hop limit sent and required on receipt.
inline constexpr std::uint8_t kRequiredTtl = 255;
/// RFC 5798 §5.2: the fixed part of the header (version/type .. checksum).
inline constexpr std::size_t kHeaderSize = 8;
/// RFC 5798 §5.2.7: Max Adver Int is a 12-bit field.
inline constexpr std::uint16_t kMaxAdvertIntCs = 0x0fff;
/// RFC 5798 §5.1.1.2 / §5.1.2.2: multicast destinations.
inline constexpr std::string_view kMulticastV4 = "224.0.0.18";
inline constexpr std::string_view kMulticastV6 = "ff02::12";

/// The fields of an advertisement. Addresses all have the family of the carrying IP packet.
struct Advert {
  std::uint8_t vrid = 0;
  std::uint8_t priority = 0;
  /// Centiseconds, 1..4095 (0 is decodable but meaningless; the receiver treats it as given).
  std::uint16_t max_advert_int_cs = 0;
  std::vector<lb::IpAddress> addresses;

  friend bool operator==(const Advert&, const Advert&) = default;
};

/// Why a received packet was discarded. Each is counted separately by the driver.
enum class DropReason : std::uint8_t {
  kBadIpHeader,        ///< not a well-formed IPv4 header (IPv4 raw sockets deliver it)
  kTtlNot255,          ///< §7.1: TTL / hop limit must be 255
  kVersion2,           ///< §7.1: VRRPv2 packet (counted apart: a v2 neighbour is a config problem)
  kBadVersion,         ///< §7.1: any other version than 3
  kBadType,            ///< §5.2.2: type is not ADVERTISEMENT
  kTruncated,          ///< §7.1: shorter than the header plus Count IPvX Addrs addresses
  kBadChecksum,        ///< §7.1 / §5.2.8: checksum over the pseudo-header does not verify
  kVridNotConfigured,  ///< §7.1: no instance with this VRID on the receiving interface
  kLocalIsOwner,       ///< §7.1: the local router is the address owner (priority 255)
  kAddressMismatch,    ///< §7.1: address list differs from ours and the sender is not the owner
};
inline constexpr std::size_t kDropReasonCount = 10;

/// A short stable name for logs and counters ("ttl_not_255").
std::string_view to_string(DropReason reason);

/// What the IP layer told us about a received packet.
struct PacketMeta {
  lb::IpAddress source;
  lb::IpAddress destination;
  std::uint8_t ttl = 0;  ///< TTL (IPv4) or hop limit (IPv6)
};

/// An IPv4 packet split into its header facts and its payload (a view into the input).
struct Ipv4Packet {
  PacketMeta meta;
  std::uint8_t protocol = 0;
  std::span<const std::uint8_t> payload;
};

/// Parses the IPv4 header that raw IPv4 sockets deliver in front of the payload.
/// Fails with kBadIpHeader on a short buffer, a version other than 4, a bad IHL or total length.
std::expected<Ipv4Packet, DropReason> parse_ipv4(std::span<const std::uint8_t> bytes);

/// The Internet checksum of the VRRP message over the RFC 5798 §5.2.8 pseudo-header (RFC 768
/// style for IPv4, RFC 2460 §8.1 for IPv6), with the message's checksum field taken as is.
/// A message whose checksum field is correct yields 0.
std::uint16_t pseudo_header_checksum(const lb::IpAddress& source, const lb::IpAddress& destination,
                                     std::span<const std::uint8_t> vrrp_message);

/// Encodes `advert` as a VRRPv3 message (no IP header) with its checksum computed for the given
/// source and destination. Addresses of the wrong family for `source` are a logic error
/// (asserted); a count above 255 is truncated to 255 addresses.
std::vector<std::uint8_t> encode(const Advert& advert, const lb::IpAddress& source,
                                 const lb::IpAddress& destination);

/// Decodes and checks a VRRP message (no IP header) per §7.1 in the RFC's order: TTL, version,
/// type, length, checksum, into `out`. nullopt = accepted. Does not look at the VRID or the
/// address list (see check_instance).
std::optional<DropReason> decode_into(std::span<const std::uint8_t> vrrp_message,
                                      const PacketMeta& meta, Advert& out);

// clang before 16 lacks P0848 and cannot destroy a std::expected<T> whose T is not trivially
// destructible; the libFuzzer build (clang 14) uses decode_into only.
#if !defined(__clang__) || __clang_major__ >= 16
/// decode_into as a value: the Advert, or why it was dropped.
inline std::expected<Advert, DropReason> decode(std::span<const std::uint8_t> vrrp_message,
                                                const PacketMeta& meta) {
  Advert a;
  if (auto reason = decode_into(vrrp_message, meta, a)) return std::unexpected(*reason);
  return a;
}
#endif

/// What a receiving instance knows about itself for the per-VRID checks of §7.1.
struct InstanceView {
  std::uint8_t vrid = 0;
  std::uint8_t priority = 0;
  /// The configured virtual addresses of this family, in any order.
  std::vector<lb::IpAddress> addresses;
};

/// The per-instance §7.1 checks on a decoded advert: VRID match, local owner, address list.
/// nullopt = accept. An address list mismatch from an owner (priority 255) is accepted, as the
/// RFC says; from anyone else it is dropped.
std::optional<DropReason> check_instance(const Advert& advert, const InstanceView& self);

}  // namespace vrrp
