// Helpers for tests that play a hostile peer: stream an endless part of a message until the other
// side answers or closes, and read a process's resident memory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace lbtest {

/// What happened while streaming.
struct StreamOutcome {
  std::uint64_t sent = 0;      // bytes of `filler` sent after the prefix
  bool answered = false;       // the peer sent bytes (or closed) before `max_bytes` went out
  std::uint64_t peak_rss = 0;  // highest VmRSS of `watch_pid` sampled meanwhile (bytes; 0: none)
};

/// Sends `prefix`, then `filler` over and over until `max_bytes` of it went out, the peer sent
/// something or closed, or a send failed (a 5 s send timeout applies). With `watch_pid` > 0,
/// samples that process's VmRSS every MiB sent.
StreamOutcome stream_until_answer(int fd, std::string_view prefix, std::string_view filler,
                                  std::uint64_t max_bytes, pid_t watch_pid = 0);

/// VmRSS of `pid` in bytes (0 when unreadable).
std::uint64_t rss_bytes(pid_t pid);

}  // namespace lbtest
