// connect_with_deadline against 127.0.0.1 (port 0): a refused connect, a deadline that bounds what
// follows the connect, and a finished exchange whose deadline no longer fires.
#include "lbd/upstream/connect_deadline.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <string>

namespace {

using namespace std::chrono_literals;
namespace asio = lb::asio;

lb::Endpoint loopback(std::uint16_t port) { return {*lb::IpAddress::parse("127.0.0.1"), port}; }

/// Runs `body` as a coroutine on `io` until it ends (bounded: 5 s).
template <typename Body>
void run(asio::io_context& io, Body body) {
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> lb::awaitable<void> {
        co_await body();
        done = true;
      },
      [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
      });
  io.run_for(5s);
  REQUIRE(done);
}

}  // namespace

TEST_CASE("connect_with_deadline: a refused connect fails with connect: and the system reason") {
  asio::io_context io;
  std::uint16_t closed_port = 0;
  {
    lb::tcp::acceptor probe(io, lb::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    closed_port = probe.local_endpoint().port();
  }
  std::optional<std::string> error;
  run(io, [&]() -> lb::awaitable<void> {
    auto r = co_await lbd::connect_with_deadline(io.get_executor(), loopback(closed_port), 1s);
    if (!r) error = r.error().message;
  });
  CHECK(error == "connect: connection refused");
}

TEST_CASE("connect_with_deadline: the deadline closes the socket during the exchange after it") {
  asio::io_context io;
  // Accepted by the kernel (backlog) but never answered: the read waits for the deadline.
  lb::tcp::acceptor silent(io, lb::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  bool connected = false, expired = false;
  lb::error_code read_error;
  const auto started = std::chrono::steady_clock::now();
  run(io, [&]() -> lb::awaitable<void> {
    auto r = co_await lbd::connect_with_deadline(io.get_executor(),
                                                 loopback(silent.local_endpoint().port()), 50ms);
    if (!r) co_return;
    connected = true;
    char byte;
    co_await r->socket().async_read_some(asio::buffer(&byte, 1),
                                         asio::redirect_error(lb::use_awaitable, read_error));
    expired = r->expired();
  });
  CHECK(connected);
  CHECK(expired);
  CHECK(read_error == asio::error::operation_aborted);
  CHECK(std::chrono::steady_clock::now() - started >= 50ms);
}

TEST_CASE("connect_with_deadline: after finish() the deadline does not fire") {
  asio::io_context io;
  lb::tcp::acceptor listener(io, lb::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::optional<lbd::DeadlineSocket> kept;
  run(io, [&]() -> lb::awaitable<void> {
    auto r = co_await lbd::connect_with_deadline(io.get_executor(),
                                                 loopback(listener.local_endpoint().port()), 20ms);
    if (!r) co_return;
    r->finish();
    kept.emplace(std::move(*r));
  });
  REQUIRE(kept);
  CHECK_FALSE(kept->socket().is_open());
  io.restart();
  io.run_for(60ms);  // past the deadline: its handler was cancelled
  CHECK_FALSE(kept->expired());
}
