// The control-socket server: accepts local clients on a unix stream socket and answers each
// request line with the handler's reply line. Runs on the caller's io_context (one thread).
// Built in: {"cmd":"watch"} answers {"ok":true,"watch":true,"pid":N} and keeps the connection
// open without further replies, so the client sees end of file the moment this process ends
// (vrrpd uses it to learn at once that lbd died). Watch streams are bounded in number and have
// no idle timeout; every other session is closed after `idle_timeout` without a request.
// A process may publish a watch state (set_watch_state): its fields are merged into the watch
// answer, and every change is sent to the open watch streams as one line. A client that does
// not read its stream gets only the latest state when it does (lines are coalesced, so what is
// buffered per stream is bounded).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "common/error.hpp"

namespace lb::control {

/// Limits of a control server.
struct ServerLimits {
  /// A session with no complete request for this long is closed (watch streams excepted).
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(60)};
  /// Watch streams open at once; one more is refused with an error reply.
  std::size_t max_watchers = 16;
};

class Server {
 public:
  /// Gets a parsed request (an object with "cmd"), returns the reply object.
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;

  /// Binds `path` (a stale socket file with no listener is replaced; a live one is an error),
  /// mode 0660, and starts accepting. Fails with the errno text.
  static Result<std::unique_ptr<Server>> start(asio::io_context& ctx, const std::string& path,
                                               Handler handler, ServerLimits limits = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Stops accepting, closes the watch streams (their clients see end of file) and removes the
  /// socket file.
  void stop();
  const std::string& path() const { return path_; }
  /// Watch streams open now.
  std::size_t watchers() const;
  /// The state watchers see: merged into every watch answer from now on, and sent as one line
  /// (this object) to every open watch stream when it differs from the last one. Same thread as
  /// the io_context.
  void set_watch_state(nlohmann::json state);

 private:
  struct Session;
  struct Shared;
  Server(asio::io_context& ctx, std::string path, Handler handler, ServerLimits limits);
  awaitable<void> accept_loop();
  awaitable<void> session(asio::local::stream_protocol::socket socket);
  /// Writes the session's pending watch line, then whatever replaced it meanwhile.
  static void flush_watch(const std::shared_ptr<Session>& s);

  asio::local::stream_protocol::acceptor acceptor_;
  std::string path_;
  Handler handler_;
  ServerLimits limits_;
  // Shared with the sessions, which may outlive a stopped server.
  std::shared_ptr<Shared> shared_;
};

/// Sends one request asynchronously and calls `done` with the reply, or an error after
/// `timeout` (connect, write and read together). Never blocks the io_context's thread, so a hung
/// peer cannot delay the caller's timers. `done` runs on `ctx`'s thread.
void request_async(asio::io_context& ctx, const std::string& path, const nlohmann::json& message,
                   std::chrono::milliseconds timeout,
                   std::function<void(Result<nlohmann::json>)> done);

/// A blocking client for lbctl and tests: sends one request, waits up to `timeout` for the reply.
Result<nlohmann::json> request(const std::string& path, const nlohmann::json& message,
                               std::chrono::milliseconds timeout);

}  // namespace lb::control
