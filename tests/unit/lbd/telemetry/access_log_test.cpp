// The access log's writer thread: lines reach the file, reopen() follows a rename, and a writer
// stuck on a full pipe makes write() drop (counted) instead of blocking the caller.
#include "lbd/telemetry/access_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <doctest/doctest.h>

#include "tests/support/text_file.hpp"

using namespace lbd::admin;
using namespace std::chrono_literals;

namespace {

template <typename F>
bool eventually(F f) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (f()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return f();
}

AccessRecord record(std::string_view target) {
  AccessRecord r;
  r.kind = "http";
  r.target = target;
  r.status = 200;
  return r;
}

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/lbpair-access-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string path;
};

}  // namespace

TEST_CASE("access log writer: every queued line reaches the file by destruction") {
  TempDir dir;
  const auto path = dir.path + "/access.log";
  {
    auto log = AccessLog::open({.path = path, .format = "{target}"});
    REQUIRE(log);
    for (int i = 0; i < 500; ++i) (*log)->write(record("/" + std::to_string(i)));
  }
  const auto text = lbtest::read_text(path);
  CHECK(lbtest::read_lines(path).size() == 500);
  CHECK(text.starts_with("/0\n/1\n"));
  CHECK(text.ends_with("/499\n"));
}

TEST_CASE("access log writer: after a rename, reopen() sends the next lines to a new file") {
  TempDir dir;
  const auto path = dir.path + "/access.log";
  auto log = *AccessLog::open({.path = path, .format = "{target}"});
  log->write(record("/before"));
  REQUIRE(eventually([&] { return log->written() == 1; }));
  REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
  log->reopen();
  REQUIRE(eventually([&] { return log->reopens() == 1; }));
  log->write(record("/after"));
  REQUIRE(eventually([&] { return log->written() == 2; }));
  CHECK(lbtest::read_text(path + ".1") == "/before\n");
  CHECK(lbtest::read_text(path) == "/after\n");
}

TEST_CASE("access log writer: a blocked disk never blocks write(), lines are dropped and counted") {
  TempDir dir;
  const auto path = dir.path + "/fifo";
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  // A reader that never reads: the writer thread blocks once the pipe buffer is full.
  const int reader = ::open(path.c_str(), O_RDONLY | O_NONBLOCK);
  REQUIRE(reader >= 0);
  {
    auto log = *AccessLog::open({.path = path, .format = "{target}", .queue_lines = 16});
    const std::string big(4000, 'x');
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 400 && log->dropped() == 0; ++i) log->write(record(big));
    // 400 lines of 4 KB are far more than a pipe buffer (64 KiB) plus 16 queued lines.
    CHECK(log->dropped() > 0);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
    // Drain the pipe so that the writer can finish and the destructor returns.
    std::thread drain([reader] {
      char buf[65536];
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      while (std::chrono::steady_clock::now() < deadline) {
        const auto n = ::read(reader, buf, sizeof buf);
        if (n == 0) return;
        if (n < 0) std::this_thread::sleep_for(1ms);
      }
    });
    log.reset();
    drain.join();
  }
  ::close(reader);
}

TEST_CASE("access log writer: an unwritable path is an error naming the path") {
  auto log = AccessLog::open({.path = "/nonexistent-dir/x/access.log"});
  REQUIRE_FALSE(log);
  CHECK(log.error().message.find("/nonexistent-dir/x/access.log") != std::string::npos);
}
