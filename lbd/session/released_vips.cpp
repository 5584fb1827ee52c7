// VIPs handed over by this node: see released_vips.hpp.
#include "lbd/session/released_vips.hpp"

#include <algorithm>

namespace lbd::proxy {

void ReleasedVips::set(std::vector<lb::IpAddress> vips) {
  for (auto& v : vips) v = v.unmapped();
  std::lock_guard lock(mutex_);
  vips_ = std::move(vips);
  any_.store(!vips_.empty(), std::memory_order_release);
}

bool ReleasedVips::contains(const lb::IpAddress& address) const {
  if (!any()) return false;
  const auto a = address.unmapped();
  std::lock_guard lock(mutex_);
  return std::find(vips_.begin(), vips_.end(), a) != vips_.end();
}

bool ReleasedVips::holds_local_address_of(const lb::tcp::socket& socket) const {
  if (!any()) return false;
  lb::error_code ec;
  const auto local = socket.local_endpoint(ec);
  if (ec) return false;
  const auto ep = lb::Endpoint::from_sockaddr(local.data());
  return ep && contains(ep->address);
}

}  // namespace lbd::proxy
