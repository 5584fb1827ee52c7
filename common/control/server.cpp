// The control-socket server and blocking client: see server.hpp.
#include "common/control/server.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "common/control/protocol.hpp"
#include "common/log.hpp"

namespace lb::control {

namespace {

using stream = asio::local::stream_protocol;

// A connect() to `path` that succeeds means another process serves it.
bool socket_in_use(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  const bool used = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return used;
}

}  // namespace

// One accepted client. The idle timer closes the socket; a watch stream cancels it.
struct Server::Session {
  explicit Session(stream::socket s) : socket(std::move(s)), idle(socket.get_executor()) {}
  stream::socket socket;
  asio::steady_timer idle;
  bool watching = false;
  // Watch state lines: one write at a time; a newer state replaces a line not yet started.
  bool writing = false;
  std::string next_line;
};

struct Server::Shared {
  bool alive = true;
  std::vector<std::weak_ptr<Session>> watchers;  // pruned when one ends
  nlohmann::json watch_state = nlohmann::json::object();

  void forget(const Session* s) {
    std::erase_if(watchers, [s](const std::weak_ptr<Session>& w) {
      auto p = w.lock();
      return !p || p.get() == s;
    });
  }
};

Server::Server(asio::io_context& ctx, std::string path, Handler handler, ServerLimits limits)
    : acceptor_(ctx),
      path_(std::move(path)),
      handler_(std::move(handler)),
      limits_(limits),
      shared_(std::make_shared<Shared>()) {}

Result<std::unique_ptr<Server>> Server::start(asio::io_context& ctx, const std::string& path,
                                              Handler handler, ServerLimits limits) {
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return fail(fmt::format("control socket {}: path too long", path));
  }
  if (socket_in_use(path)) {
    return fail(fmt::format("control socket {}: another process is listening on it", path));
  }
  ::unlink(path.c_str());  // a stale file from a process that died
  std::unique_ptr<Server> s(new Server(ctx, path, std::move(handler), limits));
  error_code ec;
  s->acceptor_.open(stream(), ec);
  if (!ec) s->acceptor_.bind(stream::endpoint(path), ec);
  if (!ec) s->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail(fmt::format("control socket {}: {}", path, ec.message()));
  ::chmod(path.c_str(), 0660);
  asio::co_spawn(ctx, s->accept_loop(), log_exceptions(log::get("control"), "control accept"));
  return s;
}

Server::~Server() { stop(); }

void Server::stop() {
  if (!shared_->alive) return;
  shared_->alive = false;
  error_code ec;
  acceptor_.close(ec);
  // A watcher must learn that this process no longer serves, as if it had exited.
  for (auto& w : shared_->watchers) {
    if (auto s = w.lock()) s->socket.close(ec);
  }
  shared_->watchers.clear();
  ::unlink(path_.c_str());
}

void Server::flush_watch(const std::shared_ptr<Session>& s) {
  if (s->writing || s->next_line.empty() || !s->socket.is_open()) return;
  s->writing = true;
  auto line = std::make_shared<std::string>(std::move(s->next_line));
  s->next_line.clear();
  asio::async_write(s->socket, asio::buffer(*line), [s, line](const error_code& ec, std::size_t) {
    s->writing = false;
    if (ec) return;  // the reading side of the session sees the end too
    flush_watch(s);
  });
}

void Server::set_watch_state(nlohmann::json state) {
  if (state == shared_->watch_state) return;
  shared_->watch_state = std::move(state);
  const std::string line = to_line(shared_->watch_state);
  for (const auto& w : shared_->watchers) {
    auto s = w.lock();
    if (!s) continue;
    s->next_line = line;
    flush_watch(s);
  }
}

std::size_t Server::watchers() const {
  std::size_t n = 0;
  for (const auto& w : shared_->watchers) n += w.expired() ? 0 : 1;
  return n;
}

awaitable<void> Server::accept_loop() {
  auto shared = shared_;
  while (shared->alive) {
    error_code ec;
    auto socket = co_await acceptor_.async_accept(asio::redirect_error(use_awaitable, ec));
    if (ec || !shared->alive) co_return;
    asio::co_spawn(acceptor_.get_executor(), session(std::move(socket)),
                   log_exceptions(log::get("control"), "control session"));
  }
}

