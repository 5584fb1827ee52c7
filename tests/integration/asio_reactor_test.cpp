// The reactor primitives of common/net/asio_reactor.hpp on real loopback sockets: a readable
// wait that costs no epoll_ctl and still sees bytes, end of file, cancel and close; and sockets
// adopted from accept4 that cost one epoll_ctl (the ADD) and no ioctl, and work as before.
#include "common/net/asio_reactor.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <optional>
#include <string_view>
#include <thread>

#include "tests/integration/syscall_count.hpp"
#include "tests/support/process.hpp"

namespace {

using namespace std::chrono_literals;

/// A wait that records how it ended.
struct RecordedWait final : lb::net::ReadableWait {
  struct Outcome {
    bool done = false;
    lb::error_code ec;
    bool destroyed = false;
  };
  explicit RecordedWait(Outcome& o) : lb::net::ReadableWait(&RecordedWait::finish), out(&o) {}
  static void finish(lb::net::ReadableWait* base, const lb::error_code& ec, bool destroyed) {
    auto* self = static_cast<RecordedWait*>(base);
    *self->out = {true, ec, destroyed};
    delete self;
  }
  Outcome* out;
};

struct ReactorPair {
  lb::asio::io_context io{1};
  lb::tcp::acceptor acceptor{io, {lb::asio::ip::make_address("127.0.0.1"), 0}};
  lb::tcp::socket near{io};
  lb::tcp::socket far{io};
  ReactorPair() {
    near.connect(acceptor.local_endpoint());
    far = acceptor.accept();
  }
  /// Runs ready handlers a few times: a completion that is due has run afterwards.
  void settle() {
    for (int i = 0; i < 5; ++i) {
      io.poll();
      io.restart();
    }
  }
  /// Runs handlers until `done` holds (bounded: 2 s).
  template <typename Done>
  bool run_until(Done done) {
    return lbtest::wait_until(
        [&] {
          settle();
          return done();
        },
        2s, 1ms);
  }
};

/// Accepts the one pending connection of `acceptor` the way lbd's workers do.
int accept_pending_nonblocking(lb::tcp::acceptor& acceptor) {
  for (int i = 0; i < 1000; ++i) {
    const int fd =
        ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return fd;
    std::this_thread::sleep_for(1ms);
  }
  return -1;
}

}  // namespace

TEST_CASE("asio reactor: a readable wait starts without an epoll_ctl and completes on bytes") {
  ReactorPair p;
  RecordedWait::Outcome out;
  lbtest::SyscallCounter calls;
  lb::net::start_readable_wait(p.near, new RecordedWait(out));
  CHECK(calls.counts().epoll_ctl() == 0);
  p.settle();
  CHECK_FALSE(out.done);  // nothing to read yet
  lb::asio::write(p.far, lb::asio::buffer("x", 1));
  REQUIRE(p.run_until([&] { return out.done; }));
  CHECK_FALSE(out.ec);
  CHECK_FALSE(out.destroyed);
  CHECK(calls.counts().epoll_ctl() == 0);
}

TEST_CASE("asio reactor: a readable wait completes when the peer closes") {
  ReactorPair p;
  RecordedWait::Outcome out;
  lb::net::start_readable_wait(p.near, new RecordedWait(out));
  p.far.close();
  REQUIRE(p.run_until([&] { return out.done; }));
  CHECK_FALSE(out.ec);
  char byte;
  lb::error_code ec;
  p.near.read_some(lb::asio::buffer(&byte, 1), ec);
  CHECK(ec == lb::asio::error::eof);
}

TEST_CASE(
    "asio reactor: a readable wait started after a read that found nothing sees bytes that come "
    "after it, however often it is started again") {
  ReactorPair p;
  p.near.non_blocking(true);
  for (int round = 0; round < 50; ++round) {
    char byte;
    lb::error_code ec;
    p.near.read_some(lb::asio::buffer(&byte, 1), ec);
    REQUIRE(ec == lb::asio::error::would_block);
    RecordedWait::Outcome out;
    lb::net::start_readable_wait(p.near, new RecordedWait(out));
    lb::asio::write(p.far, lb::asio::buffer("y", 1));
    REQUIRE(p.run_until([&] { return out.done; }));
    CHECK_FALSE(out.ec);
    p.near.read_some(lb::asio::buffer(&byte, 1), ec);
    CHECK_FALSE(ec);
    CHECK(byte == 'y');
  }
}

TEST_CASE("asio reactor: cancel and close abort a readable wait") {
  ReactorPair p;
  RecordedWait::Outcome cancelled, closed;
  lb::net::start_readable_wait(p.near, new RecordedWait(cancelled));
  p.near.cancel();
  REQUIRE(p.run_until([&] { return cancelled.done; }));
  CHECK(cancelled.ec == lb::asio::error::operation_aborted);
  lb::net::start_readable_wait(p.near, new RecordedWait(closed));
  p.near.close();
  REQUIRE(p.run_until([&] { return closed.done; }));
  CHECK(closed.ec == lb::asio::error::operation_aborted);
}

TEST_CASE(
    "asio reactor: a readable wait pending when its socket and io_context are destroyed is freed, "
    "not run") {
  RecordedWait::Outcome out;
  {
    ReactorPair p;
    lb::net::start_readable_wait(p.near, new RecordedWait(out));
    p.settle();
    CHECK_FALSE(out.done);
  }
  CHECK(out.done);
  CHECK(out.destroyed);
}

