// VRRPv3 advertisement codec: see packet.hpp.
#include "vrrpd/packet.hpp"

#include <algorithm>
#include <cassert>

namespace vrrp {

namespace {

// One's-complement sum of 16-bit big-endian words; an odd trailing byte is padded with zero.
std::uint32_t sum_words(std::span<const std::uint8_t> bytes, std::uint32_t sum) {
  std::size_t i = 0;
  for (; i + 1 < bytes.size(); i += 2) sum += (std::uint32_t{bytes[i]} << 8) | bytes[i + 1];
  if (i < bytes.size()) sum += std::uint32_t{bytes[i]} << 8;
  return sum;
}

std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

}  // namespace

std::string_view to_string(DropReason reason) {
  switch (reason) {
    case DropReason::kBadIpHeader:
      return "bad_ip_header";
    case DropReason::kTtlNot255:
      return "ttl_not_255";
    case DropReason::kVersion2:
      return "version_2";
    case DropReason::kBadVersion:
      return "bad_version";
    case DropReason::kBadType:
      return "bad_type";
    case DropReason::kTruncated:
      return "truncated";
    case DropReason::kBadChecksum:
      return "bad_checksum";
    case DropReason::kVridNotConfigured:
      return "vrid_not_configured";
    case DropReason::kLocalIsOwner:
      return "local_is_owner";
    case DropReason::kAddressMismatch:
      return "address_mismatch";
  }
  return "unknown";
}

std::expected<Ipv4Packet, DropReason> parse_ipv4(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < 20 || (bytes[0] >> 4) != 4) return std::unexpected(DropReason::kBadIpHeader);
  const std::size_t ihl = std::size_t{bytes[0] & 0x0fu} * 4;
  const std::size_t total = (std::size_t{bytes[2]} << 8) | bytes[3];
  // Linux raw sockets deliver the total length in network order; a datagram can be shorter than
  // the buffer but never longer.
  if (ihl < 20 || ihl > bytes.size() || total < ihl || total > bytes.size()) {
    return std::unexpected(DropReason::kBadIpHeader);
  }
  Ipv4Packet p;
  p.meta.ttl = bytes[8];
  p.protocol = bytes[9];
  p.meta.source = lb::IpAddress::v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  p.meta.destination = lb::IpAddress::v4({bytes[16], bytes[17], bytes[18], bytes[19]});
  p.payload = bytes.subspan(ihl, total - ihl);
  return p;
}

std::uint16_t pseudo_header_checksum(const lb::IpAddress& source, const lb::IpAddress& destination,
                                     std::span<const std::uint8_t> vrrp_message) {
  std::uint32_t sum = 0;
  sum = sum_words({source.data(), source.size()}, sum);
  sum = sum_words({destination.data(), destination.size()}, sum);
  // IPv4 (RFC 768 layout): zero, protocol, 16-bit length. IPv6 (RFC 2460 §8.1): 32-bit length,
  // three zero bytes, next header. Both reduce to the same two words in the one's-complement sum
  // as long as the message is shorter than 64 KiB, which a VRRP message always is.
  sum += kIpProtoVrrp;
  sum += static_cast<std::uint32_t>(vrrp_message.size() & 0xffff);
  sum = sum_words(vrrp_message, sum);
  return fold(sum);
}

std::vector<std::uint8_t> encode(const Advert& advert, const lb::IpAddress& source,
                                 const lb::IpAddress& destination) {
  const std::size_t count = std::min<std::size_t>(advert.addresses.size(), 255);
  const std::size_t addr_size = source.size();
  std::vector<std::uint8_t> out(kHeaderSize + count * addr_size, 0);
  out[0] = static_cast<std::uint8_t>((kVersion << 4) | kTypeAdvertisement);
  out[1] = advert.vrid;
  out[2] = advert.priority;
  out[3] = static_cast<std::uint8_t>(count);
  const std::uint16_t interval = advert.max_advert_int_cs & kMaxAdvertIntCs;
  out[4] = static_cast<std::uint8_t>(interval >> 8);  // the top 4 bits are reserved, zero
  out[5] = static_cast<std::uint8_t>(interval & 0xff);
  for (std::size_t i = 0; i < count; ++i) {
    const auto& a = advert.addresses[i];
    assert(a.family() == source.family());
    std::copy_n(a.data(), addr_size, out.begin() + static_cast<long>(kHeaderSize + i * addr_size));
  }
  const std::uint16_t checksum = pseudo_header_checksum(source, destination, out);
  out[6] = static_cast<std::uint8_t>(checksum >> 8);
  out[7] = static_cast<std::uint8_t>(checksum & 0xff);
  return out;
}

std::optional<DropReason> decode_into(std::span<const std::uint8_t> msg, const PacketMeta& meta,
                                      Advert& a) {
  if (meta.ttl != kRequiredTtl) return (DropReason::kTtlNot255);
  if (msg.empty()) return (DropReason::kTruncated);
  const std::uint8_t version = msg[0] >> 4;
  if (version == 2) return (DropReason::kVersion2);
  if (version != kVersion) return (DropReason::kBadVersion);
  if ((msg[0] & 0x0f) != kTypeAdvertisement) return (DropReason::kBadType);
  if (msg.size() < kHeaderSize) return (DropReason::kTruncated);
  const std::size_t count = msg[3];
  const std::size_t addr_size = meta.source.size();
  if (msg.size() < kHeaderSize + count * addr_size) return (DropReason::kTruncated);
  // The checksum covers the whole VRRP message as received (§5.2.8), trailing bytes included.
  if (pseudo_header_checksum(meta.source, meta.destination, msg) != 0) {
    return (DropReason::kBadChecksum);
  }
  a.vrid = msg[1];
  a.priority = msg[2];
  a.max_advert_int_cs = static_cast<std::uint16_t>(((msg[4] & 0x0f) << 8) | msg[5]);
  a.addresses.clear();
  a.addresses.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const auto* p = msg.data() + kHeaderSize + i * addr_size;
    if (addr_size == 4) {
      a.addresses.push_back(lb::IpAddress::v4({p[0], p[1], p[2], p[3]}));
    } else {
      std::array<std::uint8_t, 16> b{};
      std::copy_n(p, 16, b.begin());
      a.addresses.push_back(lb::IpAddress::v6(b));
    }
  }
  return std::nullopt;
}

std::optional<DropReason> check_instance(const Advert& advert, const InstanceView& self) {
  if (advert.vrid != self.vrid) return DropReason::kVridNotConfigured;
  if (self.priority == 255) return DropReason::kLocalIsOwner;
  if (advert.priority != 255) {
    auto theirs = advert.addresses;
    auto ours = self.addresses;
    std::sort(theirs.begin(), theirs.end());
    std::sort(ours.begin(), ours.end());
    if (theirs != ours) return DropReason::kAddressMismatch;
  }
  return std::nullopt;
}

}  // namespace vrrp
