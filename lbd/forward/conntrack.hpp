// The kernel's conntrack table through libnetfilter_conntrack: read the entries of the forward
// listeners' flows (both tuples, TCP state, timeout), install a peer's entries with their NAT
// binding (NFCT_Q_CREATE with ATTR_DNAT_* / ATTR_SNAT_*, which makes the kernel set
// IPS_DST_NAT / IPS_SRC_NAT: an entry made from the two tuples alone is not NATed and the flow
// gets a RST), and delete entries. Blocking netlink calls; control thread.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/replication/wire.hpp"

struct nfct_handle;

namespace lbd::forward {

class Conntrack {
 public:
  /// Opens a netlink socket to conntrack (needs CAP_NET_ADMIN).
  static lb::Result<std::unique_ptr<Conntrack>> open();
  ~Conntrack();
  Conntrack(const Conntrack&) = delete;
  Conntrack& operator=(const Conntrack&) = delete;

  /// Every IPv4 TCP entry whose original destination is one of `vips`.
  lb::Result<std::vector<repl::CtEntry>> dump(const std::vector<lb::Endpoint>& vips);
  /// Creates the entry with its NAT binding; an entry that exists already is updated (state,
  /// timeout). Fails with the kernel's reason otherwise.
  lb::Result<void> install(const repl::CtEntry& entry);
  /// Deletes the entry of `original`; a missing entry is not an error.
  lb::Result<void> remove(const repl::CtTuple& original);

 private:
  explicit Conntrack(nfct_handle* h) : handle_(h) {}
  nfct_handle* handle_;
};

}  // namespace lbd::forward
