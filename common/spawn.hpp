// Child processes with hygiene: every script the daemons run (vrrpd notify and track scripts,
// lbd exec health checks) starts through spawn() here, so none inherits what a daemon holds:
// real-time scheduling, capabilities, ignored or blocked signals, open sockets. run() waits for
// one without blocking the thread, kills its whole process group at a deadline and always reaps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "common/asio.hpp"
#include "common/error.hpp"

namespace lb {

struct SpawnOptions {
  /// argv[0] is the program's absolute path (no PATH search).
  std::vector<std::string> argv;
  /// NAME=value entries added to the inherited environment; they replace inherited ones of the
  /// same name.
  std::vector<std::string> env;
  /// stdout and stderr into a pipe that run() reads (bounded), instead of /dev/null.
  bool capture_output = false;
};

/// `/bin/sh -c command` with `env` added.
SpawnOptions shell_command(std::string command, std::vector<std::string> env = {});

struct SpawnedChild {
  pid_t pid = -1;
  int output_fd = -1;  ///< read end of the capture pipe (non-blocking, close-on-exec); -1 without
};

/// Starts a child that is its own process group leader (pgid = pid), with every signal at its
/// default disposition and none blocked, SCHED_OTHER, no capabilities (the bounding, ambient
/// and inheritable sets are emptied before exec, so an exec as root gains none either), stdin
/// from /dev/null, stdout/stderr to /dev/null or the capture pipe, and no other descriptor.
/// Safe from a multi-threaded process (a vfork-style clone: no copy of the address space).
/// Fails with the errno text when the program cannot be executed or, as root, the capabilities
/// cannot be dropped; the child is then already reaped. The caller must reap it otherwise.
Result<SpawnedChild> spawn(const SpawnOptions& options);

/// SIGKILL to the process group `pid` leads. Only for a child not yet reaped (its PID, and so
/// the group's id, cannot have been reused).
void kill_group(pid_t pid);

/// What run() saw.
struct ProcessResult {
  int status = 0;          ///< waitpid status
  bool timed_out = false;  ///< the group was killed at the deadline
  std::string output;      ///< the first `max_output` bytes of stdout+stderr, when captured
  bool output_truncated = false;
  bool success() const;  ///< exited with status 0, in time
};

/// "exit status 1", "killed by signal 9", "timed out after 2000ms".
std::string describe(const ProcessResult& result, std::chrono::milliseconds timeout);

/// Spawns `options`, waits for the child on the calling coroutine's executor (pidfd; a 10 ms
/// poll on kernels without it), and at `timeout` (0 = none) kills its whole process group (the
/// shell and the pipeline it started). Always reaps the child. Captured output beyond
/// `max_output` bytes is read and dropped, so a chatty child never blocks on a full pipe.
/// `on_spawn(pid)` runs once the child exists (an owner that may go away first can then
/// kill_group() it: until run_process returns, the child is not reaped). Fails only when the
/// spawn fails.
awaitable<Result<ProcessResult>> run_process(SpawnOptions options,
                                             std::chrono::milliseconds timeout,
                                             std::size_t max_output = 4096,
                                             std::function<void(pid_t)> on_spawn = {});

}  // namespace lb
