// Raw IP protocol-112 sockets for VRRP on one interface and family: multicast membership by
// ifindex, TTL / hop limit 255 on send, TTL / hop limit and destination read back on receive,
// DSCP CS6. Blocking-free: the driver waits for readability with Asio.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "vrrpd/packet.hpp"

namespace vrrp {

/// Facts about a local interface that the VRRP driver needs.
struct InterfaceInfo {
  std::string name;
  int index = 0;
  std::array<std::uint8_t, 6> mac{};
  /// The first IPv4 address that is not a VIP (our source and tie-break address), if any.
  std::optional<lb::IpAddress> primary_v4;
  /// The IPv6 link-local address (RFC 5798 §5.1.2.1: the source of IPv6 adverts), if any.
  std::optional<lb::IpAddress> link_local_v6;
};

/// Looks `name` up; addresses in `exclude` (the VIPs) are never picked as primary.
/// Fails when the interface does not exist.
lb::Result<InterfaceInfo> query_interface(const std::string& name,
                                          const std::vector<lb::IpAddress>& exclude);

/// IFF_RUNNING of `name` (carrier up and admin up). False when it does not exist.
bool interface_running(const std::string& name);

/// A received datagram: the VRRP message and what the IP layer said about it.
struct Received {
  PacketMeta meta;
  std::vector<std::uint8_t> message;
};

/// One raw VRRP socket bound to an interface and family. Move-only; closes on destruction.
class VrrpSocket {
 public:
  /// Opens, joins 224.0.0.18 / ff02::12 on `ifindex` and binds the source to `source`.
  static lb::Result<VrrpSocket> open(const InterfaceInfo& iface, lb::IpAddress::Family family,
                                     const lb::IpAddress& source);
  /// A send-only socket (no group membership), used by the guard process.
  static lb::Result<VrrpSocket> open_sender(int ifindex, const lb::IpAddress& source);
  VrrpSocket(VrrpSocket&& o) noexcept : fd_(o.fd_), ifindex_(o.ifindex_), source_(o.source_) {
    o.fd_ = -1;
  }
  VrrpSocket& operator=(VrrpSocket&& o) noexcept;
  VrrpSocket(const VrrpSocket&) = delete;
  ~VrrpSocket();

  int fd() const { return fd_; }
  /// Hands the descriptor over (to an Asio descriptor) and forgets it.
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

  /// Sends one VRRP message to `destination`. Non-blocking; returns the errno text on failure.
  lb::Result<void> send(const lb::IpAddress& destination, std::span<const std::uint8_t> message);
  static lb::Result<void> send_on(int fd, int ifindex, const lb::IpAddress& source,
                                  const lb::IpAddress& destination,
                                  std::span<const std::uint8_t> message);
  const lb::IpAddress& source() const { return source_; }
  /// Reads one datagram if one is waiting (nullopt on EAGAIN). For IPv4 the IP header is parsed
  /// (a bad one is returned as an error); for IPv6 hop limit and destination come from cmsgs.
  static std::optional<std::expected<Received, DropReason>> receive(int fd, bool v6);

 private:
  VrrpSocket(int fd, int ifindex, const lb::IpAddress& source)
      : fd_(fd), ifindex_(ifindex), source_(source) {}
  int fd_ = -1;
  int ifindex_ = 0;
  lb::IpAddress source_;
};

}  // namespace vrrp
