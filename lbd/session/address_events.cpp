// Local address removals over netlink: see address_events.hpp.
#include "lbd/session/address_events.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "common/log.hpp"

namespace lbd::proxy {

std::vector<lb::IpAddress> parse_deleted_addresses(std::span<const std::byte> bytes) {
  std::vector<lb::IpAddress> out;
  std::size_t at = 0;
  while (bytes.size() - at >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, bytes.data() + at, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > bytes.size() - at) break;
    const auto msg = bytes.subspan(at, h.nlmsg_len);
    at += std::min<std::size_t>(NLMSG_ALIGN(h.nlmsg_len), bytes.size() - at);
    if (h.nlmsg_type != RTM_DELADDR || msg.size() < NLMSG_LENGTH(sizeof(ifaddrmsg))) continue;
    ifaddrmsg ifa;
    std::memcpy(&ifa, msg.data() + NLMSG_HDRLEN, sizeof ifa);
    const std::size_t want = ifa.ifa_family == AF_INET ? 4 : ifa.ifa_family == AF_INET6 ? 16 : 0;
    if (want == 0) continue;
    std::optional<lb::IpAddress> local, address;
    std::size_t ra = NLMSG_LENGTH(sizeof(ifaddrmsg));
    ra = NLMSG_ALIGN(ra);
    while (msg.size() >= ra + sizeof(rtattr)) {
      rtattr a;
      std::memcpy(&a, msg.data() + ra, sizeof a);
      if (a.rta_len < sizeof a || a.rta_len > msg.size() - ra) break;
      const auto payload = msg.subspan(ra + RTA_LENGTH(0), a.rta_len - RTA_LENGTH(0));
      if ((a.rta_type == IFA_LOCAL || a.rta_type == IFA_ADDRESS) && payload.size() == want) {
        std::optional<lb::IpAddress> ip;
        if (want == 4) {
          std::array<std::uint8_t, 4> v4;
          std::memcpy(v4.data(), payload.data(), 4);
          ip = lb::IpAddress::v4(v4);
        } else {
          std::array<std::uint8_t, 16> v6;
          std::memcpy(v6.data(), payload.data(), 16);
          ip = lb::IpAddress::v6(v6);
        }
        (a.rta_type == IFA_LOCAL ? local : address) = ip;
      }
      ra += RTA_ALIGN(a.rta_len);
    }
    // IFA_LOCAL is the address itself; IFA_ADDRESS is the peer's on point-to-point links.
    if (local) {
      out.push_back(*local);
    } else if (address) {
      out.push_back(*address);
    }
  }
  return out;
}

std::unique_ptr<AddressWatch> AddressWatch::start(lb::asio::io_context& ctx, OnRemoved on_removed) {
  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    lb::log::get("lbd")->warn(
        "address watch: netlink: {}; sessions on a removed address end only by their timeouts",
        std::strerror(errno));
    if (fd >= 0) ::close(fd);
    return nullptr;
  }
  std::unique_ptr<AddressWatch> w(new AddressWatch(ctx, fd, std::move(on_removed)));
  w->wait();
  return w;
}

AddressWatch::AddressWatch(lb::asio::io_context& ctx, int fd, OnRemoved on_removed)
    : sd_(ctx, fd), on_removed_(std::move(on_removed)), buf_(16384) {}

AddressWatch::~AddressWatch() {
  *alive_ = false;
  lb::error_code ec;
  sd_.close(ec);
}

void AddressWatch::wait() {
  sd_.async_wait(lb::asio::posix::stream_descriptor::wait_read, [this, alive = alive_](
                                                                    const lb::error_code& ec) {
    if (ec || !*alive) return;
    // Bounded: a burst of address changes cannot hold the thread.
    for (int i = 0; i < 64; ++i) {
      const auto n = ::recv(sd_.native_handle(), buf_.data(), buf_.size(), MSG_DONTWAIT);
      if (n < 0 && errno == ENOBUFS) {
        // Events were lost: the sessions of a lost removal end by their
        // timeouts, as without the watch.
        lb::log::get("lbd")->warn("address watch: netlink overrun, events lost");
        continue;
      }
      if (n <= 0) break;
      for (const auto& ip :
           parse_deleted_addresses(std::span(buf_.data(), static_cast<std::size_t>(n)))) {
        on_removed_(ip);
        if (!*alive) return;
      }
    }
    wait();
  });
}

}  // namespace lbd::proxy