TEST_CASE(
    "asio reactor: a socket adopted from accept4 costs one epoll_ctl (the ADD) and no ioctl, "
    "and closing it no EPOLL_CTL_DEL") {
  lb::asio::io_context io{1};
  lb::tcp::acceptor acceptor{io, {lb::asio::ip::make_address("127.0.0.1"), 0}};
  lb::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  const int fd = accept_pending_nonblocking(acceptor);
  REQUIRE(fd >= 0);
  lbtest::SyscallCounter calls;
  lb::error_code ec;
  auto socket = lb::net::adopt_accepted(io, lb::tcp::v4(), fd, ec);
  REQUIRE_FALSE(ec);
  CHECK(socket.native_non_blocking());
  CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
  // Asynchronous reads and writes work as on a socket Asio accepted itself.
  std::array<char, 4> got{};
  std::size_t n = 0;
  socket.async_read_some(lb::asio::buffer(got), [&](lb::error_code e, std::size_t k) {
    ec = e;
    n = k;
  });
  lb::asio::write(client, lb::asio::buffer("ping", 4));
  REQUIRE(lbtest::wait_until(
      [&] {
        io.poll();
        io.restart();
        return n > 0 || ec;
      },
      2s, 1ms));
  CHECK_FALSE(ec);
  CHECK(std::string_view(got.data(), n) == std::string_view("ping").substr(0, n));
  bool written = false;
  lb::asio::async_write(socket, lb::asio::buffer("pong", 4),
                        [&](lb::error_code e, std::size_t) { written = !e; });
  REQUIRE(lbtest::wait_until(
      [&] {
        io.poll();
        io.restart();
        return written;
      },
      2s, 1ms));
  socket.close();
  const auto c = calls.counts();
  CHECK(c.epoll_add == 1);
  CHECK(c.epoll_del == 0);
  CHECK(c.fionbio == 0);
  // The peer sees the reply and then the close.
  std::array<char, 8> reply{};
  const auto k = lb::asio::read(client, lb::asio::buffer(reply), ec);
  CHECK(std::string_view(reply.data(), k) == "pong");
  CHECK(ec == lb::asio::error::eof);
}

TEST_CASE(
    "asio reactor: a readable wait on a listening socket completes when a connection arrives, "
    "with no epoll_ctl") {
  lb::asio::io_context io{1};
  lb::tcp::acceptor acceptor{io, {lb::asio::ip::make_address("127.0.0.1"), 0}};
  acceptor.non_blocking(true);
  // Held in a socket as lbd's workers hold their listeners; the acceptor keeps the descriptor.
  lb::tcp::socket listener(io);
  listener.assign(lb::tcp::v4(), ::dup(acceptor.native_handle()));
  std::optional<lb::error_code> woke;
  lbtest::SyscallCounter calls;
  lb::net::async_wait_readable(listener, [&](lb::error_code ec) { woke = ec; });
  CHECK(calls.counts().epoll_ctl() == 0);
  for (int i = 0; i < 5; ++i) {
    io.poll();
    io.restart();
  }
  CHECK_FALSE(woke);
  lb::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  REQUIRE(lbtest::wait_until(
      [&] {
        io.poll();
        io.restart();
        return woke.has_value();
      },
      2s, 1ms));
  CHECK_FALSE(*woke);
  CHECK(calls.counts().epoll_mod == 0);
  const int fd = accept_pending_nonblocking(acceptor);
  CHECK(fd >= 0);
  if (fd >= 0) ::close(fd);
}

TEST_CASE(
    "asio reactor: a socket opened non-blocking costs one epoll_ctl (the ADD) and no ioctl, and "
    "connects and closes as one Asio opened") {
  lb::asio::io_context io{1};
  lb::tcp::acceptor acceptor{io, {lb::asio::ip::make_address("127.0.0.1"), 0}};
  lbtest::SyscallCounter calls;
  lb::error_code ec;
  auto socket = lb::net::open_nonblocking(io, lb::tcp::v4(), ec);
  REQUIRE_FALSE(ec);
  CHECK(socket.non_blocking());
  CHECK(socket.native_non_blocking());
  CHECK((::fcntl(socket.native_handle(), F_GETFD) & FD_CLOEXEC) != 0);
  CHECK((::fcntl(socket.native_handle(), F_GETFL) & O_NONBLOCK) != 0);
  std::optional<lb::error_code> connected;
  socket.async_connect(acceptor.local_endpoint(), [&](lb::error_code e) { connected = e; });
  REQUIRE(lbtest::wait_until(
      [&] {
        io.poll();
        io.restart();
        return connected.has_value();
      },
      2s, 1ms));
  CHECK_FALSE(*connected);
  CHECK(calls.counts().epoll_add == 1);
  auto far = acceptor.accept();  // Asio's accept: one more EPOLL_CTL_ADD
  // Non-blocking for the caller too: a read with nothing there says so at once.
  char byte;
  socket.read_some(lb::asio::buffer(&byte, 1), ec);
  CHECK(ec == lb::asio::error::would_block);
  socket.close();
  const auto c = calls.counts();
  CHECK(c.epoll_del == 0);
  CHECK(c.fionbio == 0);
  far.read_some(lb::asio::buffer(&byte, 1), ec);
  CHECK(ec == lb::asio::error::eof);
}
