// Exec health check (see exec_checker.hpp).
#include "lbd/upstream/exec_checker.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "lbd/upstream/probe_deadline.hpp"

extern char** environ;

namespace lbd {

namespace {

/// Starts `/bin/sh -c command` in a new process group; returns its PID or an error text.
lb::Result<pid_t> spawn_shell(const std::string& command, const std::vector<std::string>& extra) {
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) env_strings.emplace_back(*e);
  env_strings.insert(env_strings.end(), extra.begin(), extra.end());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};

  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  for (int fd : {0, 1, 2}) {
    posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0);
  }
  // Own process group (so a timeout kills the whole pipeline), default signal dispositions and an
  // empty mask: the daemon blocks signals in its threads, the check must not inherit that.
  sigset_t empty;
  sigset_t defaults;
  sigemptyset(&empty);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) sigaddset(&defaults, sig);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, sh.c_str(), &actions, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return lb::fail(fmt::format("spawn: {}", std::strerror(rc)));
  return pid;
}

std::string exit_reason(int status) {
  if (WIFEXITED(status)) return fmt::format("exit status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("killed by signal {}", WTERMSIG(status));
  return fmt::format("wait status {}", status);
}

}  // namespace

lb::awaitable<lb::Result<void>> ExecChecker::probe(const Backend& backend,
                                                   std::chrono::nanoseconds timeout) {
  namespace asio = lb::asio;
  auto ex = co_await asio::this_coro::executor;
  const auto target = check_target(config_, backend);
  auto pid = spawn_shell(config_.command, {"LBD_SERVER_NAME=" + backend.name,
                                           "LBD_SERVER_ADDRESS=" + target.address.to_string(),
                                           "LBD_SERVER_PORT=" + std::to_string(target.port)});
  if (!pid) co_return std::unexpected(pid.error());
  const pid_t child = *pid;
  // The deadline kills the group we created; it cannot hit a reused PID because it is finished
  // before the child is reaped below.
  detail::ProbeDeadline deadline(ex, timeout, [child] { ::kill(-child, SIGKILL); });

  int status = 0;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  if (pidfd >= 0) {
    // A pidfd becomes readable when the process exits: wait for it without blocking the thread.
    asio::posix::stream_descriptor exited(ex, pidfd);
    lb::error_code ec;
    co_await exited.async_wait(asio::posix::stream_descriptor::wait_read,
                               asio::redirect_error(lb::use_awaitable, ec));
  } else {
    // Kernels before 5.3: poll the child every 10 ms (bounded by the deadline's kill).
    asio::steady_timer tick(ex);
    while (::waitpid(child, &status, WNOHANG) == 0) {
      tick.expires_after(std::chrono::milliseconds(10));
      co_await tick.async_wait(lb::use_awaitable);
    }
    deadline.finish();
    if (deadline.expired()) co_return lb::fail(timeout_reason(timeout));
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) co_return lb::Result<void>{};
    co_return lb::fail(exit_reason(status));
  }
  const bool expired = deadline.expired();
  deadline.finish();
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (expired) co_return lb::fail(timeout_reason(timeout));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) co_return lb::Result<void>{};
  co_return lb::fail(exit_reason(status));
}

}  // namespace lbd
