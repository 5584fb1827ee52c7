// A stand-in for systemd's notification socket (sd_notify(3)) in tests: binds a unix datagram
// socket at a path the test passes to a daemon as NOTIFY_SOCKET and reads what it announces.
#pragma once

#include <chrono>
#include <string>

namespace lbtest {

class NotifyListener {
 public:
  /// Binds `path` (an existing file there is removed first). Throws on failure.
  explicit NotifyListener(std::string path);
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  const std::string& path() const { return path_; }
  /// The next message ("READY=1", ...), "timeout" after `timeout`, or "error".
  std::string next(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace lbtest
