// Handing mastership over without resetting connections ("previous owner" forwarding). When a
// master steps down to a live peer (preempted, or an operator switchover), for a drain window:
//   - the previous master keeps the VIPs as local addresses, so its sockets keep working, but
//     stops announcing them: an nftables `arp` table drops ARP requests for the VIPs and ARP it
//     would send from them, so no neighbour is pulled back to it;
//   - the new master forwards the packets for a VIP that belong to no local connection and are
//     not a SYN (conntrack NEW, as nf_conntrack_tcp_loose makes a mid-stream packet of an unknown
//     flow) to the previous master (`dup to <peer>` + drop, in an `ip` table). The previous
//     master answers the client directly from the VIP.
// The window ends after `handover_drain`, or on the previous master as soon as no TCP connection
// to a VIP remains. IPv6 the same way: an `ip6` table drops Neighbor Solicitations for the VIPs
// and from them, and another forwards. Pure text builders here, plus the class that runs them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/net/ip_address.hpp"

namespace lb::nft {
class NftRunner;
}

namespace vrrp {

/// The nftables table name of one instance ("vrrpd_handover_eth0_51_4" for key "eth0/51/4"):
/// characters outside [A-Za-z0-9_] become '_'.
std::string handover_table_name(std::string_view instance_key);

/// The nftables family and table of each side for an instance of `family`: IPv4 drains in
/// `arp` and forwards in `ip` (one name); IPv6 does both in `ip6` (two names).
struct HandoverTables {
  std::string drain_family, drain_table, forward_family, forward_table;
};
HandoverTables handover_tables(std::string_view instance_key, lb::IpAddress::Family family);

/// nft commands: the previous master's drain table: no ARP (IPv4) or Neighbor Solicitation
/// (IPv6) answered for the VIPs, none sent from them. `vips` are of one family.
std::string drain_ruleset(const HandoverTables& t, const std::vector<lb::IpAddress>& vips);
/// nft commands: the new master's table forwarding strays for `vips` arriving on `interface`
/// to `peer`.
std::string forward_ruleset(const HandoverTables& t, const std::string& interface,
                            const std::vector<lb::IpAddress>& vips, const lb::IpAddress& peer);
/// nft commands deleting the `family` table `table` whether it exists or not.
std::string delete_table(const std::string& family, const std::string& table);

/// TCP connections in /proc/net/tcp or /proc/net/tcp6 text whose local address is one of
/// `vips` (IPv4-mapped IPv6 counts as IPv4), in any state but LISTEN, CLOSE and TIME_WAIT.
std::size_t count_vip_connections(std::string_view proc_net_tcp,
                                  const std::vector<lb::IpAddress>& vips);
/// The same over this namespace's /proc/net/tcp and /proc/net/tcp6.
std::size_t count_local_vip_connections(const std::vector<lb::IpAddress>& vips);

/// One instance's two handover tables. Every call is one nft transaction; failures are
/// returned (the caller falls back to releasing the VIPs at once).
class HandoverRules {
 public:
  /// `nft` may be null (no libnftables context): every install fails, clears succeed.
  HandoverRules(lb::nft::NftRunner* nft, std::string instance_key, std::string interface,
                std::vector<lb::IpAddress> vips);
  lb::Result<void> install_drain();
  lb::Result<void> install_forward(const lb::IpAddress& peer);
  void clear_drain();
  void clear_forward();
  const HandoverTables& tables() const { return tables_; }

 private:
  void clear(const std::string& family, const std::string& table);
  lb::nft::NftRunner* nft_;
  HandoverTables tables_;
  std::string interface_;
  std::vector<lb::IpAddress> vips_;
};

}  // namespace vrrp
