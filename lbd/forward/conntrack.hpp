// The kernel's conntrack table through libnetfilter_conntrack: read the entries of the forward
// listeners' flows (both tuples, TCP state, timeout), install a peer's entries with their NAT
// binding (NFCT_Q_CREATE with ATTR_DNAT_* / ATTR_SNAT_*, which makes the kernel set
// IPS_DST_NAT / IPS_SRC_NAT: an entry made from the two tuples alone is not NATed and the flow
// gets a RST), and delete entries. Blocking netlink calls; control thread.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <vector>

#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/replication/wire.hpp"

struct nfct_handle;
struct nf_conntrack;

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
  /// The same, among the entries that carry kFlowMark only (the kernel filters the dump).
  lb::Result<std::vector<repl::CtEntry>> dump_marked(const std::vector<lb::Endpoint>& vips);
  /// Creates the entry with its NAT binding and kFlowMark; an entry that exists already is
  /// updated (state, timeout). Fails with the kernel's reason otherwise.
  lb::Result<void> install(const repl::CtEntry& entry);
  /// Deletes the entry of `original`; a missing entry is not an error.
  lb::Result<void> remove(const repl::CtTuple& original);
  /// The netlink port id of this handle: the kernel stamps it on the events that this handle's
  /// changes cause, so that the event reader can tell them from the traffic's.
  std::uint32_t port_id() const;

 private:
  explicit Conntrack(nfct_handle* h) : handle_(h) {}
  nfct_handle* handle_;
};

/// The entry a conntrack object describes (from a dump or an event), or nullopt when it is not
/// an IPv4 TCP flow to one of `vips` or carries what the wire refuses (a state or window scale
/// out of range). An absent timeout (DESTROY events) reads 0.
std::optional<repl::CtEntry> read_entry(const nf_conntrack* ct,
                                        const std::vector<lb::Endpoint>& vips);

}  // namespace lbd::forward
