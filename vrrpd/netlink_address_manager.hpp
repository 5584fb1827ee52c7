// AddressManager over rtnetlink with libnl-route-3 (RTM_NEWADDR / RTM_DELADDR).
#pragma once

#include <memory>

#include "vrrpd/address_manager.hpp"

struct nl_sock;

namespace vrrp {

/// Owns one NETLINK_ROUTE socket. Not thread-safe; vrrpd uses it from its one thread (and the
/// guard process from its own copy).
class NetlinkAddressManager final : public AddressManager {
 public:
  /// Connects the netlink socket; fails with libnl's message.
  static lb::Result<std::unique_ptr<NetlinkAddressManager>> create();
  ~NetlinkAddressManager() override;

  lb::Result<void> add(int ifindex, const Vip& vip) override;
  lb::Result<void> remove(int ifindex, const Vip& vip) override;

 private:
  explicit NetlinkAddressManager(nl_sock* sock) : sock_(sock) {}
  nl_sock* sock_;
};

}  // namespace vrrp
