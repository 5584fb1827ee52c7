// Helpers for the health integration tests: a control thread to run a HealthManager on, a
// snapshot recorder, a one-shot probe runner and a log capture for the "lbd.health" logger.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <spdlog/sinks/base_sink.h>

#include "common/asio.hpp"
#include "common/log.hpp"
#include "lbd/balance/pool_snapshot.hpp"
#include "lbd/config.hpp"
#include "lbd/upstream/health_checker.hpp"
#include "tests/support/process.hpp"

namespace lbtest {

/// Runs one probe to completion on a private io_context (bounded by 10 s of real time).
inline lb::Result<void> run_probe(lbd::HealthChecker& checker, const lbd::Backend& backend,
                                  std::chrono::nanoseconds timeout) {
  lb::asio::io_context io;
  std::optional<lb::Result<void>> out;
  lb::asio::co_spawn(
      io, [&]() -> lb::awaitable<void> { out = co_await checker.probe(backend, timeout); },
      lb::log_exceptions(lb::log::get("test"), "probe"));
  io.run_for(std::chrono::seconds(10));
  if (!out) return lb::fail("probe did not finish");
  return *out;
}

inline std::string reason_of(const lb::Result<void>& r) { return r ? "ok" : r.error().message; }

/// A thread running an io_context: the "control thread" of the tests.
class ControlThread {
 public:
  ControlThread() : thread_([this] { io_.run(); }) {}
  ~ControlThread() { stop(); }
  lb::asio::io_context& io() { return io_; }
  /// Runs `f` on the control thread and returns its result.
  template <typename F>
  auto call(F f) -> decltype(f()) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    lb::asio::post(io_, [&task] { task(); });
    return result.get();
  }
  void stop() {
    if (!thread_.joinable()) return;
    guard_.reset();
    io_.stop();
    thread_.join();
  }

 private:
  lb::asio::io_context io_;
  lb::asio::executor_work_guard<lb::asio::io_context::executor_type> guard_ =
      lb::asio::make_work_guard(io_);
  std::thread thread_;
};

/// Collects every snapshot the manager publishes (publish runs on the control thread).
class SnapshotRecorder {
 public:
  /// `on_publish` runs inside publish, e.g. to sample backend counters at that moment.
  std::function<void(lbd::PoolSnapshotPtr)> callback() {
    return [this](lbd::PoolSnapshotPtr s) {
      std::lock_guard lock(mutex_);
      if (on_publish) on_publish(*s);
      all_.push_back(std::move(s));
    };
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return all_.size();
  }
  lbd::PoolSnapshotPtr last() const {
    std::lock_guard lock(mutex_);
    return all_.empty() ? nullptr : all_.back();
  }
  lbd::PoolSnapshotPtr at(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return all_.at(i);
  }
  /// Candidate names of the last snapshot, "a:1,b:2".
  std::string candidates() const {
    auto s = last();
    std::string out;
    if (!s) return "<none>";
    for (const auto& c : s->candidates) {
      out += (out.empty() ? "" : ",") + c.backend->name + ":" + std::to_string(c.weight);
    }
    return out;
  }
  /// Waits (bounded) until the last snapshot's candidates read `expected`.
  bool wait_candidates(const std::string& expected,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    return wait_until([&] { return candidates() == expected; }, timeout);
  }

  std::function<void(const lbd::PoolSnapshot&)> on_publish;

 private:
  mutable std::mutex mutex_;
  std::vector<lbd::PoolSnapshotPtr> all_;
};

/// Captures what the "lbd.health" logger writes (info and up) while alive.
class LogCapture {
 public:
  LogCapture() : sink_(std::make_shared<Sink>()), logger_(lb::log::get("lbd.health")) {
    // Another test in this process may have started a Server with log_level = "warn".
    saved_level_ = logger_->level();
    logger_->set_level(spdlog::level::debug);
    logger_->sinks().push_back(sink_);
  }
  ~LogCapture() {
    logger_->sinks().pop_back();
    logger_->set_level(saved_level_);
  }
  std::size_t count(const std::string& needle) const {
    std::lock_guard lock(sink_->lines_mutex);
    std::size_t n = 0;
    for (const auto& l : sink_->lines) n += l.find(needle) != std::string::npos;
    return n;
  }
  std::string text() const {
    std::lock_guard lock(sink_->lines_mutex);
    std::string out;
    for (const auto& l : sink_->lines) out += l + "\n";
    return out;
  }

 private:
  struct Sink : spdlog::sinks::base_sink<std::mutex> {
    void sink_it_(const spdlog::details::log_msg& msg) override {
      std::lock_guard lock(lines_mutex);
      lines.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {}
    mutable std::mutex lines_mutex;
    std::vector<std::string> lines;
  };
  std::shared_ptr<Sink> sink_;
  spdlog::level::level_enum saved_level_ = spdlog::level::info;
  std::shared_ptr<spdlog::logger> logger_;
};

/// A pool of servers at the given endpoints with a TCP or HTTP check, tuned for fast tests.
inline lbd::PoolConfig test_pool(const std::vector<std::pair<std::string, lb::Endpoint>>& servers,
                                 lbd::HealthCheckType type) {
  lbd::PoolConfig pool;
  pool.name = "p";
  auto& c = pool.health.check;
  c.type = type;
  c.interval = std::chrono::milliseconds(20);
  c.fast_interval = std::chrono::milliseconds(10);
  c.jitter = std::chrono::milliseconds(2);
  c.timeout = std::chrono::milliseconds(300);
  c.rise = 2;
  c.fall = 3;
  for (const auto& [name, ep] : servers) {
    lbd::ServerConfig s;
    s.name = name;
    s.address = ep;
    s.health.check = c;
    pool.servers.push_back(s);
  }
  return pool;
}

}  // namespace lbtest
