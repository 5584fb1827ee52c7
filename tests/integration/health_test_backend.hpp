// A backend for the health integration tests: an HTTP/TCP server on 127.0.0.1 (port 0) on its own
// thread whose behaviour the test flips (up, refusing, hanging, 503, slow, wrong body, JSON DOWN).
#pragma once

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>

#include "common/asio.hpp"
#include "common/log.hpp"
#include "common/net/ip_address.hpp"

namespace lbtest {

class HealthTestBackend {
 public:
  enum class Mode {
    up,          // HTTP 200 {"status":"UP"} ; TCP: replies PONG to PING
    refusing,    // listening socket closed: connects are refused
    hanging,     // accepts and reads, never answers
    status503,   // HTTP 503
    slow,        // answers like `up` after `slow_delay`
    wrong_body,  // HTTP 200 with a body that is neither "UP" JSON nor the expected text
    json_down,   // HTTP 200 {"status":"DOWN"}
  };

  HealthTestBackend() : acceptor_(io_) {
    listen(0);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~HealthTestBackend() {
    io_.stop();
    thread_.join();
  }
  HealthTestBackend(const HealthTestBackend&) = delete;
  HealthTestBackend& operator=(const HealthTestBackend&) = delete;

  std::uint16_t port() const { return port_; }
  lb::Endpoint endpoint() const {
    return *lb::Endpoint::parse("127.0.0.1:" + std::to_string(port_));
  }

  /// Switches behaviour; `refusing` closes the listening socket, leaving it re-opens it on the
  /// same port. Returns once the change is in effect.
  void set_mode(Mode mode) {
    std::promise<void> done;
    lb::asio::post(io_, [this, mode, &done] {
      const bool was_refusing = mode_.load() == Mode::refusing;
      mode_ = mode;
      lb::error_code ec;
      if (mode == Mode::refusing && !was_refusing) acceptor_.close(ec);
      if (mode != Mode::refusing && was_refusing) listen(port_);
      done.set_value();
    });
    done.get_future().wait();
  }
  Mode mode() const { return mode_.load(); }

  /// Requests (HTTP) or connections (TCP) answered with a failure / with success so far.
  std::uint64_t failures() const { return failures_.load(); }
  std::uint64_t successes() const { return successes_.load(); }
  std::uint64_t connections() const { return connections_.load(); }

  std::chrono::milliseconds slow_delay{500};

 private:
  void listen(std::uint16_t port) {
    acceptor_ = lb::tcp::acceptor(io_);
    lb::tcp::endpoint ep(lb::asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(lb::asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    accept();
  }

  void accept() {
    acceptor_.async_accept([this](lb::error_code ec, lb::tcp::socket socket) {
      if (ec) return;  // closed (refusing) or shutting down
      ++connections_;
      lb::asio::co_spawn(io_, serve(std::move(socket)),
                         lb::log_exceptions(lb::log::get("test.backend"), "serve"));
      accept();
    });
  }

  lb::awaitable<void> serve(lb::tcp::socket socket) {
    lb::error_code ec;
    std::string in;
    char chunk[2048];
    // Read until an HTTP header end or a TCP "PING" line.
    while (in.find("\r\n\r\n") == std::string::npos && in.find("PING\n") == std::string::npos) {
      const std::size_t n = co_await socket.async_read_some(
          lb::asio::buffer(chunk), lb::asio::redirect_error(lb::use_awaitable, ec));
      if (ec) co_return;
      in.append(chunk, n);
      if (in.size() > 65536) co_return;
    }
    const Mode mode = mode_.load();
    if (mode == Mode::hanging) {
      // Keep the connection open without answering until the client gives up.
      co_await socket.async_read_some(lb::asio::buffer(chunk),
                                      lb::asio::redirect_error(lb::use_awaitable, ec));
      co_return;
    }
    if (mode == Mode::slow) {
      lb::asio::steady_timer t(socket.get_executor());
      t.expires_after(slow_delay);
      co_await t.async_wait(lb::asio::redirect_error(lb::use_awaitable, ec));
    }
    std::string out;
    if (in.find("PING\n") != std::string::npos && in.find("HTTP/") == std::string::npos) {
      out = mode == Mode::wrong_body ? "PANG\n" : "PONG\n";
      (mode == Mode::wrong_body || mode == Mode::status503 ? failures_ : successes_)++;
    } else {
      int status = 200;
      std::string body = R"({"status":"UP"})";
      if (mode == Mode::status503) status = 503, body = "unavailable";
      if (mode == Mode::wrong_body) body = "<html>maintenance</html>";
      if (mode == Mode::json_down) body = R"({"status":"DOWN"})";
      (status == 200 && mode != Mode::wrong_body && mode != Mode::json_down ? successes_
                                                                            : failures_)++;
      out = "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : " Unavailable") +
            "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
            "\r\nConnection: close\r\n\r\n" + body;
    }
    co_await lb::asio::async_write(socket, lb::asio::buffer(out),
                                   lb::asio::redirect_error(lb::use_awaitable, ec));
    socket.shutdown(lb::tcp::socket::shutdown_both, ec);
  }

  lb::asio::io_context io_;
  lb::asio::executor_work_guard<lb::asio::io_context::executor_type> work_guard_ =
      lb::asio::make_work_guard(io_);
  lb::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<Mode> mode_{Mode::up};
  std::atomic<std::uint64_t> failures_{0};
  std::atomic<std::uint64_t> successes_{0};
  std::atomic<std::uint64_t> connections_{0};
  std::thread thread_;
};

}  // namespace lbtest
