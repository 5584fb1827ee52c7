// Raw VRRP sockets and interface queries: see socket.hpp.
#include "vrrpd/socket.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace vrrp {

namespace {

/// RFC 5798 §5.1.1.1 leaves DSCP open; CS6 (network control) is what keepalived and routers use.
constexpr int kTosCs6 = 0xc0;

lb::Result<void> setopt(int fd, int level, int name, const void* value, socklen_t len,
                        const char* what) {
  if (::setsockopt(fd, level, name, value, len) != 0) {
    return lb::fail(fmt::format("setsockopt {}: {}", what, std::strerror(errno)));
  }
  return {};
}

lb::Result<void> setint(int fd, int level, int name, int value, const char* what) {
  return setopt(fd, level, name, &value, sizeof value, what);
}

lb::IpAddress from_in6(const in6_addr& a) {
  std::array<std::uint8_t, 16> b{};
  std::memcpy(b.data(), &a, 16);
  return lb::IpAddress::v6(b);
}

lb::Result<int> open_raw(int ifindex, bool v6) {
  const int fd =
      ::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, kIpProtoVrrp);
  if (fd < 0) return lb::fail(fmt::format("socket(raw, 112): {}", std::strerror(errno)));
  char name[IF_NAMESIZE] = {};
  lb::Result<void> r;
  if (::if_indextoname(static_cast<unsigned>(ifindex), name) == nullptr) {
    r = lb::fail(fmt::format("ifindex {}: {}", ifindex, std::strerror(errno)));
  }
  if (r) r = setopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name, std::strlen(name), "SO_BINDTODEVICE");
  if (!v6) {
    ip_mreqn m{};
    m.imr_ifindex = ifindex;
    if (r) r = setopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m, "IP_MULTICAST_IF");
    if (r) r = setint(fd, IPPROTO_IP, IP_MULTICAST_TTL, kRequiredTtl, "IP_MULTICAST_TTL");
    if (r) r = setint(fd, IPPROTO_IP, IP_TTL, kRequiredTtl, "IP_TTL");
    if (r) r = setint(fd, IPPROTO_IP, IP_MULTICAST_LOOP, 0, "IP_MULTICAST_LOOP");
    if (r) r = setint(fd, IPPROTO_IP, IP_TOS, kTosCs6, "IP_TOS");
  } else {
    if (r) r = setint(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, ifindex, "IPV6_MULTICAST_IF");
    if (r) r = setint(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, kRequiredTtl, "IPV6_MULTICAST_HOPS");
    if (r) r = setint(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, kRequiredTtl, "IPV6_UNICAST_HOPS");
    if (r) r = setint(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, 0, "IPV6_MULTICAST_LOOP");
    if (r) r = setint(fd, IPPROTO_IPV6, IPV6_TCLASS, kTosCs6, "IPV6_TCLASS");
    if (r) r = setint(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT");
    if (r) r = setint(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO");
  }
  if (!r) {
    ::close(fd);
    return std::unexpected(r.error());
  }
  return fd;
}

}  // namespace

lb::Result<InterfaceInfo> query_interface(const std::string& name,
                                          const std::vector<lb::IpAddress>& exclude) {
  InterfaceInfo info;
  info.name = name;
  info.index = static_cast<int>(::if_nametoindex(name.c_str()));
  if (info.index == 0) return lb::fail(fmt::format("interface {}: {}", name, std::strerror(errno)));
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    ifreq req{};
    std::snprintf(req.ifr_name, sizeof req.ifr_name, "%s", name.c_str());
    if (::ioctl(fd, SIOCGIFHWADDR, &req) == 0) {
      std::memcpy(info.mac.data(), req.ifr_hwaddr.sa_data, 6);
    }
    ::close(fd);
  }
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0)
    return lb::fail(fmt::format("getifaddrs: {}", std::strerror(errno)));
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || name != i->ifa_name) continue;
    if (i->ifa_addr->sa_family == AF_INET && !info.primary_v4) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
      std::array<std::uint8_t, 4> b{};
      std::memcpy(b.data(), &sin->sin_addr, 4);
      const auto a = lb::IpAddress::v4(b);
      if (std::find(exclude.begin(), exclude.end(), a) == exclude.end()) info.primary_v4 = a;
    } else if (i->ifa_addr->sa_family == AF_INET6 && !info.link_local_v6) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr)) info.link_local_v6 = from_in6(sin6->sin6_addr);
    }
  }
  ::freeifaddrs(list);
  return info;
}

bool interface_running(const std::string& name) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq req{};
  std::snprintf(req.ifr_name, sizeof req.ifr_name, "%s", name.c_str());
  const bool ok = ::ioctl(fd, SIOCGIFFLAGS, &req) == 0 && (req.ifr_flags & IFF_UP) &&
                  (req.ifr_flags & IFF_RUNNING);
  ::close(fd);
  return ok;
}

