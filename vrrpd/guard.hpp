// The SIGKILL guarantee: a tiny guard process, forked at start, that outlives a killed vrrpd just
// long enough to do what a graceful stop would have done for every VRID it was master of — send
// the priority-0 advert (so the backup takes over after Skew_Time) and delete the VIPs. It learns
// what to do over a socket pair; vrrpd's death closes its end, which the guard sees as end of
// file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "vrrpd/config.hpp"

namespace vrrp {

/// What the guard does for one VRID if vrrpd dies while master.
struct GuardOrder {
  std::string key;  ///< unique per instance, e.g. "eth0/51/4"
  int ifindex = 0;
  lb::IpAddress source;
  std::vector<lb::IpAddress> destinations;
  std::uint8_t vrid = 0;
  std::uint16_t advert_interval_cs = 0;
  std::vector<Vip> vips;
};

/// Encodes / decodes one order as a text line (hex bytes, comma lists); pure, for tests.
std::string format_order(const GuardOrder& order);
std::optional<GuardOrder> parse_order(std::string_view line);

/// The parent's handle on the guard process. Single-threaded.
class Guard {
 public:
  /// Forks the guard. Call early in main(), before threads and sockets. The child never returns
  /// from this call: it waits for orders and exits.
  static lb::Result<Guard> start();
  Guard() = default;
  Guard(Guard&& o) noexcept : fd_(o.fd_), pid_(o.pid_) { o.fd_ = -1; }
  Guard& operator=(Guard&& o) noexcept;
  ~Guard();

  /// Replaces the order under `order.key` (call on becoming master).
  void arm(const GuardOrder& order);
  /// Forgets the order under `key` (call on leaving master, after the VIPs are gone).
  void disarm(const std::string& key);
  /// Clean exit: tells the guard to stand down and closes the pipe.
  void release();
  pid_t pid() const { return pid_; }

 private:
  void write_line(const std::string& line);
  int fd_ = -1;
  pid_t pid_ = -1;
};

}  // namespace vrrp
