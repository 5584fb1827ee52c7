// Announcing VIPs to the segment after a takeover: gratuitous ARP (IPv4, via AF_PACKET) and
// unsolicited Neighbor Advertisements (IPv6, RFC 4861 §7.2.6). A burst at once, a second burst
// after a delay, optional periodic refresh; everything pending is cancelled when mastership ends.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/asio.hpp"
#include "common/net/ip_address.hpp"

namespace vrrp {

using Mac = std::array<std::uint8_t, 6>;

/// An Ethernet frame carrying a gratuitous ARP request for `vip` (sender = target = VIP, target
/// MAC broadcast: what keepalived sends and what Linux hosts act on).
std::vector<std::uint8_t> build_garp_frame(const Mac& mac, const lb::IpAddress& vip);

/// An ICMPv6 Neighbor Advertisement for `vip` (Override flag, target link-layer address option),
/// checksum left zero: the kernel fills it for ICMPv6 raw sockets.
std::vector<std::uint8_t> build_unsolicited_na(const Mac& mac, const lb::IpAddress& vip);

struct AnnounceConfig {
  int burst = 5;                                 ///< packets per address per burst
  std::chrono::milliseconds second_burst{5000};  ///< 0 = none
  std::chrono::milliseconds refresh{0};          ///< 0 = no periodic refresh
};

/// Sends the announcements of one instance. Single-threaded (the io_context's thread).
class Announcer {
 public:
  Announcer(lb::asio::io_context& ctx, int ifindex, Mac mac, std::vector<lb::IpAddress> vips,
            AnnounceConfig config);
  ~Announcer();

  /// A burst now, then the second burst and the refresh timer as configured.
  void start();
  /// One burst now, nothing scheduled (re-announcement on a lower-priority advert).
  void burst_once();
  /// Cancels every pending burst.
  void stop();
  /// Packets sent so far (for tests and stats).
  std::uint64_t sent() const { return sent_; }

 private:
  void burst();
  void schedule(std::chrono::milliseconds after);

  int ifindex_;
  Mac mac_;
  std::vector<lb::IpAddress> vips_;
  AnnounceConfig config_;
  lb::asio::steady_timer timer_;
  int packet_fd_ = -1;  // AF_PACKET for ARP
  int icmp6_fd_ = -1;   // ICMPv6 raw for NA
  std::uint64_t sent_ = 0;
  std::uint64_t generation_ = 0;  // bumps on stop(): a timer that fires late does nothing
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once destroyed
};

}  // namespace vrrp
