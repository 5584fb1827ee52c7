// relay(): the awaitable form (used for HTTP Upgrade) on real loopback sockets, outside a server.
#include "lbd/l4/relay.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <doctest/doctest.h>

#include "tests/integration/lbd_harness.hpp"

using namespace lbtest;

namespace {

struct RelayRig {
  lb::asio::io_context io;
  lbd::proxy::RelayResources resources;
  lb::tcp::acceptor acceptor{io, lb::tcp::endpoint(lb::asio::ip::make_address("127.0.0.1"), 0)};
  int client = -1;  // test side of the client connection
  int server = -1;  // test side of the server connection
  lb::tcp::socket a{io}, b{io};
  lbd::proxy::RelayResult result;

  explicit RelayRig(const lbd::proxy::RelayOptions& options) {
    const auto ep =
        lb::Endpoint::parse("127.0.0.1:" + std::to_string(acceptor.local_endpoint().port()));
    client = connect_to(*ep);
    a = acceptor.accept();
    server = connect_to(*ep);
    b = acceptor.accept();
    lb::asio::co_spawn(
        io,
        [this, options]() -> lb::awaitable<void> {
          result = co_await lbd::proxy::relay(a, b, resources, options);
        },
        [](std::exception_ptr e) { REQUIRE(!e); });
  }
  ~RelayRig() {
    ::close(client);
    ::close(server);
  }
};

}  // namespace

TEST_CASE("relay: the awaitable relay moves bytes both ways and returns after both half-closes") {
  for (bool splice : {true, false}) {
    CAPTURE(splice);
    RelayRig rig({.use_splice = splice});
    std::thread loop([&] { rig.io.run(); });
    const auto big = random_bytes(300000, 3);
    REQUIRE(send_all(rig.client, "hello"));
    CHECK(read_exact(rig.server, 5) == "hello");
    REQUIRE(send_all(rig.server, big));
    CHECK(read_exact(rig.client, big.size()) == big);
    ::shutdown(rig.client, SHUT_WR);
    bool ok = false;
    CHECK(read_to_eof(rig.server, &ok).empty());
    CHECK(ok);
    ::shutdown(rig.server, SHUT_WR);
    CHECK(read_to_eof(rig.client, &ok).empty());
    CHECK(ok);
    loop.join();  // run() returns once relay() has returned
    CHECK(rig.result.client_to_server == 5);
    CHECK(rig.result.server_to_client == big.size());
    CHECK_FALSE(rig.result.error);
    CHECK_FALSE(rig.result.timed_out);
  }
}

TEST_CASE("relay: the awaitable relay returns timed_out after both directions idle") {
  using namespace std::chrono_literals;
  RelayRig rig({.client_idle = 100ms, .server_idle = 100ms});
  const auto start = std::chrono::steady_clock::now();
  std::thread loop([&] { rig.io.run(); });
  loop.join();
  CHECK(rig.result.timed_out);
  CHECK(std::chrono::steady_clock::now() - start >= 90ms);
}
