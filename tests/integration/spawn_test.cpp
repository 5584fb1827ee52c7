// lb::spawn / lb::run_process (common/spawn.hpp) with real children: what a script inherits from
// a daemon (signals, scheduling, capabilities, descriptors), and that a timeout kills a whole
// pipeline and reaps it.
#include "common/spawn.hpp"

#include <doctest/doctest.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>

using namespace std::chrono_literals;

namespace {

// Runs `options` to its end on a private io_context.
lb::Result<lb::ProcessResult> spawn_run(lb::SpawnOptions options, std::chrono::milliseconds timeout,
                                        std::size_t max_output = 4096) {
  lb::asio::io_context ctx;
  std::optional<lb::Result<lb::ProcessResult>> out;
  lb::asio::co_spawn(
      ctx,
      [&]() -> lb::awaitable<void> {
        out = co_await lb::run_process(std::move(options), timeout, max_output);
      },
      [](std::exception_ptr) {});
  ctx.run_for(30s);
  REQUIRE(out.has_value());
  return *out;
}

lb::Result<lb::ProcessResult> spawn_sh(const std::string& command,
                                       std::chrono::milliseconds timeout = 5s) {
  auto options = lb::shell_command(command);
  options.capture_output = true;
  return spawn_run(std::move(options), timeout);
}

// The value of a "Name:\tvalue" line of /proc/<child>/status as the child printed it.
std::string proc_status_field(const std::string& status, const std::string& name) {
  const auto at = status.find("\n" + name + ":");
  if (at == std::string::npos) return "";
  const auto start = status.find_first_not_of(" \t", at + name.size() + 2);
  return status.substr(start, status.find('\n', start) - start);
}

// Whether `pid` is gone (no such process, or a zombie nobody needs any more).
bool process_gone(pid_t pid) {
  std::ifstream stat(fmt::format("/proc/{}/stat", pid));
  if (!stat) return true;
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'Z';
}

}  // namespace

TEST_CASE(
    "spawn: a script gets default signals and an empty mask although the daemon ignores "
    "SIGPIPE and blocks signals") {
  const auto previous = std::signal(SIGPIPE, SIG_IGN);
  sigset_t block, old;
  ::sigemptyset(&block);
  ::sigaddset(&block, SIGTERM);
  ::sigaddset(&block, SIGHUP);
  ::pthread_sigmask(SIG_BLOCK, &block, &old);
  const auto r = spawn_sh("cat /proc/self/status");
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  std::signal(SIGPIPE, previous);
  REQUIRE(r);
  REQUIRE(r->success());
  CHECK(proc_status_field(r->output, "SigIgn") == "0000000000000000");
  CHECK(proc_status_field(r->output, "SigBlk") == "0000000000000000");
  // And SIGPIPE does what it should: `yes` dies of it once `head` has its line.
  const auto piped = spawn_sh("yes | head -n 1 >/dev/null; exit 0");
  REQUIRE(piped);
  CHECK(piped->success());
}

TEST_CASE("spawn: a script has no capabilities, even when the daemon runs as root") {
  const auto r = spawn_sh("cat /proc/self/status");
  REQUIRE(r);
  REQUIRE(r->success());
  INFO(r->output);
  CHECK(proc_status_field(r->output, "CapEff") == "0000000000000000");
  CHECK(proc_status_field(r->output, "CapPrm") == "0000000000000000");
  CHECK(proc_status_field(r->output, "CapInh") == "0000000000000000");
  CHECK(proc_status_field(r->output, "CapAmb") == "0000000000000000");
  if (::geteuid() == 0) CHECK(proc_status_field(r->output, "CapBnd") == "0000000000000000");
}

