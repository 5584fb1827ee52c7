// Child processes with hygiene: see spawn.hpp.
#include "common/spawn.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "common/log.hpp"

extern char** environ;

namespace lb {

namespace {

// Everything the child needs, prepared by the parent: between clone and exec the child shares
// the parent's memory and may only make system calls (no allocation, no locks).
struct ChildPlan {
  const char* path = nullptr;
  char* const* argv = nullptr;
  char* const* envp = nullptr;
  int null_fd = -1;    // /dev/null, for stdin (and the outputs without capture)
  int output_fd = -1;  // write end of the capture pipe, or -1
  bool must_drop_caps = false;
  int error = 0;  // set by the child when it fails before exec (shared memory)
  const char* step = "";
};

// The child side of the vfork-style clone. Returns only on failure (the exit code).
int child_main(void* arg) {
  auto* plan = static_cast<ChildPlan*>(arg);
  auto failed = [plan](const char* step) {
    plan->error = errno;
    plan->step = step;
    return 127;
  };
  // Dispositions first, while every signal is still blocked (the parent blocked them all before
  // the clone): a handler of the parent must never run in this half-made child. Handlers reset
  // themselves at exec; SIG_IGN would survive it (SIGPIPE ignored in the daemons).
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    ::sigaction(sig, &dfl, nullptr);  // glibc-internal signals refuse: they reset at exec anyway
  }
  if (::setpgid(0, 0) != 0) return failed("setpgid");
  const sched_param param{};
  if (::sched_setscheduler(0, SCHED_OTHER, &param) != 0) return failed("sched_setscheduler");
  // Capabilities: ambient and bounding sets emptied, then the inheritable set. With an empty
  // bounding set even an exec as root (uid 0) starts with no capability.
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);  // EINVAL before 4.3
  for (int cap = 0; cap < 64; ++cap) {
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0) continue;
    if (errno == EINVAL) break;  // past the last capability this kernel knows
    if (plan->must_drop_caps) return failed("dropping the capability bounding set");
    break;  // unprivileged without CAP_SETPCAP: nothing to gain through exec anyway
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
  if (::syscall(SYS_capget, &header, data.data()) == 0) {
    for (auto& d : data) d.inheritable = 0;
    if (::syscall(SYS_capset, &header, data.data()) != 0) return failed("capset");
  }
  if (::dup2(plan->null_fd, 0) < 0) return failed("dup2 stdin");
  const int out = plan->output_fd >= 0 ? plan->output_fd : plan->null_fd;
  if (::dup2(out, 1) < 0 || ::dup2(out, 2) < 0) return failed("dup2 stdout");
  // No other descriptor: lbd's sockets (a watch stream from vrrpd among them) must close when
  // lbd dies, not live on in a slow health check.
  if (::syscall(SYS_close_range, 3, ~0U, 0) != 0) {
    for (int fd = 3; fd < 65536; ++fd) ::close(fd);  // kernels before 5.9
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, _NSIG / 8);
  ::execve(plan->path, plan->argv, plan->envp);
  return failed("exec");
}

std::string env_name(const std::string& entry) { return entry.substr(0, entry.find('=')); }

}  // namespace

SpawnOptions shell_command(std::string command, std::vector<std::string> env) {
  return SpawnOptions{{"/bin/sh", "-c", std::move(command)}, std::move(env), false};
}

Result<SpawnedChild> spawn(const SpawnOptions& options) {
  if (options.argv.empty()) return fail("spawn: empty argv");
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    bool replaced = false;
    for (const auto& extra : options.env) replaced = replaced || env_name(extra) == env_name(entry);
    if (!replaced) env_strings.push_back(std::move(entry));
  }
  env_strings.insert(env_strings.end(), options.env.begin(), options.env.end());
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);

  const int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) return fail(fmt::format("spawn: /dev/null: {}", std::strerror(errno)));
  int pipe_fds[2] = {-1, -1};
  if (options.capture_output && ::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(null_fd);
    return fail(fmt::format("spawn: pipe: {}", std::strerror(e)));
  }
  ChildPlan plan;
  plan.path = argv[0];
  plan.argv = argv.data();
  plan.envp = envp.data();
  plan.null_fd = null_fd;
  plan.output_fd = pipe_fds[1];
  plan.must_drop_caps = ::geteuid() == 0;

  // The child runs on its own stack while the parent thread waits (CLONE_VFORK) until it has
  // exec'd or exited; every signal stays blocked in this thread meanwhile, so none of our
  // handlers can run on the child's side.
  constexpr std::size_t kStack = 64 * 1024;
  void* stack = ::mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    const int e = errno;
    ::close(null_fd);
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]), ::close(pipe_fds[1]);
    return fail(fmt::format("spawn: stack: {}", std::strerror(e)));
  }
  sigset_t all, old;
  ::sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  const pid_t pid = ::clone(child_main, static_cast<char*>(stack) + kStack,
                            CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  const int clone_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, kStack);
  ::close(null_fd);
  if (pipe_fds[1] >= 0) ::close(pipe_fds[1]);
  auto close_read = [&] {
    if (pipe_fds[0] >= 0) ::close(pipe_fds[0]);
  };
  if (pid < 0) {
    close_read();
    return fail(fmt::format("spawn: clone: {}", std::strerror(clone_errno)));
  }
  if (plan.error != 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    close_read();
    return fail(
        fmt::format("spawn {}: {}: {}", options.argv[0], plan.step, std::strerror(plan.error)));
  }
  if (pipe_fds[0] >= 0) ::fcntl(pipe_fds[0], F_SETFL, ::fcntl(pipe_fds[0], F_GETFL) | O_NONBLOCK);
  return SpawnedChild{pid, pipe_fds[0]};
}

