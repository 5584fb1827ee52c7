// A replication listener facing a wrong secret, garbage, oversized and truncated frames: the
// session is closed and counted, nothing crashes, the tables keep what they had.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <spdlog/sinks/ringbuffer_sink.h>

#include <string>
#include <vector>

#include "common/log.hpp"
#include "lbd/replication/peer_session.hpp"
#include "lbd/replication/wire.hpp"
#include "tests/integration/repl_fixture.hpp"

using namespace repltest;
using namespace std::chrono_literals;
namespace repl = lbd::repl;

namespace {

/// A blocking client socket with a receive deadline, for hand-made byte streams.
class RawClient {
 public:
  explicit RawClient(const lb::Endpoint& to) : socket_(io_) {
    lb::tcp::endpoint ep(lb::asio::ip::make_address(to.address.to_string()), to.port);
    socket_.connect(ep);
    timeval tv{};
    tv.tv_sec = 5;
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::vector<std::uint8_t>& bytes) {
    lb::error_code ec;
    lb::asio::write(socket_, lb::asio::buffer(bytes), ec);
  }
  void send(const repl::Frame& f) {
    std::vector<std::uint8_t> bytes;
    REQUIRE(repl::encode(f, bytes));
    send(bytes);
  }
  /// Next frame from the server, or nullopt on EOF / error / timeout.
  std::optional<repl::Frame> receive() {
    for (int i = 0; i < 1000; ++i) {
      auto r = reader_.next();
      if (auto* d = std::get_if<repl::Decoded>(&r)) return d->frame;
      if (std::holds_alternative<repl::DecodeError>(r)) return std::nullopt;
      std::uint8_t buf[4096];
      lb::error_code ec;
      const auto n = socket_.read_some(lb::asio::buffer(buf), ec);
      if (ec) return std::nullopt;
      reader_.feed(std::span<const std::uint8_t>(buf, n));
    }
    return std::nullopt;
  }
  /// True when the server closes the connection within the receive deadline.
  bool closed_by_server() {
    for (int i = 0; i < 10000; ++i) {
      std::uint8_t buf[4096];
      lb::error_code ec;
      socket_.read_some(lb::asio::buffer(buf), ec);
      if (ec == lb::asio::error::eof || ec == lb::asio::error::connection_reset) return true;
      if (ec) return false;  // timeout
    }
    return false;
  }
  void close() {
    lb::error_code ec;
    socket_.close(ec);
  }

 private:
  lb::asio::io_context io_;
  lb::tcp::socket socket_;
  repl::FrameReader reader_;
};

/// Authenticates as node "b" with `secret` through a real PeerSession; true when established.
bool authenticate(RawClient& client, repl::PeerMemory& memory, const std::string& secret) {
  repl::PeerSessionOptions o;
  o.node_id = "b";
  o.secret = secret;
  o.role = repl::HandshakeRole::connector;
  o.incarnation = 42;
  o.nonce = repl::random_nonce();
  lb::ManualClock clock;
  repl::PeerSession session(o, memory, clock.now());
  for (const auto& f : session.start(clock.now()).send) client.send(f);
  for (int i = 0; i < 10; ++i) {
    auto f = client.receive();
    if (!f) return false;
    auto out = session.on_frame(*f, clock.now());
    for (const auto& s : out.send) client.send(s);
    if (out.close) return false;
    if (out.established) return true;
  }
  return false;
}

/// Captures "lbd.repl" log lines for the life of the object.
struct LogCapture {
  LogCapture() : sink(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)) {
    lb::log::get("lbd.repl")->sinks().push_back(sink);
  }
  ~LogCapture() {
    auto& sinks = lb::log::get("lbd.repl")->sinks();
    std::erase(sinks, std::static_pointer_cast<spdlog::sinks::sink>(sink));
  }
  bool contains(const std::string& text) {
    for (const auto& line : sink->last_formatted()) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink;
};

}  // namespace

