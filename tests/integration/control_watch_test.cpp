// The control server's built-in watch stream (common/control/server.hpp) over a real unix
// socket: one reply with the server's PID, then silence until the server stops (end of file);
// bounded in number; exempt from the idle timeout that closes other sessions.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <string>
#include <thread>

#include "common/control/server.hpp"

using namespace std::chrono_literals;

namespace {

// A raw client: connect, optionally send a line, read with a deadline.
struct WatchClient {
  int fd = -1;
  explicit WatchClient(const std::string& path) {
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~WatchClient() { ::close(fd); }
  void send(const std::string& line) const {
    REQUIRE(::send(fd, line.data(), line.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(line.size()));
  }
  /// One line, "" at end of file, "timeout" when nothing came within `limit`.
  std::string read_line(std::chrono::milliseconds limit) const {
    std::string got;
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (got.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return "timeout";
      }
      char buf[512];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return got;
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }
  /// Whether the peer has closed (end of file readable) right now.
  bool closed() const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    char c;
    return ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
};

// A control server on its own thread; stop() runs on that thread.
struct WatchFixture {
  std::string dir;
  std::string path;
  lb::asio::io_context ctx;
  std::unique_ptr<lb::control::Server> server;
  std::thread thread;
  explicit WatchFixture(lb::control::ServerLimits limits) {
    char tmpl[] = "/tmp/lbpair-watch-XXXXXX";
    dir = ::mkdtemp(tmpl);
    path = dir + "/ctl.sock";
    auto s = lb::control::Server::start(
        ctx, path,
        [](const nlohmann::json&) {
          return nlohmann::json{{"ok", true}};
        },
        limits);
    REQUIRE(s);
    server = std::move(*s);
    thread = std::thread([this] { ctx.run_for(30s); });
  }
  void set_state(nlohmann::json state) {
    std::promise<void> done;
    lb::asio::post(ctx, [&] {
      server->set_watch_state(std::move(state));
      done.set_value();
    });
    done.get_future().wait();
  }
  void stop_server() {
    std::promise<void> done;
    lb::asio::post(ctx, [&] {
      server->stop();
      done.set_value();
    });
    done.get_future().wait();
  }
  ~WatchFixture() {
    lb::asio::post(ctx, [this] {
      server.reset();
      ctx.stop();
    });
    thread.join();
    std::filesystem::remove_all(dir);
  }
};

}  // namespace

TEST_CASE("control watch: the reply carries the PID, then the stream ends when the server stops") {
  WatchFixture f({});
  WatchClient c(f.path);
  c.send("{\"cmd\":\"watch\"}\n");
  const auto reply = nlohmann::json::parse(c.read_line(2s));
  CHECK(reply["ok"] == true);
  CHECK(reply["watch"] == true);
  CHECK(reply["pid"] == ::getpid());
  // Input on a watch stream is read and dropped: no reply.
  c.send("{\"cmd\":\"status\"}\n");
  CHECK(c.read_line(100ms) == "timeout");
  f.stop_server();
  CHECK(c.read_line(2s) == "");  // end of file
}

TEST_CASE("control watch: at most max_watchers streams, one more is refused") {
  WatchFixture f({.idle_timeout = std::chrono::seconds(60), .max_watchers = 1});
  WatchClient first(f.path);
  first.send("{\"cmd\":\"watch\"}\n");
  CHECK(nlohmann::json::parse(first.read_line(2s))["ok"] == true);
  WatchClient second(f.path);
  second.send("{\"cmd\":\"watch\"}\n");
  const auto refused = nlohmann::json::parse(second.read_line(2s));
  CHECK(refused["ok"] == false);
  CHECK(refused["error"] == "too many watch streams (at most 1)");
}

TEST_CASE("control watch: the idle timeout closes a silent session but not a watch stream") {
  WatchFixture f({.idle_timeout = std::chrono::milliseconds(200), .max_watchers = 4});
  WatchClient watcher(f.path);
  watcher.send("{\"cmd\":\"watch\"}\n");
  CHECK(nlohmann::json::parse(watcher.read_line(2s))["ok"] == true);
  WatchClient idle(f.path);
  CHECK(idle.read_line(3s) == "");  // closed by the server after 200 ms of silence
  // The idle session opened after the watch stream and is gone: the watch stream is older and
  // still open.
  CHECK_FALSE(watcher.closed());
  // An ordinary session that asks in time is answered.
  WatchClient busy(f.path);
  busy.send("{\"cmd\":\"anything\"}\n");
  CHECK(nlohmann::json::parse(busy.read_line(2s))["ok"] == true);
}

TEST_CASE("control watch: the published state is in the answer and each change is one line") {
  WatchFixture f({});
  f.set_state({{"event", "ready"}, {"ready", false}, {"reasons", {"warming up"}}});
  WatchClient c(f.path);
  c.send("{\"cmd\":\"watch\"}\n");
  const auto reply = nlohmann::json::parse(c.read_line(2s));
  CHECK(reply["ok"] == true);
  CHECK(reply["pid"] == ::getpid());
  CHECK(reply["ready"] == false);
  CHECK(reply["reasons"][0] == "warming up");
  f.set_state({{"event", "ready"}, {"ready", true}, {"reasons", nlohmann::json::array()}});
  const auto line = nlohmann::json::parse(c.read_line(2s));
  CHECK(line["event"] == "ready");
  CHECK(line["ready"] == true);
  // The same state again is no change: nothing is sent.
  f.set_state({{"event", "ready"}, {"ready", true}, {"reasons", nlohmann::json::array()}});
  CHECK(c.read_line(150ms) == "timeout");
  // An ordinary session is not a watcher: it gets no state lines.
  WatchClient plain(f.path);
  plain.send("{\"cmd\":\"anything\"}\n");
  CHECK(nlohmann::json::parse(plain.read_line(2s))["ok"] == true);
  f.set_state({{"event", "ready"}, {"ready", false}, {"reasons", {"replication"}}});
  CHECK(nlohmann::json::parse(c.read_line(2s))["ready"] == false);
  CHECK(plain.read_line(150ms) == "timeout");
}
