// The VIPs this node no longer owns: those of the VRRP instances vrrpd last reported in a state
// other than master. A node that hands a VIP over keeps it as a local address for a drain window
// (vrrpd's handover_drain) and goes on serving the connections it carries; HTTP sessions on such
// an address answer `Connection: close` (HTTP/2: GOAWAY) so that keep-alive clients reconnect,
// to the new master, after their current request. Written by the control thread, read by every
// worker.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

#include "common/asio.hpp"
#include "common/net/ip_address.hpp"

namespace lbd::proxy {

class ReleasedVips {
 public:
  /// Replaces the set (control thread).
  void set(std::vector<lb::IpAddress> vips);
  /// False in the common case (no VIP handed over): a session then needs no lookup at all.
  bool any() const { return any_.load(std::memory_order_acquire); }
  /// Whether `address` (IPv4-mapped IPv6 counts as IPv4) is in the set.
  bool contains(const lb::IpAddress& address) const;
  /// Whether `socket`'s local address is in the set (one getsockname, only when any()).
  bool holds_local_address_of(const lb::tcp::socket& socket) const;

 private:
  std::atomic<bool> any_{false};
  mutable std::mutex mutex_;
  std::vector<lb::IpAddress> vips_;
};

}  // namespace lbd::proxy
