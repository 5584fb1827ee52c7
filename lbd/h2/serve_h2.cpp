// The HTTP/2 connection's I/O (entry points in lbd/session/h2_entry.hpp): one reader and one
// writer coroutine around the ServerSession, over the plain socket (h2c) or the TLS stream.
// The streams themselves are in connection.cpp and the files it names.
#include "lbd/session/h2_entry.hpp"

#include <vector>

#include "lbd/h2/connection.hpp"

namespace lbd::h2 {

using namespace lbd::proxy;
using namespace lbd::proxy::http_detail;

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;
}  // namespace

template <typename Stream>
lb::awaitable<void> Connection::run(Stream& stream, std::string_view already) {
  lstats_.h2_connections.add();
  last_activity_ = started_ = Clock::now();
  spawn(writer(stream), "h2 writer");
  spawn(ticker(), "h2 ticker");
  bool reading = true;
  if (!already.empty()) {
    reading = session_.receive(
        std::span(reinterpret_cast<const std::uint8_t*>(already.data()), already.size()),
        Clock::now());
    kick();
  }
  std::vector<std::uint8_t> buf(kReadChunk);
  bool client_gone = false;
  while (reading && !finished_) {
    error_code ec;
    const auto got = co_await stream.async_read_some(asio::buffer(buf),
                                                     asio::redirect_error(lb::use_awaitable, ec));
    if (ec) {
      client_gone = !finished_;
      break;
    }
    last_activity_ = Clock::now();
    reading = session_.receive(std::span(buf.data(), got), last_activity_);
    kick();
  }
  if (client_gone) dead_ = true;
  // A failed connection (a defence or a protocol error) drops its streams; nghttp2 does not
  // close them one by one.
  if (dead_ || !reading) abort_all();
  kick();
  tick_.cancel();
  while (tasks_ > 0) co_await tasks_done_.wait();
}

/// Sends what the session has, until the connection is done or the client is gone.
template <typename Stream>
lb::awaitable<void> Connection::writer(Stream& stream) {
  for (;;) {
    const auto out = session_.output();
    if (out.empty()) {
      if (session_.done() || dead_) break;
      co_await writer_wake_.wait();
      continue;
    }
    error_code ec;
    write_watch_.arm(cfg_.timeouts.client_idle);
    co_await asio::async_write(stream, asio::buffer(out.data(), out.size()),
                               asio::redirect_error(lb::use_awaitable, ec));
    write_watch_.disarm();
    session_.clear_output();
    if (ec) {
      dead_ = true;
      break;
    }
  }
  finished_ = true;
  write_watch_.disarm();
  error_code ignored;
  raw_.cancel(ignored);  // ends the reader's pending read
  tick_.cancel();
}

lb::awaitable<void> serve_h2c(WorkerContext& worker, ClientConnection& client, tcp::socket& socket,
                              std::string_view already) {
  Connection c(worker, client, socket, nullptr);
  co_await c.run(socket, already);
}

lb::awaitable<void> serve_h2_tls(WorkerContext& worker, ClientConnection& client,
                                 asio::ssl::stream<tcp::socket>& stream,
                                 const TlsConnectionInfo& tls) {
  Connection c(worker, client, stream.next_layer(), &tls);
  co_await c.run(stream, {});
}

}  // namespace lbd::h2