TEST_CASE("replication security: a peer with the wrong secret is refused and counted and logged") {
  LogCapture log;
  Node a("a", "b", 1);
  Node intruder("b", "a", 2, 65536, "not-the-secret-not-the-secret-!!");
  a.table->stick("k", "app1");
  intruder.set_peer(a.endpoint());
  // A checks the intruder's Auth and hangs up (often before its own Auth is even written).
  REQUIRE(wait_until([&] { return a.errors("auth") >= 1; }));
  CHECK_FALSE(a.connected());
  CHECK_FALSE(intruder.connected());
  CHECK(intruder.table->size() == 0);
  CHECK(log.contains("session refused"));
  CHECK(log.contains("failed authentication"));
  CHECK_FALSE(log.contains("not-the-secret"));
}

TEST_CASE("replication security: garbage before the handshake closes the connection") {
  Node a("a", "b", 1);
  a.table->stick("k", "app1");
  RawClient c(a.endpoint());
  c.send(std::vector<std::uint8_t>{0, 0, 0, 5, 0xee, 1, 2, 3, 4});  // unknown frame type
  CHECK(c.closed_by_server());
  REQUIRE(wait_until([&] { return a.errors("decode") == 1; }));
  CHECK(a.table->size() == 1);
}

TEST_CASE("replication security: an oversized frame length closes the connection unread") {
  Node a("a", "b", 1);
  RawClient c(a.endpoint());
  c.send(std::vector<std::uint8_t>{0xff, 0xff, 0xff, 0xff, 3});
  CHECK(c.closed_by_server());
  REQUIRE(wait_until([&] { return a.errors("decode") == 1; }));
}

TEST_CASE("replication security: a truncated frame and a hang-up leave no session behind") {
  Node a("a", "b", 1);
  {
    RawClient c(a.endpoint());
    c.send(std::vector<std::uint8_t>{0, 0, 0, 40, 1, 0});  // a Hello cut short
    c.close();
  }
  REQUIRE(wait_until([&] { return a.errors("io") == 1; }));
  CHECK_FALSE(a.connected());
}

TEST_CASE(
    "replication security: an authenticated peer sending a corrupt frame is dropped, tables "
    "intact") {
  Node a("a", "b", 1);
  a.table->stick("k", "app1");
  repl::PeerMemory memory;
  RawClient c(a.endpoint());
  REQUIRE(authenticate(c, memory, kSecret));
  REQUIRE(wait_until([&] { return a.connected(); }));
  // A valid update first, then an Update whose key length runs past the frame.
  c.send(repl::Update{1, "app", "peer-key", "app2", 60'000, (7u << 8) | 2});
  REQUIRE(wait_until([&] { return a.table->peek("peer-key").has_value(); }));
  c.send(std::vector<std::uint8_t>{0, 0, 0, 12, 3, 0, 0, 0, 0, 0, 0, 0, 2, 3, 'a', 0xff});
  CHECK(c.closed_by_server());
  REQUIRE(wait_until([&] { return a.errors("decode") == 1 && !a.connected(); }));
  CHECK(a.table->size() == 2);
  CHECK(*a.table->peek("k") == "app1");
  CHECK(*a.table->peek("peer-key") == "app2");
}

TEST_CASE("replication security: a peer with the wrong node id is refused") {
  Node a("a", "b", 1);
  Node c("c", "a", 3);
  c.set_peer(a.endpoint());
  REQUIRE(wait_until([&] { return a.errors("protocol") >= 1; }));
  CHECK_FALSE(a.connected());
}

TEST_CASE("replication security: an update for an unknown table is counted and ignored") {
  Node a("a", "b", 1);
  repl::PeerMemory memory;
  RawClient c(a.endpoint());
  REQUIRE(authenticate(c, memory, kSecret));
  c.send(repl::Update{1, "no-such-pool", "key", "srv", 60'000, 1u << 8});
  c.send(repl::Heartbeat{});
  REQUIRE(wait_until([&] { return a.errors("unknown_table") == 1; }));
  CHECK(a.connected());
  CHECK(a.table->size() == 0);
}
