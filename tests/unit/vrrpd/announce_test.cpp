// Announcement frames: the gratuitous ARP matches keepalived's byte for byte (pcap frame 12), and
// the unsolicited NA carries the Override flag and the target link-layer address.
#include "vrrpd/announce.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {
std::string hex(const std::vector<std::uint8_t>& v) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (auto b : v) {
    s += d[b >> 4];
    s += d[b & 15];
  }
  return s;
}
}  // namespace

TEST_CASE("vrrp announce: the gratuitous ARP is keepalived's frame byte for byte") {
  const vrrp::Mac mac{0x02, 0, 0, 0, 0, 0x0c};
  const auto frame = vrrp::build_garp_frame(mac, *lb::IpAddress::parse("10.200.0.10"));
  CHECK(hex(frame) ==
        "ffffffffffff02000000000c0806000108000604000102000000000c0ac8000affffffffffff0ac8000a");
}

TEST_CASE("vrrp announce: the unsolicited NA has Override, the target and its MAC") {
  const vrrp::Mac mac{0x02, 0, 0, 0, 0, 0x0b};
  const auto na = vrrp::build_unsolicited_na(mac, *lb::IpAddress::parse("2001:db8::10"));
  CHECK(hex(na) ==
        "88000000"                          // type 136, code 0, checksum (kernel)
        "20000000"                          // R=0 S=0 O=1
        "20010db8000000000000000000000010"  // target
        "020102000000000b");                // option 2, length 1, MAC
}
