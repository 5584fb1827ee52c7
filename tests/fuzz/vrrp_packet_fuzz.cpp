// libFuzzer target for the VRRP decoder: arbitrary bytes as an IPv4 packet and as a bare IPv6
// VRRP message must never crash, and whatever decodes must re-encode to a decodable message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "vrrpd/packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  if (auto pkt = vrrp::parse_ipv4(bytes)) {
    if (auto advert = vrrp::decode(pkt->payload, pkt->meta)) {
      const auto again = vrrp::encode(*advert, pkt->meta.source, pkt->meta.destination);
      auto round = vrrp::decode(again, pkt->meta);
      if (!round || round->vrid != advert->vrid || round->addresses != advert->addresses) {
        std::abort();
      }
      (void)vrrp::check_instance(*advert, {advert->vrid, 100, advert->addresses});
    }
  }
  const vrrp::PacketMeta v6{*lb::IpAddress::parse("fe80::1"), *lb::IpAddress::parse("ff02::12"),
                            255};
  (void)vrrp::decode(bytes, v6);
  return 0;
}