lb::Result<VrrpSocket> VrrpSocket::open(const InterfaceInfo& iface, lb::IpAddress::Family family,
                                        const lb::IpAddress& source) {
  const bool v6 = family == lb::IpAddress::Family::v6;
  auto fd = open_raw(iface.index, v6);
  if (!fd) return std::unexpected(fd.error());
  VrrpSocket s(*fd, iface.index, source);
  if (!v6) {
    ip_mreqn m{};
    ::inet_pton(AF_INET, std::string(kMulticastV4).c_str(), &m.imr_multiaddr);
    m.imr_ifindex = iface.index;  // by ifindex: INADDR_ANY fails with ENODEV without routes
    auto r = setopt(*fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m, "IP_ADD_MEMBERSHIP");
    if (!r) return std::unexpected(r.error());
  } else {
    ipv6_mreq m{};
    ::inet_pton(AF_INET6, std::string(kMulticastV6).c_str(), &m.ipv6mr_multiaddr);
    m.ipv6mr_interface = static_cast<unsigned>(iface.index);
    auto r = setopt(*fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m, "IPV6_JOIN_GROUP");
    if (!r) return std::unexpected(r.error());
  }
  return s;
}

lb::Result<VrrpSocket> VrrpSocket::open_sender(int ifindex, const lb::IpAddress& source) {
  auto fd = open_raw(ifindex, source.is_v6());
  if (!fd) return std::unexpected(fd.error());
  return VrrpSocket(*fd, ifindex, source);
}

VrrpSocket& VrrpSocket::operator=(VrrpSocket&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    ifindex_ = o.ifindex_;
    source_ = o.source_;
    o.fd_ = -1;
  }
  return *this;
}

VrrpSocket::~VrrpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

lb::Result<void> VrrpSocket::send(const lb::IpAddress& destination,
                                  std::span<const std::uint8_t> message) {
  return send_on(fd_, ifindex_, source_, destination, message);
}

lb::Result<void> VrrpSocket::send_on(int fd, int ifindex, const lb::IpAddress& source,
                                     const lb::IpAddress& destination,
                                     std::span<const std::uint8_t> message) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (destination.is_v4()) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    std::memcpy(&sin->sin_addr, destination.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    std::memcpy(&sin6->sin6_addr, destination.data(), 16);
    sin6->sin6_scope_id = static_cast<std::uint32_t>(ifindex);
    len = sizeof(sockaddr_in6);
  }
  iovec iov{const_cast<std::uint8_t*>(message.data()), message.size()};
  msghdr msg{};
  msg.msg_name = &ss;
  msg.msg_namelen = len;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  // The source goes with each packet (IP_PKTINFO / IPV6_PKTINFO) rather than through bind(): a
  // raw socket bound to a unicast address would no longer receive the multicast adverts.
  alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(in6_pktinfo))> control{};
  msg.msg_control = control.data();
  cmsghdr* c = reinterpret_cast<cmsghdr*>(control.data());
  if (source.is_v4()) {
    in_pktinfo info{};
    info.ipi_ifindex = ifindex;
    std::memcpy(&info.ipi_spec_dst, source.data(), 4);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
    msg.msg_controllen = CMSG_SPACE(sizeof info);
  } else {
    in6_pktinfo info{};
    info.ipi6_ifindex = static_cast<unsigned>(ifindex);
    std::memcpy(&info.ipi6_addr, source.data(), 16);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof info);
    std::memcpy(CMSG_DATA(c), &info, sizeof info);
    msg.msg_controllen = CMSG_SPACE(sizeof info);
  }
  if (::sendmsg(fd, &msg, MSG_DONTWAIT) < 0) {
    return lb::fail(
        fmt::format("sendmsg to {}: {}", destination.to_string(), std::strerror(errno)));
  }
  return {};
}

std::optional<std::expected<Received, DropReason>> VrrpSocket::receive(int fd, bool v6) {
  std::array<std::uint8_t, 2048> buf;
  alignas(cmsghdr) std::array<char, 256> control;
  sockaddr_storage from{};
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  const ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
  if (n < 0) return std::nullopt;
  const std::span<const std::uint8_t> bytes(buf.data(), static_cast<std::size_t>(n));
  if (!v6) {
    auto pkt = parse_ipv4(bytes);
    if (!pkt) return std::unexpected(pkt.error());
    return Received{pkt->meta, {pkt->payload.begin(), pkt->payload.end()}};
  }
  Received r;
  r.meta.source = from_in6(reinterpret_cast<const sockaddr_in6*>(&from)->sin6_addr);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != IPPROTO_IPV6) continue;
    if (c->cmsg_type == IPV6_HOPLIMIT) {
      int hops = 0;
      std::memcpy(&hops, CMSG_DATA(c), sizeof hops);
      r.meta.ttl = static_cast<std::uint8_t>(hops);
    } else if (c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      r.meta.destination = from_in6(info.ipi6_addr);
    }
  }
  r.message.assign(bytes.begin(), bytes.end());
  return r;
}

}  // namespace vrrp