TEST_CASE("spawn: a script runs SCHED_OTHER when the daemon runs SCHED_FIFO") {
  sched_param rt{};
  rt.sched_priority = 1;
  const int before = ::sched_getscheduler(0);
  sched_param before_param{};
  ::sched_getparam(0, &before_param);
  if (::sched_setscheduler(0, SCHED_FIFO, &rt) != 0) {
    MESSAGE("skipped: cannot switch to SCHED_FIFO (needs CAP_SYS_NICE)");
    return;
  }
  // Field 41 of /proc/<pid>/stat is the policy (0 = SCHED_OTHER, 1 = SCHED_FIFO).
  const auto r = spawn_sh("cut -d ')' -f 2 /proc/self/stat | cut -d ' ' -f 40");
  ::sched_setscheduler(0, before, &before_param);
  REQUIRE(r);
  REQUIRE(r->success());
  CHECK(r->output == "0\n");
}

TEST_CASE(
    "spawn: a script gets /dev/null as stdin, its own process group and no inherited "
    "descriptor") {
  int pair[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);  // deliberately not close-on-exec
  const auto r = spawn_sh(
      "readlink /proc/self/fd/0; ls /proc/self/fd | sort -n | tr '\\n' ' '; echo; "
      "test \"$(cut -d ')' -f 2 /proc/$$/stat | cut -d ' ' -f 4)\" = $$ && echo own-group");
  ::close(pair[0]);
  ::close(pair[1]);
  REQUIRE(r);
  INFO(r->output);
  CHECK(r->success());
  // ls itself opens one descriptor (3) for the directory it lists; nothing else beyond 0-2.
  CHECK(r->output == "/dev/null\n0 1 2 3 \nown-group\n");
}

TEST_CASE("spawn: the environment additions replace inherited variables of the same name") {
  ::setenv("LBPAIR_SPAWN_TEST", "inherited", 1);
  auto options = lb::shell_command("echo $LBPAIR_SPAWN_TEST:$LBPAIR_OTHER",
                                   {"LBPAIR_SPAWN_TEST=given", "LBPAIR_OTHER=x"});
  options.capture_output = true;
  const auto r = spawn_run(std::move(options), 5s);
  ::unsetenv("LBPAIR_SPAWN_TEST");
  REQUIRE(r);
  CHECK(r->output == "given:x\n");
}

TEST_CASE("spawn: a timeout kills the whole pipeline, the grandchild included, and reaps it") {
  char tmpl[] = "/tmp/lbpair-spawn-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string pidfile = dir + "/sleep.pid";
  // The inner shell writes its PID and becomes `sleep` (exec): the file holds the sleep's PID.
  const auto t0 = std::chrono::steady_clock::now();
  const auto r =
      spawn_sh(fmt::format("sh -c 'echo $$ > {}; exec sleep 100' | cat", pidfile), 300ms);
  REQUIRE(r);
  CHECK(r->timed_out);
  CHECK_FALSE(r->success());
  CHECK(lb::describe(*r, 300ms) == "timed out after 300ms");
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  pid_t sleep_pid = 0;
  std::ifstream(pidfile) >> sleep_pid;
  REQUIRE(sleep_pid > 0);
  // SIGKILL to the group is immediate, but the orphan is reaped by init: wait for that, bounded.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!process_gone(sleep_pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  CHECK(process_gone(sleep_pid));
  std::filesystem::remove_all(dir);
}

TEST_CASE("spawn: captured output is bounded and a chatty child is not blocked by it") {
  auto options = lb::shell_command("head -c 1000000 /dev/zero; echo done >&2");
  options.capture_output = true;
  const auto r = spawn_run(std::move(options), 10s, 100);
  REQUIRE(r);
  CHECK(r->success());
  CHECK(r->output.size() == 100);
  CHECK(r->output_truncated);
}

TEST_CASE("spawn: a program that cannot be executed is an error naming it, and reaped") {
  const auto r =
      spawn_run(lb::SpawnOptions{{"/nonexistent/lbpair-no-such-program"}, {}, false}, 1s);
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "spawn /nonexistent/lbpair-no-such-program: exec: No such file or directory");
  int status = 0;
  CHECK(::waitpid(-1, &status, WNOHANG) <= 0);  // nothing left to reap
}
