// The VRRPv3 codec against packets keepalived 2.2.7 sent (captured with bench/vrrp), an
// IPv6 vector computed independently, and every §7.1 drop reason.
#include "vrrpd/packet.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace {

std::vector<std::uint8_t> from_hex(const std::string& hex) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

lb::IpAddress ip(const char* s) { return *lb::IpAddress::parse(s); }

// keepalived-v3.pcap frames 1, 11 and 48 (IPv4 header + VRRP): lbA prio 150, lbB prio 100,
// lbA's priority-0 advert on SIGTERM. tshark: "Checksum: 0x4233 [correct]" etc.
const char* kFrame1 = "45c0002000040000ff70cfc40ac8000be000001231339601006442330ac8000a";
const char* kFrame11 = "45c0002000010000ff70cfc60ac8000ce000001231336401006474320ac8000a";
const char* kFrame48 = "45c0002000070000ff70cfc10ac8000be0000012313300010064d8330ac8000a";
// IPv6: fe80::1 -> ff02::12, VRID 51, prio 100, 10 cs, 2001:db8::10 (checksum by a Python
// implementation of RFC 2460 §8.1).
const char* kV6 = "31336401000a3ed920010db8000000000000000000000010";

vrrp::PacketMeta v4_meta(std::uint8_t ttl = 255) {
  return {ip("10.200.0.11"), ip("224.0.0.18"), ttl};
}

}  // namespace

TEST_CASE("vrrp packet: keepalived's IPv4 adverts decode with their fields and checksums") {
  struct Case {
    const char* hex;
    const char* src;
    std::uint8_t prio;
  };
  for (const Case& c : {Case{kFrame1, "10.200.0.11", 150}, Case{kFrame11, "10.200.0.12", 100},
                        Case{kFrame48, "10.200.0.11", 0}}) {
    const auto bytes = from_hex(c.hex);
    auto pkt = vrrp::parse_ipv4(bytes);
    REQUIRE(pkt.has_value());
    CHECK(pkt->protocol == vrrp::kIpProtoVrrp);
    CHECK(pkt->meta.source == ip(c.src));
    CHECK(pkt->meta.destination == ip("224.0.0.18"));
    CHECK(pkt->meta.ttl == 255);
    auto advert = vrrp::decode(pkt->payload, pkt->meta);
    REQUIRE(advert.has_value());
    CHECK(advert->vrid == 51);
    CHECK(advert->priority == c.prio);
    CHECK(advert->max_advert_int_cs == 100);
    REQUIRE(advert->addresses.size() == 1);
    CHECK(advert->addresses[0] == ip("10.200.0.10"));
  }
}

TEST_CASE("vrrp packet: encoding reproduces keepalived's bytes exactly, checksum included") {
  for (const char* hex : {kFrame1, kFrame48}) {
    const auto bytes = from_hex(hex);
    auto pkt = vrrp::parse_ipv4(bytes);
    REQUIRE(pkt.has_value());
    auto advert = vrrp::decode(pkt->payload, pkt->meta);
    REQUIRE(advert.has_value());
    const auto encoded = vrrp::encode(*advert, pkt->meta.source, pkt->meta.destination);
    CHECK(encoded == std::vector<std::uint8_t>(pkt->payload.begin(), pkt->payload.end()));
  }
}

TEST_CASE("vrrp packet: an IPv6 advert round-trips with the RFC 2460 pseudo-header checksum") {
  vrrp::Advert a{51, 100, 10, {ip("2001:db8::10")}};
  const auto encoded = vrrp::encode(a, ip("fe80::1"), ip("ff02::12"));
  CHECK(encoded == from_hex(kV6));
  auto decoded = vrrp::decode(encoded, {ip("fe80::1"), ip("ff02::12"), 255});
  REQUIRE(decoded.has_value());
  CHECK(*decoded == a);
  // The same bytes from another source fail: the pseudo-header is part of the sum.
  CHECK(vrrp::decode(encoded, {ip("fe80::2"), ip("ff02::12"), 255}).error() ==
        vrrp::DropReason::kBadChecksum);
}

