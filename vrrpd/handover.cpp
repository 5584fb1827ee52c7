// Handover tables and the drain's connection count: see handover.hpp.
#include "vrrpd/handover.hpp"

#include <array>
#include <charconv>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/log.hpp"
#include "common/nft/runner.hpp"

namespace vrrp {

namespace {

std::string set_of(const std::vector<lb::IpAddress>& vips) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < vips.size(); ++i) {
    if (i != 0) out += ", ";
    out += vips[i].to_string();
  }
  return out + " }";
}

// One address column of /proc/net/tcp{,6}: "0A0200C0:1F90". The kernel prints each 32-bit word
// of the network-order address as a host-order integer, so reading the word back as an integer
// and storing it in host order gives the address bytes on any endianness.
std::optional<lb::IpAddress> parse_proc_address(std::string_view column) {
  const auto colon = column.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto hex = column.substr(0, colon);
  if (hex.size() != 8 && hex.size() != 32) return std::nullopt;
  std::array<std::uint8_t, 16> bytes{};
  for (std::size_t w = 0; w < hex.size() / 8; ++w) {
    std::uint32_t word = 0;
    const auto* first = hex.data() + w * 8;
    auto [ptr, ec] = std::from_chars(first, first + 8, word, 16);
    if (ec != std::errc{} || ptr != first + 8) return std::nullopt;
    std::memcpy(bytes.data() + w * 4, &word, 4);
  }
  if (hex.size() == 8) return lb::IpAddress::v4({bytes[0], bytes[1], bytes[2], bytes[3]});
  static constexpr std::array<std::uint8_t, 12> kMapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(bytes.data(), kMapped.data(), kMapped.size()) == 0) {
    return lb::IpAddress::v4({bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  return lb::IpAddress::v6(bytes);
}

}  // namespace

std::string handover_table_name(std::string_view instance_key) {
  std::string name = "vrrpd_handover_";
  for (char c : instance_key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    name += ok ? c : '_';
  }
  return name;
}

HandoverTables handover_tables(std::string_view instance_key, lb::IpAddress::Family family) {
  const auto name = handover_table_name(instance_key);
  if (family == lb::IpAddress::Family::v4) return {"arp", name, "ip", name};
  return {"ip6", name + "_drain", "ip6", name + "_forward"};
}

std::string drain_ruleset(const HandoverTables& t, const std::vector<lb::IpAddress>& vips) {
  // Requests for a VIP (gratuitous ones from the new master included) get no answer; requests
  // this node would send from a VIP (resolving a client it answers) would make every neighbour
  // that hears them point the VIP back here, so they do not leave either.
  const auto set = set_of(vips);
  if (t.drain_family == "arp") {
    return fmt::format(
        "add table arp {0}\n"
        "add chain arp {0} in {{ type filter hook input priority 0; policy accept; }}\n"
        "add rule arp {0} in arp operation request arp daddr ip {1} drop\n"
        "add chain arp {0} out {{ type filter hook output priority 0; policy accept; }}\n"
        "add rule arp {0} out arp saddr ip {1} drop\n",
        t.drain_table, set);
  }
  // IPv6: the Neighbor Solicitation's target address is the 16 bytes after the first 8 of the
  // ICMPv6 header (RFC 4861 §4.3); nft has no name for it, so it is matched as raw payload.
  auto text = fmt::format(
      "add table ip6 {0}\n"
      "add chain ip6 {0} in {{ type filter hook input priority 0; policy accept; }}\n"
      "add chain ip6 {0} out {{ type filter hook output priority 0; policy accept; }}\n"
      "add rule ip6 {0} out ip6 saddr {1} icmpv6 type nd-neighbor-solicit drop\n",
      t.drain_table, set);
  for (const auto& vip : vips) {
    std::string hex;
    for (std::size_t i = 0; i < vip.size(); ++i) hex += fmt::format("{:02x}", vip.data()[i]);
    text += fmt::format("add rule ip6 {} in icmpv6 type nd-neighbor-solicit @th,64,128 0x{} drop\n",
                        t.drain_table, hex);
  }
  return text;
}

std::string forward_ruleset(const HandoverTables& t, const std::string& interface,
                            const std::vector<lb::IpAddress>& vips, const lb::IpAddress& peer) {
  // After conntrack (-200), before NAT: a packet that belongs to a local connection is
  // ESTABLISHED (or a SYN of a new one); a non-SYN of a flow this node never saw is NEW and,
  // dropped here, never confirmed, so the next one is NEW again. `dup` sends a copy with the
  // destination unchanged (the VIP) to the peer's MAC; the original is dropped.
  const auto ip = t.forward_family == "ip" ? "ip" : "ip6";
  return fmt::format(
      "add table {4} {0}\n"
      "add chain {4} {0} prerouting {{ type filter hook prerouting priority -150; policy accept; "
      "}}\n"
      "add rule {4} {0} prerouting iifname \"{1}\" {4} daddr {2} tcp flags & (syn | ack) != syn "
      "ct state new counter dup to {3} device \"{1}\" drop\n",
      t.forward_table, interface, set_of(vips), peer.to_string(), ip);
}

std::string delete_table(const std::string& family, const std::string& table) {
  // nft 1.0.6 has no `destroy`: adding first makes the delete succeed when the table is absent.
  return fmt::format("add table {0} {1}\ndelete table {0} {1}\n", family, table);
}

std::size_t count_vip_connections(std::string_view text, const std::vector<lb::IpAddress>& vips) {
  std::size_t count = 0;
  std::size_t pos = 0;
  bool header = true;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const auto line = text.substr(pos, end - pos);
    pos = end + 1;
    if (header) {  // "  sl  local_address rem_address   st ..."
      header = false;
      continue;
    }
    // Columns: "sl:", local, remote, state.
    std::array<std::string_view, 4> cols{};
    std::size_t n = 0, i = 0;
    while (n < cols.size() && i < line.size()) {
      while (i < line.size() && line[i] == ' ') ++i;
      const auto start = i;
      while (i < line.size() && line[i] != ' ') ++i;
      if (i > start) cols[n++] = line.substr(start, i - start);
    }
    if (n < cols.size()) continue;
    // 06 TIME_WAIT, 07 CLOSE, 0A LISTEN: nothing to drain.
    if (cols[3] == "06" || cols[3] == "07" || cols[3] == "0A") continue;
    const auto local = parse_proc_address(cols[1]);
    if (!local) continue;
    for (const auto& vip : vips) {
      if (vip == *local) {
        ++count;
        break;
      }
    }
  }
  return count;
}

