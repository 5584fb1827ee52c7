// Helpers for the lbd integration tests: lbd in-process (Server on a thread) or as a child
// process, small blocking backends on 127.0.0.1 port 0, and blocking client sockets with
// receive/send timeouts so that a broken proxy fails a test instead of hanging it.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/net/ip_address.hpp"
#include "lbd/server.hpp"

namespace lbtest {

/// A file in a fresh temporary directory (removed with the object).
class TempConfig {
 public:
  explicit TempConfig(const std::string& text);
  ~TempConfig();
  void write(const std::string& text);
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

/// lbd's Server running in this process on its own thread (control thread = that thread).
class InProcessLbd {
 public:
  /// Fails the current test (REQUIRE) when the config does not start.
  explicit InProcessLbd(const std::string& config_text);
  ~InProcessLbd();
  lbd::Server& server() { return *server_; }
  TempConfig& config() { return config_; }
  /// The first bound address of `listener`.
  lb::Endpoint endpoint(const std::string& listener) const;
  /// Rewrites the config file, reloads, and waits until the reload was processed; returns
  /// whether it was accepted.
  bool reload(const std::string& config_text);

 private:
  TempConfig config_;
  std::unique_ptr<lbd::Server> server_;
  std::thread thread_;
};

/// A blocking TCP server on 127.0.0.1:0; `handler` runs on its own thread per connection and owns
/// the fd (closed after the handler returns).
class TestBackend {
 public:
  using Handler = std::function<void(int fd)>;
  explicit TestBackend(Handler handler, const std::string& address = "127.0.0.1");
  ~TestBackend();
  lb::Endpoint endpoint() const { return endpoint_; }
  /// "127.0.0.1:port" for configs.
  std::string address() const { return endpoint_.to_string(); }
  int connections() const { return connections_.load(); }

  /// Echo every byte until EOF, then half-close.
  static Handler echo();
  /// Write `name` + "\n", then read until EOF.
  static Handler hello(std::string name);
  /// Read until EOF, then write "count=N\n" and close.
  static Handler count_then_reply();
  /// Read a PROXY header, reply "src=A dst=B\n" (or "local\n"), then echo.
  static Handler proxy_reporter();

 private:
  int listen_fd_ = -1;
  lb::Endpoint endpoint_;
  Handler handler_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::mutex mutex_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread accept_thread_;
};

/// An address that nothing listens on (bound then closed; loopback).
std::string dead_address();

/// Blocking client with 5 s send/receive timeouts. fd -1 when the connect failed.
int connect_to(const lb::Endpoint& endpoint);
bool send_all(int fd, std::string_view data);
/// Reads until EOF, error or timeout; `ok` tells whether it ended with a clean EOF.
std::string read_to_eof(int fd, bool* ok = nullptr);
/// Reads one line (without "\n"); empty on EOF/timeout.
std::string read_line(int fd);
/// Reads exactly n bytes (fewer on EOF/timeout).
std::string read_exact(int fd, std::size_t n);
/// True when the peer closed (EOF or reset) within `timeout` without sending anything.
bool closed_by_peer(int fd, std::chrono::milliseconds timeout);
/// CPU time (user + system) a process has used so far, from /proc/<pid>/stat (10 ms ticks);
/// `pid` 0 = this process (an InProcessLbd runs here).
std::chrono::milliseconds cpu_time(int pid = 0);
/// SHA-256 hex of `data`.
std::string sha256_hex(std::string_view data);
/// Deterministic pseudo-random bytes.
std::string random_bytes(std::size_t n, std::uint64_t seed);

/// Path of the built lbd binary.
std::string lbd_binary();

}  // namespace lbtest
