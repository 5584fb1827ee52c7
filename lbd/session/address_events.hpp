// Local addresses removed from the host (RTM_DELADDR on NETLINK_ROUTE). When vrrpd removes the
// VIP, the client sessions lbd holds on it are orphaned: their packets now reach the other node,
// which answers them with resets, while here they would wait for their idle timeouts. The server
// watches removals and has the workers end those sessions (client_registry.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/asio.hpp"
#include "common/net/ip_address.hpp"

namespace lbd::proxy {

/// The addresses that the RTM_DELADDR messages in one netlink datagram remove (IFA_LOCAL, else
/// IFA_ADDRESS). Other messages and malformed ones are skipped; nothing reads past `bytes`. Pure.
std::vector<lb::IpAddress> parse_deleted_addresses(std::span<const std::byte> bytes);

/// A NETLINK_ROUTE socket subscribed to IPv4 and IPv6 address changes, read on `ctx`.
class AddressWatch {
 public:
  using OnRemoved = std::function<void(const lb::IpAddress&)>;
  /// nullptr (with the reason logged) when the socket cannot be opened.
  static std::unique_ptr<AddressWatch> start(lb::asio::io_context& ctx, OnRemoved on_removed);
  ~AddressWatch();
  AddressWatch(const AddressWatch&) = delete;
  AddressWatch& operator=(const AddressWatch&) = delete;

 private:
  AddressWatch(lb::asio::io_context& ctx, int fd, OnRemoved on_removed);
  void wait();

  lb::asio::posix::stream_descriptor sd_;
  OnRemoved on_removed_;
  std::vector<std::byte> buf_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace lbd::proxy
