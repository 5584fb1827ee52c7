// AddressManager over rtnetlink: see netlink_address_manager.hpp.
#include "vrrpd/netlink_address_manager.hpp"

#include <linux/if_addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <sys/socket.h>

#include <fmt/format.h>

namespace vrrp {

namespace {

// Builds the rtnl_addr for `vip` on `ifindex`; the caller puts it.
rtnl_addr* make_addr(int ifindex, const Vip& vip) {
  rtnl_addr* a = rtnl_addr_alloc();
  if (a == nullptr) return nullptr;
  const int family = vip.address.is_v4() ? AF_INET : AF_INET6;
  nl_addr* local = nl_addr_build(family, vip.address.data(), vip.address.size());
  nl_addr_set_prefixlen(local, static_cast<int>(vip.prefix_len));
  rtnl_addr_set_ifindex(a, ifindex);
  rtnl_addr_set_family(a, family);
  rtnl_addr_set_local(a, local);
  nl_addr_put(local);
  // A VIP moves between nodes: duplicate address detection would hold it "tentative" (unusable)
  // for a second or more after each takeover.
  if (family == AF_INET6) rtnl_addr_set_flags(a, IFA_F_NODAD);
  return a;
}

}  // namespace

lb::Result<std::unique_ptr<NetlinkAddressManager>> NetlinkAddressManager::create() {
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) return lb::fail("netlink: cannot allocate a socket");
  if (int err = nl_connect(sock, NETLINK_ROUTE); err < 0) {
    nl_socket_free(sock);
    return lb::fail(fmt::format("netlink: connect: {}", nl_geterror(err)));
  }
  return std::unique_ptr<NetlinkAddressManager>(new NetlinkAddressManager(sock));
}

NetlinkAddressManager::~NetlinkAddressManager() { nl_socket_free(sock_); }

lb::Result<void> NetlinkAddressManager::add(int ifindex, const Vip& vip) {
  rtnl_addr* a = make_addr(ifindex, vip);
  if (a == nullptr) return lb::fail("netlink: out of memory");
  const int err = rtnl_addr_add(sock_, a, 0);
  rtnl_addr_put(a);
  if (err < 0 && err != -NLE_EXIST) {
    return lb::fail(fmt::format("netlink: add {} on ifindex {}: {}", vip.to_string(), ifindex,
                                nl_geterror(err)));
  }
  return {};
}

lb::Result<void> NetlinkAddressManager::remove(int ifindex, const Vip& vip) {
  rtnl_addr* a = make_addr(ifindex, vip);
  if (a == nullptr) return lb::fail("netlink: out of memory");
  const int err = rtnl_addr_delete(sock_, a, 0);
  rtnl_addr_put(a);
  if (err < 0 && err != -NLE_NOADDR && err != -NLE_OBJ_NOTFOUND && err != -NLE_NODEV) {
    return lb::fail(fmt::format("netlink: remove {} from ifindex {}: {}", vip.to_string(), ifindex,
                                nl_geterror(err)));
  }
  return {};
}

}  // namespace vrrp
