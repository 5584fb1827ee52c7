// The per-worker upstream keep-alive pool on real loopback sockets: LIFO reuse, the idle limit,
// expiry after server_idle, the probe that skips connections the backend has closed, and idle
// connections left out of Backend::active (ACTIVE in `lbctl show servers`).
#include "lbd/upstream_conn/upstream_pool.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/support/process.hpp"

namespace {

using lbd::proxy::UpstreamConnection;
using lbd::proxy::UpstreamPool;
using Clock = UpstreamPool::Clock;
using namespace std::chrono_literals;

struct Fixture {
  lb::asio::io_context io;
  lb::tcp::acceptor acceptor{io, {lb::asio::ip::make_address("127.0.0.1"), 0}};
  std::vector<lb::tcp::socket> server_side;
  lbd::Backend backend{"b", *lb::Endpoint::parse("127.0.0.1:1"), 1};

  /// A connected client socket leased to `backend` (the accepted end kept in server_side).
  UpstreamConnection connect() {
    lb::tcp::socket s(io);
    s.connect(acceptor.local_endpoint());
    server_side.push_back(acceptor.accept());
    return UpstreamConnection{std::move(s), lbd::proxy::BackendLease(&backend, nullptr)};
  }
};

/// TCP sockets on 127.0.0.1 with local port `port` in state CLOSE-WAIT (/proc/net/tcp: 08).
int close_wait_sockets(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    const auto colon = local.find(':');
    if (colon == std::string::npos) continue;
    if (std::stoul(local.substr(colon + 1), nullptr, 16) == port && state == "08") ++n;
  }
  return n;
}

/// Runs the fixture's ready handlers until `done` holds (bounded: 2 s).
template <typename Done>
bool run_pool_handlers_until(Fixture& f, Done done) {
  return lbtest::wait_until(
      [&] {
        f.io.poll();
        f.io.restart();
        return done();
      },
      2s, 1ms);
}

}  // namespace

TEST_CASE("upstream pool: the most recently parked connection is taken first") {
  Fixture f;
  UpstreamPool pool;
  const auto t0 = Clock::now();
  auto a = f.connect();
  auto b = f.connect();
  const auto b_port = b.socket.local_endpoint().port();
  pool.put(std::move(a), t0, 8);
  pool.put(std::move(b), t0, 8);
  CHECK(pool.idle(&f.backend) == 2);
  CHECK(f.backend.active == 0);  // idle connections are not in-flight load
  auto got = pool.take(&f.backend, t0, 60s);
  REQUIRE(got);
  CHECK(got->socket.local_endpoint().port() == b_port);
  CHECK(pool.idle(&f.backend) == 1);
  CHECK(f.backend.active == 1);  // handed out: counted again
  got.reset();
  CHECK(f.backend.active == 0);
}

TEST_CASE("upstream pool: over the idle limit the oldest connection is closed") {
  Fixture f;
  UpstreamPool pool;
  const auto t0 = Clock::now();
  for (int i = 0; i < 3; ++i) pool.put(f.connect(), t0, 2);
  CHECK(pool.idle(&f.backend) == 2);
  CHECK(f.backend.active == 0);
  pool.put(f.connect(), t0, 0);  // limit 0: not kept at all
  CHECK(pool.idle(&f.backend) == 2);
  CHECK(pool.idle_total() == 2);
}

TEST_CASE("upstream pool: connections idle for server_idle or longer are not reused") {
  Fixture f;
  UpstreamPool pool;
  const auto t0 = Clock::now();
  pool.put(f.connect(), t0, 8);
  CHECK_FALSE(pool.take(&f.backend, t0 + 61s, 60s));
  CHECK(pool.idle(&f.backend) == 0);
  CHECK(f.backend.active == 0);
}

TEST_CASE("upstream pool: the probe skips a connection the backend closed or wrote to") {
  Fixture f;
  UpstreamPool pool;
  const auto t0 = Clock::now();
  pool.put(f.connect(), t0, 8);  // server_side[0]: will send stray bytes
  pool.put(f.connect(), t0, 8);  // server_side[1]: will close
  lb::asio::write(f.server_side[0], lb::asio::buffer("x", 1));
  f.server_side[1].close();
  // On loopback the byte and the FIN are queued at the peer before write/close return.
  CHECK_FALSE(pool.take(&f.backend, t0, 60s, true).has_value());
  CHECK(pool.idle(&f.backend) == 0);
}

TEST_CASE(
    "upstream pool: without the probe a closed connection is handed out (the replay handles it)") {
  Fixture f;
  UpstreamPool pool;
  const auto t0 = Clock::now();
  pool.put(f.connect(), t0, 8);
  f.server_side[0].close();
  CHECK(pool.take(&f.backend, t0, 60s, false).has_value());
}

TEST_CASE("upstream pool: idle keep-alive connections do not count as ACTIVE in show servers") {
  lbtest::Origin a("a"), b("b");
  lbtest::TestBackend ba(a.handler()), bb(b.handler());
  lbtest::InProcessLbd lbd(
      lbtest::HttpConfig{.pools = {{"app", {ba.address(), bb.address()}}}}.text());
  // Round robin: two requests per server, the second on the connection the first one parked.
  for (int i = 0; i < 4; ++i) {
    const auto res = lbtest::round_trip(lbd.endpoint("web"),
                                        lbtest::get("/", "example.com", "Connection: close\r\n"));
    REQUIRE(res);
    CHECK(res->result_int() == 200);
  }
  CHECK(ba.connections() == 1);
  CHECK(bb.connections() == 1);
  // The pool now holds one idle connection per server and no client is being served: ACTIVE
  // (Backend::active, what least_conn compares) is 0, not the parked connections.
  auto active = [&] {
    const auto pools = lbd.server().pool_views("app");
    REQUIRE(pools);
    std::uint32_t n = 0;
    for (const auto& s : pools->at(0).servers) n += s.active;
    return n;
  };
  CHECK(lbtest::wait_until([&] { return active() == 0; }, 2s));
}

