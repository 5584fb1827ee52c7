// Test helpers to run commands and child processes. Children are tracked by PID and stopped by
// PID only: a test never signals a process it did not start.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace lbtest {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or not run
  std::string output;  // stdout and stderr together
};

/// Runs `command` through /bin/sh -c and captures its output.
CommandResult run_command(const std::string& command);

/// A child process started by a test. Sends SIGTERM, then SIGKILL, on destruction.
class ChildProcess {
 public:
  ChildProcess() = default;
  /// Starts argv[0] with argv; stdout and stderr go to `log_path` (or /dev/null when empty).
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();
  /// Sends `signal` to the child (only if it is still ours and not reaped).
  void signal(int signal);
  /// Waits up to `timeout` for exit; returns the exit code, 128+signal, or -1 on timeout.
  int wait_for(std::chrono::milliseconds timeout);
  /// SIGTERM, wait up to `grace`, then SIGKILL and reap.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

/// Polls `predicate` every `step` until it returns true or `timeout` passes.
template <typename Predicate>
bool wait_until(Predicate predicate, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds(10));

}  // namespace lbtest

#include <thread>

template <typename Predicate>
bool lbtest::wait_until(Predicate predicate, std::chrono::milliseconds timeout,
                        std::chrono::milliseconds step) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (predicate()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}
