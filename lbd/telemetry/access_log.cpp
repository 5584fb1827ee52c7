#include "lbd/telemetry/access_log.hpp"

#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <fmt/format.h>

#include "common/log.hpp"

namespace lbd::admin {
namespace {

lb::Result<int> open_path(const std::string& path) {
  if (path == "-") return STDERR_FILENO;
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return lb::fail(fmt::format("access_log: {}: {}", path, std::strerror(errno)));
  return fd;
}

}  // namespace

lb::Result<std::shared_ptr<AccessLog>> AccessLog::open(const AccessLogConfig& config) {
  auto format = AccessLogFormat::compile(config.format);
  if (!format) return lb::fail("access_log: " + format.error());
  auto fd = open_path(config.path);
  if (!fd) return std::unexpected(fd.error());
  return std::shared_ptr<AccessLog>(new AccessLog(config, std::move(*format), *fd));
}

AccessLog::AccessLog(AccessLogConfig config, AccessLogFormat format, int fd)
    : config_(std::move(config)), format_(std::move(format)), fd_(fd) {
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  thread_.join();
  if (fd_ > STDERR_FILENO) ::close(fd_);
}

void AccessLog::write(const AccessRecord& r) {
  std::string line = format_.format(r);
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= config_.queue_lines) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queue_.push_back(std::move(line));
  }
  wake_.notify_one();
}

void AccessLog::reopen() {
  {
    std::lock_guard lock(mutex_);
    reopen_ = true;
  }
  wake_.notify_one();
}

void AccessLog::reopen_now() {
  if (config_.path == "-") return;
  auto fd = open_path(config_.path);
  if (!fd) {
    // Keep writing to the old file rather than losing lines; say so once per attempt.
    lb::log::get("lbd.access")->error("{}; keeping the previous file", fd.error().message);
    return;
  }
  ::close(fd_);
  fd_ = *fd;
  reopens_.fetch_add(1, std::memory_order_relaxed);
}

void AccessLog::run() {
  std::deque<std::string> batch;
  std::vector<iovec> iov;
  for (;;) {
    bool reopen = false;
    bool stop = false;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || reopen_ || !queue_.empty(); });
      batch.swap(queue_);
      reopen = std::exchange(reopen_, false);
      stop = stop_;
    }
    // Lines queued before the signal belong to the old file too: write them first.
    while (!batch.empty()) {
      iov.clear();
      for (std::size_t i = 0; i < batch.size() && i < IOV_MAX; ++i) {
        iov.push_back(iovec{batch[i].data(), batch[i].size()});
      }
      ssize_t n = ::writev(fd_, iov.data(), static_cast<int>(iov.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        write_errors_.fetch_add(iov.size(), std::memory_order_relaxed);
        batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(iov.size()));
        continue;
      }
      // Drop the fully written lines; trim a partly written one and go on with the rest.
      std::size_t done = 0;
      while (!batch.empty() && static_cast<std::size_t>(n) >= batch.front().size()) {
        n -= static_cast<ssize_t>(batch.front().size());
        batch.pop_front();
        ++done;
      }
      if (n > 0) batch.front().erase(0, static_cast<std::size_t>(n));
      written_.fetch_add(done, std::memory_order_relaxed);
    }
    if (reopen) reopen_now();
    if (stop) return;
  }
}

}  // namespace lbd::admin