TEST_CASE("vrrp packet: the 12-bit interval keeps its range and the reserved bits stay zero") {
  vrrp::Advert a{1, 254, vrrp::kMaxAdvertIntCs, {ip("192.0.2.10"), ip("192.0.2.11")}};
  const auto encoded = vrrp::encode(a, ip("192.0.2.1"), ip("224.0.0.18"));
  CHECK(encoded.size() == 16);
  CHECK(encoded[4] == 0x0f);
  CHECK(encoded[5] == 0xff);
  auto decoded = vrrp::decode(encoded, {ip("192.0.2.1"), ip("224.0.0.18"), 255});
  REQUIRE(decoded.has_value());
  CHECK(*decoded == a);
}

TEST_CASE("vrrp packet: each malformed input is dropped with its own reason") {
  const auto frame = from_hex(kFrame1);
  const auto good = std::vector<std::uint8_t>(frame.begin() + 20, frame.end());
  using R = vrrp::DropReason;
  auto decode = [](std::vector<std::uint8_t> msg, vrrp::PacketMeta meta = v4_meta()) {
    return vrrp::decode(msg, meta);
  };
  SUBCASE("TTL below 255 (the packet crossed a router)") {
    CHECK(decode(good, v4_meta(254)).error() == R::kTtlNot255);
  }
  SUBCASE("VRRPv2") {
    auto m = good;
    m[0] = 0x21;
    CHECK(decode(m).error() == R::kVersion2);
  }
  SUBCASE("unknown version") {
    auto m = good;
    m[0] = 0x41;
    CHECK(decode(m).error() == R::kBadVersion);
  }
  SUBCASE("unknown type") {
    auto m = good;
    m[0] = 0x32;
    CHECK(decode(m).error() == R::kBadType);
  }
  SUBCASE("shorter than the fixed header") {
    CHECK(decode({good.begin(), good.begin() + 7}).error() == R::kTruncated);
    CHECK(decode({}).error() == R::kTruncated);
  }
  SUBCASE("address count larger than the packet") {
    auto m = good;
    m[3] = 2;
    CHECK(decode(m).error() == R::kTruncated);
  }
  SUBCASE("one flipped bit breaks the checksum") {
    auto m = good;
    m[2] ^= 0x01;
    CHECK(decode(m).error() == R::kBadChecksum);
  }
  SUBCASE("wrong destination in the pseudo-header") {
    CHECK(decode(good, {ip("10.200.0.11"), ip("10.200.0.12"), 255}).error() == R::kBadChecksum);
  }
  SUBCASE("IPv4 header: short, wrong version, bad lengths") {
    CHECK(vrrp::parse_ipv4({frame.begin(), frame.begin() + 19}).error() == R::kBadIpHeader);
    auto h = frame;
    h[0] = 0x65;
    CHECK(vrrp::parse_ipv4(h).error() == R::kBadIpHeader);
    h = frame;
    h[0] = 0x44;  // IHL 16 bytes
    CHECK(vrrp::parse_ipv4(h).error() == R::kBadIpHeader);
    h = frame;
    h[3] = 0x40;  // total length 64 > 32 bytes received
    CHECK(vrrp::parse_ipv4(h).error() == R::kBadIpHeader);
  }
}

TEST_CASE("vrrp packet: per-instance checks — VRID, local owner, address list unless owner") {
  vrrp::Advert a{51, 100, 100, {ip("192.0.2.10"), ip("192.0.2.11")}};
  vrrp::InstanceView self{51, 150, {ip("192.0.2.11"), ip("192.0.2.10")}};
  CHECK_FALSE(vrrp::check_instance(a, self).has_value());  // order does not matter
  CHECK(vrrp::check_instance(a, {52, 150, self.addresses}) == vrrp::DropReason::kVridNotConfigured);
  CHECK(vrrp::check_instance(a, {51, 255, self.addresses}) == vrrp::DropReason::kLocalIsOwner);
  vrrp::InstanceView other{51, 150, {ip("192.0.2.10")}};
  CHECK(vrrp::check_instance(a, other) == vrrp::DropReason::kAddressMismatch);
  a.priority = 255;
  CHECK_FALSE(vrrp::check_instance(a, other).has_value());
}

TEST_CASE("vrrp packet: every drop reason has a distinct name") {
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < vrrp::kDropReasonCount; ++i) {
    auto n = vrrp::to_string(static_cast<vrrp::DropReason>(i));
    CHECK(n != "unknown");
    for (auto seen : names) CHECK(seen != n);
    names.push_back(n);
  }
}