std::size_t count_local_vip_connections(const std::vector<lb::IpAddress>& vips) {
  std::size_t count = 0;
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(path);
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    count += count_vip_connections(text.str(), vips);
  }
  return count;
}

HandoverRules::HandoverRules(lb::nft::NftRunner* nft, std::string instance_key,
                             std::string interface, std::vector<lb::IpAddress> vips)
    : nft_(nft),
      tables_(handover_tables(instance_key,
                              vips.empty() ? lb::IpAddress::Family::v4 : vips.front().family())),
      interface_(std::move(interface)),
      vips_(std::move(vips)) {}

lb::Result<void> HandoverRules::install_drain() {
  if (nft_ == nullptr) return lb::fail("no nftables context");
  clear_drain();
  auto r = nft_->run(drain_ruleset(tables_, vips_));
  if (!r) return std::unexpected(r.error());
  return {};
}

lb::Result<void> HandoverRules::install_forward(const lb::IpAddress& peer) {
  if (nft_ == nullptr) return lb::fail("no nftables context");
  clear_forward();
  auto r = nft_->run(forward_ruleset(tables_, interface_, vips_, peer));
  if (!r) return std::unexpected(r.error());
  return {};
}

void HandoverRules::clear_drain() { clear(tables_.drain_family, tables_.drain_table); }
void HandoverRules::clear_forward() { clear(tables_.forward_family, tables_.forward_table); }

void HandoverRules::clear(const std::string& family, const std::string& table) {
  if (nft_ == nullptr) return;
  if (auto r = nft_->run(delete_table(family, table)); !r) {
    lb::log::get("vrrpd.handover")
        ->error("delete table {} {}: {}", family, table, r.error().message);
  }
}

}  // namespace vrrp
