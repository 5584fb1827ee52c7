// Measures what active health checks cost: N servers (default 1,000) with TCP checks every
// interval (default 1 s) against local listeners run by a child process; reports the CPU time
// (getrusage, user + system) of the checking process over the measured window as % of one core.
//   build/tests/bench/health_bench [servers] [seconds] [interval_ms]
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/asio.hpp"
#include "common/log.hpp"
#include "lbd/upstream/health_manager.hpp"

namespace {

using namespace std::chrono_literals;

struct Cpu {
  double user = 0;
  double sys = 0;
};

Cpu cpu_now() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
  return {sec(ru.ru_utime), sec(ru.ru_stime)};
}

/// Child: `n` listeners on 127.0.0.1 that accept and close; their ports go to `fd`.
[[noreturn]] void run_listeners(int n, int fd) {
  lb::asio::io_context io;
  std::vector<std::unique_ptr<lb::tcp::acceptor>> acceptors;
  std::vector<std::uint16_t> ports;
  std::function<void(lb::tcp::acceptor&)> accept = [&](lb::tcp::acceptor& a) {
    a.async_accept([&](lb::error_code ec, lb::tcp::socket s) {
      if (ec) return;
      s.close(ec);
      accept(a);
    });
  };
  for (int i = 0; i < n; ++i) {
    auto a = std::make_unique<lb::tcp::acceptor>(
        io, lb::tcp::endpoint(lb::asio::ip::make_address("127.0.0.1"), 0));
    ports.push_back(a->local_endpoint().port());
    accept(*a);
    acceptors.push_back(std::move(a));
  }
  const auto bytes = ports.size() * sizeof(std::uint16_t);
  if (::write(fd, ports.data(), bytes) != static_cast<ssize_t>(bytes)) std::_Exit(1);
  ::close(fd);
  io.run();
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const int servers = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 20;
  const int interval_ms = argc > 3 ? std::atoi(argv[3]) : 1000;
  lb::log::init(spdlog::level::warn);

  int pipefd[2];
  if (::pipe(pipefd) != 0) return 1;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipefd[0]);
    run_listeners(servers, pipefd[1]);
  }
  ::close(pipefd[1]);
  std::vector<std::uint16_t> ports(static_cast<std::size_t>(servers));
  std::size_t got = 0;
  const auto want = ports.size() * sizeof(std::uint16_t);
  while (got < want) {
    const auto n = ::read(pipefd[0], reinterpret_cast<char*>(ports.data()) + got, want - got);
    if (n <= 0) return 1;
    got += static_cast<std::size_t>(n);
  }

  lbd::PoolConfig pool;
  pool.name = "bench";
  pool.health.check.type = lbd::HealthCheckType::tcp;
  pool.health.check.interval = std::chrono::milliseconds(interval_ms);
  pool.health.check.jitter = std::chrono::milliseconds(interval_ms / 10);
  pool.health.check.timeout = 1s;
  for (int i = 0; i < servers; ++i) {
    lbd::ServerConfig s;
    s.name = "s" + std::to_string(i);
    s.address =
        *lb::Endpoint::parse("127.0.0.1:" + std::to_string(ports[static_cast<std::size_t>(i)]));
    s.health.check = pool.health.check;
    pool.servers.push_back(s);
  }
  lb::asio::io_context io;
  std::uint64_t publishes = 0;
  lbd::HealthManager manager(io, pool, lbd::make_backends(pool),
                             [&](lbd::PoolSnapshotPtr) { ++publishes; });
  manager.start();
  io.run_for(2s);  // warm-up: the first checks are spread over one interval

  auto count = [&] {
    std::uint64_t checks = 0, failed = 0;
    for (const auto& s : manager.status()) checks += s.checks, failed += s.failed_checks;
    return std::pair{checks, failed};
  };
  const auto [checks0, failed0] = count();
  const Cpu cpu0 = cpu_now();
  const auto wall0 = std::chrono::steady_clock::now();
  io.run_for(std::chrono::seconds(seconds));
  const Cpu cpu1 = cpu_now();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const auto [checks1, failed1] = count();
  manager.stop();
  ::kill(child, SIGTERM);
  ::waitpid(child, nullptr, 0);

  const double user = cpu1.user - cpu0.user;
  const double sys = cpu1.sys - cpu0.sys;
  const double cpu = user + sys;
  std::printf(
      "health_bench: servers=%d interval=%dms window=%.1fs checks=%llu (%.0f/s) failed=%llu "
      "publishes=%llu cpu=%.3fs (user %.3fs, sys %.3fs) core=%.2f%% per_check=%.1fus\n",
      servers, interval_ms, wall, static_cast<unsigned long long>(checks1 - checks0),
      static_cast<double>(checks1 - checks0) / wall,
      static_cast<unsigned long long>(failed1 - failed0),
      static_cast<unsigned long long>(publishes), cpu, user, sys, 100.0 * cpu / wall,
      1e6 * cpu / static_cast<double>(checks1 - checks0));
  return failed1 - failed0 == 0 ? 0 : 1;
}