awaitable<void> Server::session(stream::socket socket) {
  auto shared = shared_;
  auto handler = handler_;  // the session may outlive a stopped server
  const auto limits = limits_;
  auto s = std::make_shared<Session>(std::move(socket));
  std::string buffer;
  while (true) {
    s->idle.expires_after(limits.idle_timeout);
    s->idle.async_wait([s](const error_code& ec) {
      if (ec || s->watching) return;
      error_code ignored;
      s->socket.close(ignored);
    });
    error_code ec;
    const std::size_t n =
        co_await asio::async_read_until(s->socket, asio::dynamic_buffer(buffer, kMaxLineBytes + 1),
                                        '\n', asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::not_found) {
        co_await asio::async_write(s->socket,
                                   asio::buffer(to_line(error_reply("request too long"))),
                                   asio::redirect_error(use_awaitable, ec));
      }
      break;
    }
    const std::string line = buffer.substr(0, n - 1);
    buffer.erase(0, n);
    nlohmann::json reply;
    std::string error;
    bool watch = false;
    if (!shared->alive) {
      reply = error_reply("shutting down");
    } else if (auto req = parse_request(line, error)) {
      if ((*req)["cmd"] == "watch") {
        std::erase_if(shared->watchers, [](const auto& w) { return w.expired(); });
        if (shared->watchers.size() >= limits.max_watchers) {
          reply =
              error_reply(fmt::format("too many watch streams (at most {})", limits.max_watchers));
        } else {
          watch = true;
          reply = shared->watch_state;
          reply.update({{"ok", true}, {"watch", true}, {"pid", ::getpid()}});
        }
      } else {
        try {
          reply = handler(*req);
        } catch (const std::exception& e) {
          reply = error_reply(e.what());
        }
      }
    } else {
      reply = error_reply(error);
    }
    if (watch) {
      s->watching = true;
      s->idle.cancel();
      shared->watchers.push_back(s);
      s->writing = true;  // a state published meanwhile waits for the answer to be written
    }
    co_await asio::async_write(s->socket, asio::buffer(to_line(reply)),
                               asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    if (watch) {
      s->writing = false;
      flush_watch(s);
      // Nothing more is said on a watch stream: whatever the client sends is read and dropped
      // (bounded by the buffer) until it closes, or this process ends or stops the server.
      std::array<char, 256> sink;
      while (!ec) {
        co_await s->socket.async_read_some(asio::buffer(sink),
                                           asio::redirect_error(use_awaitable, ec));
      }
      break;
    }
  }
  s->idle.cancel();
  shared->forget(s.get());
}

namespace {

struct AsyncRequest {
  explicit AsyncRequest(asio::io_context& c) : socket(c), timer(c) {}
  stream::socket socket;
  asio::steady_timer timer;
  std::function<void(Result<nlohmann::json>)> done;  // empty once called

  void finish(Result<nlohmann::json> r) {
    if (!done) return;
    auto callback = std::move(done);
    done = nullptr;
    timer.cancel();
    error_code ignored;
    socket.close(ignored);  // also ends a pending operation after a timeout
    callback(std::move(r));
  }
};

// Parameters by value: they live in the coroutine frame for the whole exchange.
awaitable<void> do_request(std::shared_ptr<AsyncRequest> st, std::string path, std::string line) {
  error_code ec;
  co_await st->socket.async_connect(stream::endpoint(path),
                                    asio::redirect_error(use_awaitable, ec));
  if (!ec) {
    co_await asio::async_write(st->socket, asio::buffer(line),
                               asio::redirect_error(use_awaitable, ec));
  }
  std::string reply;
  std::size_t n = 0;
  if (!ec) {
    n = co_await asio::async_read_until(st->socket, asio::dynamic_buffer(reply, kMaxLineBytes + 1),
                                        '\n', asio::redirect_error(use_awaitable, ec));
  }
  if (ec) {
    st->finish(fail(fmt::format("control {}: {}", path, ec.message())));
    co_return;
  }
  auto j = nlohmann::json::parse(reply.substr(0, n - 1), nullptr, false);
  if (j.is_discarded()) {
    st->finish(fail(fmt::format("control {}: reply is not JSON", path)));
  } else {
    st->finish(std::move(j));
  }
}

}  // namespace

void request_async(asio::io_context& ctx, const std::string& path, const nlohmann::json& message,
                   std::chrono::milliseconds timeout,
                   std::function<void(Result<nlohmann::json>)> done) {
  auto st = std::make_shared<AsyncRequest>(ctx);
  st->done = std::move(done);
  st->timer.expires_after(timeout);
  st->timer.async_wait([st, path](const error_code& ec) {
    if (!ec) st->finish(fail(fmt::format("control {}: timed out", path)));
  });
  asio::co_spawn(ctx, do_request(st, path, to_line(message)),
                 log_exceptions(log::get("control"), "control request"));
}

Result<nlohmann::json> request(const std::string& path, const nlohmann::json& message,
                               std::chrono::milliseconds timeout) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(fmt::format("socket: {}", std::strerror(errno)));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  auto done = [fd](Result<nlohmann::json> r) {
    ::close(fd);
    return r;
  };
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return done(fail(fmt::format("connect {}: {}", path, std::strerror(errno))));
  }
  const std::string line = to_line(message);
  if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    return done(fail(fmt::format("send: {}", std::strerror(errno))));
  }
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (reply.find('\n') == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return done(fail("timed out waiting for the reply"));
    }
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return done(fail("connection closed before the reply"));
    reply.append(buf, static_cast<std::size_t>(n));
    if (reply.size() > kMaxLineBytes) return done(fail("reply too long"));
  }
  auto j = nlohmann::json::parse(reply.substr(0, reply.find('\n')), nullptr, false);
  if (j.is_discarded()) return done(fail("reply is not JSON"));
  return done(j);
}

}  // namespace lb::control