void kill_group(pid_t pid) {
  if (pid > 0) ::kill(-pid, SIGKILL);
}

bool ProcessResult::success() const {
  return !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

std::string describe(const ProcessResult& r, std::chrono::milliseconds timeout) {
  if (r.timed_out) return fmt::format("timed out after {}ms", timeout.count());
  if (WIFEXITED(r.status)) return fmt::format("exit status {}", WEXITSTATUS(r.status));
  if (WIFSIGNALED(r.status)) return fmt::format("killed by signal {}", WTERMSIG(r.status));
  return fmt::format("wait status {}", r.status);
}

namespace {

// The captured output, filled by a reader coroutine that may outlive run_process's frame.
struct Capture {
  explicit Capture(const asio::any_io_executor& ex, int fd) : pipe(ex, fd), finished(ex) {}
  asio::posix::stream_descriptor pipe;
  asio::steady_timer finished;  // cancelled when the reader is done
  bool done = false;
  std::string text;
  std::size_t limit = 0;
  bool truncated = false;

  void take(const char* data, std::size_t n) {
    const std::size_t room = limit > text.size() ? limit - text.size() : 0;
    text.append(data, std::min(n, room));
    truncated = truncated || n > room;
  }
};

awaitable<void> read_output(std::shared_ptr<Capture> c) {
  std::array<char, 4096> buf;
  while (true) {
    error_code ec;
    const std::size_t n = co_await c->pipe.async_read_some(asio::buffer(buf),
                                                           asio::redirect_error(use_awaitable, ec));
    if (ec) {  // end of file, or closed by run_process after the reap
      c->done = true;
      c->finished.cancel();
      co_return;
    }
    c->take(buf.data(), n);
  }
}

}  // namespace

awaitable<Result<ProcessResult>> run_process(SpawnOptions options,
                                             std::chrono::milliseconds timeout,
                                             std::size_t max_output,
                                             std::function<void(pid_t)> on_spawn) {
  auto ex = co_await asio::this_coro::executor;
  auto child = spawn(options);
  if (!child) co_return std::unexpected(child.error());
  const pid_t pid = child->pid;
  if (on_spawn) on_spawn(pid);
  std::shared_ptr<Capture> capture;
  if (child->output_fd >= 0) {
    capture = std::make_shared<Capture>(ex, child->output_fd);
    capture->limit = max_output;
    capture->finished.expires_at(asio::steady_timer::time_point::max());
    asio::co_spawn(ex, read_output(capture), log_exceptions(log::get("spawn"), "child output"));
  }
  // The deadline kills the group while the leader is unreaped: its PID (the group id) cannot
  // have been reused.
  struct Deadline {
    explicit Deadline(const asio::any_io_executor& e) : timer(e) {}
    asio::steady_timer timer;
    bool expired = false;
    bool done = false;
  };
  auto deadline = std::make_shared<Deadline>(ex);
  if (timeout.count() > 0) {
    deadline->timer.expires_after(timeout);
    deadline->timer.async_wait([deadline, pid](const error_code& ec) {
      if (ec || deadline->done) return;
      deadline->expired = true;
      kill_group(pid);
    });
  }
  ProcessResult result;
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd >= 0) {
    // Readable once the child exits.
    asio::posix::stream_descriptor exited(ex, pidfd);
    error_code ec;
    co_await exited.async_wait(asio::posix::stream_descriptor::wait_read,
                               asio::redirect_error(use_awaitable, ec));
  } else {
    // Kernels before 5.3: poll every 10 ms (bounded by the deadline's kill).
    asio::steady_timer tick(ex);
    while (::waitpid(pid, &result.status, WNOHANG | WNOWAIT) == 0) {
      tick.expires_after(std::chrono::milliseconds(10));
      error_code ec;
      co_await tick.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }
  deadline->done = true;
  deadline->timer.cancel();
  result.timed_out = deadline->expired;
  while (::waitpid(pid, &result.status, 0) < 0 && errno == EINTR) {
  }
  if (capture) {
    // What the child wrote is in the pipe; the reader ends at end of file, unless a grandchild
    // still holds the write end: then what it got within kOutputGrace is the output.
    constexpr std::chrono::milliseconds kOutputGrace{100};
    if (!capture->done) {
      capture->finished.expires_after(kOutputGrace);
      error_code ec;
      co_await capture->finished.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    error_code ignored;
    capture->pipe.close(ignored);
    result.output = capture->text;
    result.output_truncated = capture->truncated;
  }
  co_return result;
}

}  // namespace lb
