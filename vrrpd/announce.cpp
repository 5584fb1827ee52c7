// GARP / unsolicited NA announcements: see announce.hpp.
#include "vrrpd/announce.hpp"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "common/log.hpp"

namespace vrrp {

std::vector<std::uint8_t> build_garp_frame(const Mac& mac, const lb::IpAddress& vip) {
  std::vector<std::uint8_t> f;
  f.reserve(42);
  auto put = [&f](auto begin, auto end) { f.insert(f.end(), begin, end); };
  const Mac broadcast{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  put(broadcast.begin(), broadcast.end());
  put(mac.begin(), mac.end());
  f.insert(f.end(), {0x08, 0x06,    // ethertype ARP
                     0x00, 0x01,    // hardware type Ethernet
                     0x08, 0x00,    // protocol IPv4
                     0x06, 0x04,    // sizes
                     0x00, 0x01});  // request
  put(mac.begin(), mac.end());
  put(vip.data(), vip.data() + 4);
  put(broadcast.begin(), broadcast.end());
  put(vip.data(), vip.data() + 4);
  return f;
}

std::vector<std::uint8_t> build_unsolicited_na(const Mac& mac, const lb::IpAddress& vip) {
  std::vector<std::uint8_t> m(32, 0);
  m[0] = ND_NEIGHBOR_ADVERT;  // 136
  m[4] = 0x20;                // Override; not Solicited (RFC 4861 §7.2.6)
  std::memcpy(m.data() + 8, vip.data(), 16);
  m[24] = ND_OPT_TARGET_LINKADDR;  // 2
  m[25] = 1;                       // length in units of 8 bytes
  std::memcpy(m.data() + 26, mac.data(), 6);
  return m;
}

Announcer::Announcer(lb::asio::io_context& ctx, int ifindex, Mac mac,
                     std::vector<lb::IpAddress> vips, AnnounceConfig config)
    : ifindex_(ifindex), mac_(mac), vips_(std::move(vips)), config_(config), timer_(ctx) {
  auto log = lb::log::get("vrrpd.announce");
  bool v4 = false, v6 = false;
  for (const auto& v : vips_) (v.is_v4() ? v4 : v6) = true;
  if (v4) {
    packet_fd_ = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ARP));
    if (packet_fd_ < 0) log->error("socket AF_PACKET: error={}", std::strerror(errno));
    // Never read from it: a receive buffer of zero keeps ARP traffic from piling up.
    int zero = 0;
    if (packet_fd_ >= 0) ::setsockopt(packet_fd_, SOL_SOCKET, SO_RCVBUF, &zero, sizeof zero);
  }
  if (v6) {
    icmp6_fd_ = ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
    if (icmp6_fd_ < 0) {
      log->error("socket ICMPv6: error={}", std::strerror(errno));
    } else {
      int hops = 255;  // RFC 4861 §7.1.2: receivers drop NAs with another hop limit
      ::setsockopt(icmp6_fd_, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
      ::setsockopt(icmp6_fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex_, sizeof ifindex_);
      icmp6_filter filter;
      ICMP6_FILTER_SETBLOCKALL(&filter);  // send-only
      ::setsockopt(icmp6_fd_, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter);
    }
  }
}

Announcer::~Announcer() {
  *alive_ = false;
  timer_.cancel();
  if (packet_fd_ >= 0) ::close(packet_fd_);
  if (icmp6_fd_ >= 0) ::close(icmp6_fd_);
}

void Announcer::start() {
  stop();
  burst();
  if (config_.second_burst.count() > 0) {
    schedule(config_.second_burst);
  } else if (config_.refresh.count() > 0) {
    schedule(config_.refresh);
  }
}

void Announcer::burst_once() { burst(); }

void Announcer::stop() {
  ++generation_;
  timer_.cancel();
}

void Announcer::schedule(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  const auto gen = generation_;
  timer_.async_wait([this, gen, alive = alive_](const lb::error_code& ec) {
    if (ec || !*alive || gen != generation_) return;
    burst();
    if (config_.refresh.count() > 0) schedule(config_.refresh);
  });
}

void Announcer::burst() {
  auto log = lb::log::get("vrrpd.announce");
  for (const auto& vip : vips_) {
    for (int i = 0; i < config_.burst; ++i) {
      ssize_t rc = -1;
      if (vip.is_v4() && packet_fd_ >= 0) {
        const auto frame = build_garp_frame(mac_, vip);
        sockaddr_ll to{};
        to.sll_family = AF_PACKET;
        to.sll_protocol = htons(ETH_P_ARP);
        to.sll_ifindex = ifindex_;
        to.sll_halen = 6;
        std::memset(to.sll_addr, 0xff, 6);
        rc = ::sendto(packet_fd_, frame.data(), frame.size(), 0,
                      reinterpret_cast<const sockaddr*>(&to), sizeof to);
      } else if (vip.is_v6() && icmp6_fd_ >= 0) {
        const auto na = build_unsolicited_na(mac_, vip);
        sockaddr_in6 to{};
        to.sin6_family = AF_INET6;
        ::inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);  // all-nodes
        to.sin6_scope_id = static_cast<std::uint32_t>(ifindex_);
        rc = ::sendto(icmp6_fd_, na.data(), na.size(), 0, reinterpret_cast<const sockaddr*>(&to),
                      sizeof to);
      }
      if (rc < 0) {
        log->warn("announce: vip={} error={}", vip.to_string(), std::strerror(errno));
        break;
      }
      ++sent_;
    }
  }
}

}  // namespace vrrp
