// libFuzzer target for the VRRP decoder: arbitrary bytes as an IPv4 packet and as a bare IPv6
// VRRP message must never crash, and whatever decodes must re-encode to a decodable message.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "vrrpd/packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  vrrp::Advert advert, round;
  if (auto pkt = vrrp::parse_ipv4(bytes)) {
    if (!vrrp::decode_into(pkt->payload, pkt->meta, advert)) {
      const auto again = vrrp::encode(advert, pkt->meta.source, pkt->meta.destination);
      if (vrrp::decode_into(again, pkt->meta, round) || round.vrid != advert.vrid ||
          round.addresses != advert.addresses) {
        std::abort();
      }
      (void)vrrp::check_instance(advert, {advert.vrid, 100, advert.addresses});
    }
  }
  const vrrp::PacketMeta v6{*lb::IpAddress::parse("fe80::1"), *lb::IpAddress::parse("ff02::12"),
                            255};
  (void)vrrp::decode_into(bytes, v6, advert);
  return 0;
}