TEST_CASE(
    "upstream pool: an idle connection the backend closes or writes to is closed at once, not "
    "left in CLOSE-WAIT until a request takes it") {
  Fixture f;
  UpstreamPool pool;
  const auto t0 = Clock::now();
  auto closing = f.connect();  // server_side[0]: will close
  const auto closing_port = closing.socket.local_endpoint().port();
  pool.put(std::move(closing), t0, 8);
  pool.put(f.connect(), t0, 8);  // server_side[1]: will send stray bytes
  pool.put(f.connect(), t0, 8);  // server_side[2]: stays idle
  f.io.poll();
  f.io.restart();
  CHECK(pool.idle(&f.backend) == 3);
  f.server_side[0].close();
  lb::asio::write(f.server_side[1], lb::asio::buffer("x", 1));
  REQUIRE(run_pool_handlers_until(f, [&] { return pool.idle(&f.backend) == 1; }));
  CHECK(pool.closed_by_backend() == 2);
  CHECK(close_wait_sockets(closing_port) == 0);
  CHECK(f.backend.active == 0);
  // The one that stayed idle is still there to reuse.
  CHECK(pool.take(&f.backend, t0, 60s, true).has_value());
}

TEST_CASE("upstream pool: a connection handed out is no longer watched by the pool") {
  Fixture f;
  UpstreamPool pool;
  const auto t0 = Clock::now();
  pool.put(f.connect(), t0, 8);
  auto got = pool.take(&f.backend, t0, 60s, true);
  REQUIRE(got);
  f.server_side[0].close();
  // Give a stray wait every chance to run: it must not close the session's connection.
  for (int i = 0; i < 20; ++i) {
    f.io.poll();
    f.io.restart();
  }
  CHECK(got->socket.is_open());
  CHECK(pool.closed_by_backend() == 0);
  char byte;
  lb::error_code ec;
  got->socket.read_some(lb::asio::buffer(&byte, 1), ec);
  CHECK(ec == lb::asio::error::eof);  // the session sees the close itself
}

TEST_CASE(
    "upstream pool: idle connections of a server no request asks for again are closed once "
    "they are server_idle old (a reload gives servers new identities)") {
  Fixture f;
  UpstreamPool pool;
  lbd::Backend replaced{"old", *lb::Endpoint::parse("127.0.0.1:1"), 1};
  const auto t0 = Clock::now();
  auto conn = f.connect();
  conn.lease = lbd::proxy::BackendLease(&replaced, nullptr);
  pool.put(std::move(conn), t0, 8);
  pool.put(f.connect(), t0, 8);
  CHECK(pool.idle_total() == 2);
  // A request for the other backend, past server_idle: both lists are swept.
  CHECK_FALSE(pool.take(&f.backend, t0 + 61s, 60s).has_value());
  CHECK(pool.idle(&replaced) == 0);
  CHECK(pool.idle_total() == 0);
}

namespace {

/// TCP sockets on 127.0.0.1 whose remote port is `port` in state ESTABLISHED (/proc/net/tcp: 01):
/// lbd's connections to the backend listening there.
int established_to(std::uint16_t port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    const auto colon = remote.find(':');
    if (colon == std::string::npos) continue;
    if (std::stoul(remote.substr(colon + 1), nullptr, 16) == port && state == "01") ++n;
  }
  return n;
}

}  // namespace

TEST_CASE(
    "upstream pool: idle connections to a server put out of service are closed at once, those "
    "to the other servers are kept") {
  lbtest::Origin a("a"), b("b");
  lbtest::TestBackend ba(a.handler()), bb(b.handler());
  lbtest::InProcessLbd lbd(
      lbtest::HttpConfig{.pools = {{"app", {ba.address(), bb.address()}}}}.text());
  for (int i = 0; i < 4; ++i) {
    const auto res = lbtest::round_trip(lbd.endpoint("web"),
                                        lbtest::get("/", "example.com", "Connection: close\r\n"));
    REQUIRE(res);
    CHECK(res->result_int() == 200);
  }
  const auto port_a = ba.endpoint().port;
  const auto port_b = bb.endpoint().port;
  // One idle keep-alive connection parked per server.
  REQUIRE(lbtest::wait_until([&] { return established_to(port_a) == 1; }, 2s));
  REQUIRE(established_to(port_b) == 1);
  const auto pools = lbd.server().pool_views("app");
  REQUIRE(pools);
  const auto name_a = pools->at(0).servers.at(0).name;
  REQUIRE(lbd.server().set_server_admin("app", name_a, lbd::AdminState::maint));
  // Closed when the workers get the new snapshot, not at the next sweep or use.
  CHECK(lbtest::wait_until([&] { return established_to(port_a) == 0; }, 500ms, 5ms));
  CHECK(established_to(port_b) == 1);
}
