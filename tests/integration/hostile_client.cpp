#include "tests/integration/hostile_client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <fstream>
#include <sstream>

namespace lbtest {

std::uint64_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with("VmRSS:")) {
      std::istringstream fields(line.substr(6));
      std::uint64_t kib = 0;
      fields >> kib;
      return kib * 1024;
    }
  }
  return 0;
}

namespace {

/// True when `fd` has bytes to read or the peer closed.
bool peer_spoke(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

bool send_some(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

StreamOutcome stream_until_answer(int fd, std::string_view prefix, std::string_view filler,
                                  std::uint64_t max_bytes, pid_t watch_pid) {
  StreamOutcome out;
  if (!send_some(fd, prefix)) {
    out.answered = true;
    return out;
  }
  std::uint64_t next_sample = 0;
  while (out.sent < max_bytes) {
    if (peer_spoke(fd)) {
      out.answered = true;
      break;
    }
    if (!send_some(fd, filler)) {
      out.answered = true;  // reset or closed by the peer
      break;
    }
    out.sent += filler.size();
    if (watch_pid > 0 && out.sent >= next_sample) {
      out.peak_rss = std::max(out.peak_rss, rss_bytes(watch_pid));
      next_sample = out.sent + 1024 * 1024;
    }
  }
  if (watch_pid > 0) out.peak_rss = std::max(out.peak_rss, rss_bytes(watch_pid));
  return out;
}

}  // namespace lbtest
