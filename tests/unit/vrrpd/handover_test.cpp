// The handover's pure parts: table names, the nftables text of both sides, the connection count
// over /proc/net/tcp{,6} text.
#include "vrrpd/handover.hpp"

#include <doctest/doctest.h>

#include <bit>

using namespace vrrp;

namespace {

lb::IpAddress handover_ip(const char* s) { return *lb::IpAddress::parse(s); }

}  // namespace

TEST_CASE("vrrp handover: the table name is the instance key with only identifier characters") {
  CHECK(handover_table_name("eth0/51/4") == "vrrpd_handover_eth0_51_4");
  CHECK(handover_table_name("br-lan.10/7/4") == "vrrpd_handover_br_lan_10_7_4");
}

TEST_CASE("vrrp handover: IPv4 drains in an arp table and forwards in an ip table of one name") {
  const auto t = handover_tables("eth0/51/4", lb::IpAddress::Family::v4);
  CHECK(t.drain_family == "arp");
  CHECK(t.forward_family == "ip");
  CHECK(t.drain_table == "vrrpd_handover_eth0_51_4");
  CHECK(t.forward_table == t.drain_table);
  const auto t6 = handover_tables("eth0/51/6", lb::IpAddress::Family::v6);
  CHECK(t6.drain_family == "ip6");
  CHECK(t6.forward_family == "ip6");
  CHECK(t6.drain_table != t6.forward_table);
}

TEST_CASE("vrrp handover: the drain table drops ARP requests for the VIPs and ARP sent from them") {
  const HandoverTables t{"arp", "t", "ip", "t"};
  const auto text = drain_ruleset(t, {handover_ip("192.0.2.10"), handover_ip("192.0.2.11")});
  CHECK(text.find("add table arp t\n") != std::string::npos);
  CHECK(text.find("type filter hook input priority 0;") != std::string::npos);
  CHECK(text.find("arp operation request arp daddr ip { 192.0.2.10, 192.0.2.11 } drop") !=
        std::string::npos);
  CHECK(text.find("type filter hook output priority 0;") != std::string::npos);
  CHECK(text.find("arp saddr ip { 192.0.2.10, 192.0.2.11 } drop") != std::string::npos);
}

TEST_CASE("vrrp handover: the forward table sends non-SYN packets of unknown flows to the peer") {
  const HandoverTables t{"arp", "t", "ip", "t"};
  const auto text =
      forward_ruleset(t, "eth0", {handover_ip("192.0.2.10")}, handover_ip("192.0.2.12"));
  CHECK(text.find("add table ip t\n") != std::string::npos);
  // After conntrack (-200) so that `ct state` is known.
  CHECK(text.find("hook prerouting priority -150;") != std::string::npos);
  CHECK(text.find("iifname \"eth0\" ip daddr { 192.0.2.10 } tcp flags & (syn | ack) != syn ct "
                  "state new counter dup to 192.0.2.12 device \"eth0\" drop") != std::string::npos);
}

TEST_CASE(
    "vrrp handover: IPv6 drops Neighbor Solicitations for and from the VIPs, forwards in ip6") {
  const HandoverTables t{"ip6", "d", "ip6", "f"};
  const auto drain = drain_ruleset(t, {handover_ip("2001:db8::10")});
  CHECK(drain.find("add table ip6 d\n") != std::string::npos);
  CHECK(drain.find("icmpv6 type nd-neighbor-solicit @th,64,128 "
                   "0x20010db8000000000000000000000010 drop") != std::string::npos);
  CHECK(drain.find("ip6 saddr { 2001:db8::10 } icmpv6 type nd-neighbor-solicit drop") !=
        std::string::npos);
  const auto fwd =
      forward_ruleset(t, "eth0", {handover_ip("2001:db8::10")}, handover_ip("fe80::2"));
  CHECK(fwd.find("add table ip6 f\n") != std::string::npos);
  CHECK(fwd.find("ip6 daddr { 2001:db8::10 } tcp flags & (syn | ack) != syn ct state new counter "
                 "dup to fe80::2 device \"eth0\" drop") != std::string::npos);
}

TEST_CASE("vrrp handover: deleting a table first adds it, so that an absent table is no error") {
  CHECK(delete_table("arp", "t") == "add table arp t\ndelete table arp t\n");
}

TEST_CASE("vrrp handover: connections to a VIP are counted from /proc/net/tcp, listeners not") {
  // 192.0.2.10 is C000020A, printed as the little-endian word 0A0200C0 on x86.
  const char* tcp =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
      "   0: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
      "   1: 0A0200C0:0052 640200C0:D431 01 00000000:00000000 00:00000000 00000000     0\n"
      "   2: 0A0200C0:0052 640200C0:D432 08 00000000:00000000 00:00000000 00000000     0\n"
      "   3: 0A0200C0:0052 640200C0:D433 06 00000000:00000000 00:00000000 00000000     0\n"
      "   4: 0B0200C0:0052 640200C0:D434 01 00000000:00000000 00:00000000 00000000     0\n"
      "   5: 0A0200C0:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0\n"
      "   6: garbage\n";
  const std::vector<lb::IpAddress> vips{handover_ip("192.0.2.10")};
  if (std::endian::native == std::endian::little) {
    // ESTABLISHED and CLOSE_WAIT count; TIME_WAIT, LISTEN and another address do not.
    CHECK(count_vip_connections(tcp, vips) == 2);
    CHECK(count_vip_connections(tcp, {handover_ip("192.0.2.11")}) == 1);
  }
  CHECK(count_vip_connections("", vips) == 0);
}

TEST_CASE("vrrp handover: IPv4-mapped addresses in /proc/net/tcp6 count as the IPv4 VIP") {
  const char* tcp6 =
      "  sl  local_address                         remote_address                        st\n"
      "   0: 0000000000000000FFFF00000A0200C0:0052 0000000000000000FFFF0000640200C0:D431 01\n"
      "   1: 00000000000000000000000000000000:0052 00000000000000000000000000000000:0000 0A\n";
  if (std::endian::native == std::endian::little) {
    CHECK(count_vip_connections(tcp6, {handover_ip("192.0.2.10")}) == 1);
  }
  CHECK(count_vip_connections(tcp6, {handover_ip("192.0.2.99")}) == 0);
}
