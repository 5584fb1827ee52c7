// The access log's writer: workers format a line and queue it (never touching the disk); one
// writer thread appends queued lines to the file or stderr. The queue is bounded: when full,
// lines are dropped and counted. reopen() (SIGUSR1, after logrotate moved the file) makes the
// writer open the path again before its next write.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.hpp"
#include "lbd/admin/admin_config.hpp"
#include "lbd/telemetry/access_log_format.hpp"

namespace lbd::admin {

class AccessLog {
 public:
  /// Opens `config.path` for appending ("-" = stderr) and starts the writer thread. Fails with
  /// the errno text when the file cannot be opened, or when the format does not compile.
  static lb::Result<std::shared_ptr<AccessLog>> open(const AccessLogConfig& config);
  /// Writes what is queued, then stops the thread.
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  /// Any thread, never blocks on I/O (a short lock on the queue): formats `r` and queues the
  /// line, or drops it (counted) when `queue_lines` are already waiting.
  void write(const AccessRecord& r);
  /// Any thread: the writer re-opens the path before its next write (no-op for stderr).
  void reopen();

  const AccessLogConfig& config() const { return config_; }
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }
  std::uint64_t reopens() const { return reopens_.load(std::memory_order_relaxed); }

 private:
  AccessLog(AccessLogConfig config, AccessLogFormat format, int fd);
  void run();
  void reopen_now();

  const AccessLogConfig config_;
  const AccessLogFormat format_;
  int fd_;  // writer thread only (after construction)
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  bool stop_ = false;
  bool reopen_ = false;
  std::atomic<std::uint64_t> written_{0}, dropped_{0}, write_errors_{0}, reopens_{0};
  std::thread thread_;
};

}  // namespace lbd::admin
