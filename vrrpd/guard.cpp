// The guard process that covers a SIGKILLed vrrpd: see guard.hpp.
#include "vrrpd/guard.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "vrrpd/netlink_address_manager.hpp"
#include "vrrpd/socket.hpp"

namespace vrrp {

namespace {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const auto end = s.find(sep, start);
    out.emplace_back(s.substr(start, end == std::string_view::npos ? s.npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

// Executes the orders: what a graceful stop would have done. Runs in the guard after vrrpd died.
void execute(const std::map<std::string, GuardOrder>& orders) {
  std::unique_ptr<NetlinkAddressManager> nl;
  if (auto m = NetlinkAddressManager::create()) nl = std::move(*m);
  for (const auto& [key, o] : orders) {
    // Advert first: the backup starts its Skew_Time the moment it hears it.
    if (auto sock = VrrpSocket::open_sender(o.ifindex, o.source)) {
      Advert a{o.vrid, 0, o.advert_interval_cs, {}};
      for (const auto& v : o.vips) a.addresses.push_back(v.address);
      for (const auto& dst : o.destinations) (void)sock->send(dst, encode(a, o.source, dst));
    }
    for (const auto& vip : o.vips) {
      if (nl) (void)nl->remove(o.ifindex, vip);
    }
    std::fprintf(stderr,
                 "vrrpd-guard: vrrpd died while master of %s: sent priority 0, removed "
                 "%zu VIP(s)\n",
                 key.c_str(), o.vips.size());
  }
}

[[noreturn]] void guard_main(int fd) {
  ::prctl(PR_SET_NAME, "vrrpd-guard", 0, 0, 0);
  // Signals meant for vrrpd (Ctrl-C to the process group, a reload) must not take the guard
  // down; it leaves when the pipe closes.
  std::signal(SIGINT, SIG_IGN);
  std::signal(SIGTERM, SIG_IGN);
  std::signal(SIGHUP, SIG_IGN);
  std::signal(SIGPIPE, SIG_IGN);
  std::map<std::string, GuardOrder> orders;
  std::string pending;
  std::array<char, 4096> buf;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of file: vrrpd is gone
    pending.append(buf.data(), static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line == "bye") ::_exit(0);
      if (line.rfind("disarm ", 0) == 0) {
        orders.erase(line.substr(7));
      } else if (auto o = parse_order(line)) {
        orders[o->key] = std::move(*o);
      }
    }
  }
  execute(orders);
  ::_exit(0);
}

}  // namespace

std::string format_order(const GuardOrder& o) {
  std::string dsts, vips;
  for (const auto& d : o.destinations) dsts += (dsts.empty() ? "" : ",") + d.to_string();
  for (const auto& v : o.vips) vips += (vips.empty() ? "" : ",") + v.to_string();
  return fmt::format("arm {} {} {} {}:{} {} {}", o.key, o.ifindex, o.source.to_string(), o.vrid,
                     o.advert_interval_cs, dsts, vips);
}

std::optional<GuardOrder> parse_order(std::string_view line) {
  const auto f = split(line, ' ');
  if (f.size() != 7 || f[0] != "arm" || f[1].empty()) return std::nullopt;
  GuardOrder o;
  o.key = f[1];
  if (std::sscanf(f[2].c_str(), "%d", &o.ifindex) != 1) return std::nullopt;
  auto src = lb::IpAddress::parse(f[3]);
  unsigned vrid = 0, interval = 0;
  if (!src || std::sscanf(f[4].c_str(), "%u:%u", &vrid, &interval) != 2 || vrid > 255 ||
      interval > kMaxAdvertIntCs) {
    return std::nullopt;
  }
  o.source = *src;
  o.vrid = static_cast<std::uint8_t>(vrid);
  o.advert_interval_cs = static_cast<std::uint16_t>(interval);
  for (const auto& d : split(f[5], ',')) {
    auto a = lb::IpAddress::parse(d);
    if (!a) return std::nullopt;
    o.destinations.push_back(*a);
  }
  for (const auto& v : split(f[6], ',')) {
    auto vip = Vip::parse(v);
    if (!vip) return std::nullopt;
    o.vips.push_back(*vip);
  }
  return o;
}

lb::Result<Guard> Guard::start() {
  // A socket pair, not a pipe: if the guard died, an order written to it must fail with EPIPE,
  // not kill vrrpd (a master holding VIPs) with SIGPIPE, and only a socket can say so per write
  // (MSG_NOSIGNAL) without touching the process's signal dispositions.
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return lb::fail(fmt::format("socketpair: {}", std::strerror(errno)));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return lb::fail(fmt::format("fork: {}", std::strerror(errno)));
  }
  if (pid == 0) {
    ::close(fds[1]);
    guard_main(fds[0]);
  }
  ::close(fds[0]);
  Guard g;
  g.fd_ = fds[1];
  g.pid_ = pid;
  return g;
}

Guard& Guard::operator=(Guard&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    pid_ = o.pid_;
    o.fd_ = -1;
  }
  return *this;
}

Guard::~Guard() {
  if (fd_ >= 0) ::close(fd_);
}

void Guard::write_line(const std::string& line) {
  if (fd_ < 0) return;
  const std::string data = line + "\n";
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the guard is gone; nothing better to do than carry on
    off += static_cast<std::size_t>(n);
  }
}

void Guard::arm(const GuardOrder& order) { write_line(format_order(order)); }

void Guard::disarm(const std::string& key) { write_line("disarm " + key); }

void Guard::release() {
  write_line("bye");
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace vrrp
