// A replication listener facing a wrong secret, garbage, oversized and truncated frames, strangers
// and a man in the middle: the session is closed and counted, nothing crashes, nothing forged is
// applied, nothing secret crosses the wire in clear, the tables keep what they had.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <spdlog/sinks/ringbuffer_sink.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/log.hpp"
#include "lbd/replication/peer_session.hpp"
#include "lbd/replication/secure_channel.hpp"
#include "lbd/replication/wire.hpp"
#include "tests/integration/repl_fixture.hpp"
#include "tests/support/process.hpp"

using namespace repltest;
using namespace std::chrono_literals;
namespace repl = lbd::repl;

namespace {

/// A blocking client socket with a receive deadline, for hand-made byte streams. Frames go
/// through a SecureChannel, as lbd's: clear until the handshake installs keys.
class RawClient {
 public:
  explicit RawClient(const lb::Endpoint& to, const char* from = "127.0.0.1") : socket_(io_) {
    lb::tcp::endpoint ep(lb::asio::ip::make_address(to.address.to_string()), to.port);
    socket_.open(ep.protocol());
    socket_.bind(lb::tcp::endpoint(lb::asio::ip::make_address(from), 0));
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
    REQUIRE(channel.write(f, bytes) == repl::WriteStatus::ok);
    send(bytes);
  }
  /// Next frame from the server, or nullopt on EOF / error / timeout.
  std::optional<repl::Frame> receive() {
    for (int i = 0; i < 1000; ++i) {
      auto r = channel.next();
      if (auto* d = std::get_if<repl::Decoded>(&r)) return d->frame;
      if (!std::holds_alternative<repl::NeedMore>(r)) return std::nullopt;
      std::uint8_t buf[4096];
      lb::error_code ec;
      const auto n = socket_.read_some(lb::asio::buffer(buf), ec);
      if (ec) return std::nullopt;
      channel.feed(std::span<const std::uint8_t>(buf, n));
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

  repl::SecureChannel channel;

 private:
  lb::asio::io_context io_;
  lb::tcp::socket socket_;
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
    if (out.keys) client.channel.install(*out.keys);
    if (out.established) client.channel.open_incoming();
    for (const auto& s : out.send) client.send(s);
    if (out.close) return false;
    if (out.established) return true;
  }
  return false;
}

/// A man in the middle on 127.0.0.2: accepts one connection, dials `to` from 127.0.0.2 and
/// forwards whole length-prefixed frames both ways (clear and sealed frames share that framing),
/// recording every byte. Between two frames towards `to` it can inject bytes, replay a frame it
/// forwarded, or flip a bit of the next one. Every wait is bounded; the destructor stops it.
class Relay {
 public:
  explicit Relay(const lb::Endpoint& to) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a = v4("127.0.0.2", 0);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listener_, 4) == 0);
    socklen_t len = sizeof a;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len);
    endpoint_ = *lb::Endpoint::parse("127.0.0.2:" + std::to_string(ntohs(a.sin_port)));
    thread_ = std::thread([this, to] { run(to); });
  }
  ~Relay() {
    stop_ = true;
    thread_.join();
    for (int fd : {listener_, client_, server_}) {
      if (fd >= 0) ::close(fd);
    }
  }
  const lb::Endpoint& endpoint() const { return endpoint_; }
  /// Every byte seen in either direction so far.
  std::string seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  /// Frames forwarded towards `to` so far.
  std::vector<std::vector<std::uint8_t>> frames_to_server() {
    std::lock_guard lock(mutex_);
    return to_server_;
  }
  void inject(std::vector<std::uint8_t> bytes) {
    std::lock_guard lock(mutex_);
    inject_.push_back(std::move(bytes));
  }
  void tamper_next() { tamper_ = true; }

 private:
  static sockaddr_in v4(const char* ip, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, ip, &a.sin_addr);  // literals only
    return a;
  }
  void run(const lb::Endpoint& to) {
    pollfd p{listener_, POLLIN, 0};
    for (int i = 0; i < 200 && !stop_ && ::poll(&p, 1, 50) <= 0; ++i) {
    }
    if (stop_ || (p.revents & POLLIN) == 0) return;
    client_ = ::accept(listener_, nullptr, nullptr);
    server_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from = v4("127.0.0.2", 0);
    sockaddr_in dest = v4(to.address.to_string().c_str(), to.port);
    if (::bind(server_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
        ::connect(server_, reinterpret_cast<sockaddr*>(&dest), sizeof dest) != 0) {
      return;
    }
    std::vector<std::uint8_t> up, down;  // partial frames: client -> server, server -> client
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd fds[2] = {{client_, POLLIN, 0}, {server_, POLLIN, 0}};
      ::poll(fds, 2, 10);
      if ((fds[0].revents & (POLLIN | POLLHUP)) != 0 && !pump(client_, up, server_, true)) break;
      if ((fds[1].revents & (POLLIN | POLLHUP)) != 0 && !pump(server_, down, client_, false)) {
        break;
      }
      std::lock_guard lock(mutex_);
      if (up.empty()) {
        for (const auto& bytes : inject_) write_all(server_, bytes);
        inject_.clear();
      }
    }
    ::shutdown(client_, SHUT_RDWR);
    ::shutdown(server_, SHUT_RDWR);
  }
  /// Reads what `from` has, forwards every whole frame to `to`. False on EOF or error.
  bool pump(int from, std::vector<std::uint8_t>& partial, int to, bool to_server) {
    std::uint8_t buf[65536];
    const ssize_t n = ::recv(from, buf, sizeof buf, 0);
    if (n <= 0) return false;
    partial.insert(partial.end(), buf, buf + n);
    std::lock_guard lock(mutex_);
    seen_.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    while (partial.size() >= 4) {
      const std::size_t len = (std::size_t{partial[0]} << 24) | (std::size_t{partial[1]} << 16) |
                              (std::size_t{partial[2]} << 8) | partial[3];
      if (partial.size() < 4 + len) break;
      std::vector<std::uint8_t> frame(partial.begin(), partial.begin() + 4 + len);
      partial.erase(partial.begin(), partial.begin() + 4 + len);
      if (to_server) {
        to_server_.push_back(frame);
        if (tamper_.exchange(false)) frame.back() ^= 0x01;
      }
      write_all(to, frame);
    }
    return true;
  }
  static void write_all(int fd, const std::vector<std::uint8_t>& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;
      done += static_cast<std::size_t>(n);
    }
  }

  int listener_ = -1, client_ = -1, server_ = -1;
  lb::Endpoint endpoint_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> tamper_{false};
  std::mutex mutex_;
  std::string seen_;
  std::vector<std::vector<std::uint8_t>> to_server_;
  std::deque<std::vector<std::uint8_t>> inject_;
  std::thread thread_;
};

/// Node "a" reachable only through a relay on 127.0.0.2 (its configured peer address), and node
/// "b" dialling the relay: everything between them crosses the relay.
struct RelayedPair {
  RelayedPair() : a("a", "b", 1), b("b", "a", 2), relay(a.endpoint()) {
    a.set_peer(*lb::Endpoint::parse("127.0.0.2:1"));  // nothing listens: a never dials b
    b.set_peer(relay.endpoint());
  }
  Node a;
  Node b;
  Relay relay;
};

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
  // Counted before it is logged: wait for the line too.
  CHECK(wait_until([&] { return log.contains("session refused"); }));
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
    "replication security: an authenticated peer sending an unsealed frame is dropped, tables "
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
  // After the handshake a clear frame is what a sender without the session keys can write.
  c.send(std::vector<std::uint8_t>{0, 0, 0, 12, 3, 0, 0, 0, 0, 0, 0, 0, 2, 3, 'a', 0xff});
  CHECK(c.closed_by_server());
  REQUIRE(wait_until([&] { return a.errors("integrity") == 1 && !a.connected(); }));
  CHECK(a.table->size() == 2);
  CHECK(*a.table->peek("k") == "app1");
  CHECK(*a.table->peek("peer-key") == "app2");
}

TEST_CASE("replication security: a connection that never says hello is counted as a timeout") {
  Node a("a", "b", 1);
  RawClient c(a.endpoint());
  // The node's clock is manual: move it on until the pending session's tick sees its
  // handshake_timeout (2 s) passed; the accept may come after the first move.
  REQUIRE(lbtest::wait_until(
      [&] {
        a.clock.advance(1s);
        return a.errors("handshake_timeout") >= 1;
      },
      5000ms, 50ms));
  CHECK(c.closed_by_server());
  CHECK(a.errors("handshake_timeout") == 1);
  CHECK(a.errors("protocol") == 0);
  CHECK_FALSE(a.connected());
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

TEST_CASE("replication security: the acceptor sends no proof before the connector proved") {
  Node a("a", "b", 1);
  RawClient c(a.endpoint());
  c.send(repl::Hello{repl::kProtocolVersion, "b", 42, repl::random_nonce(), 0});
  auto answer = c.receive();
  REQUIRE(answer.has_value());
  CHECK(std::holds_alternative<repl::Hello>(*answer));
  // A guessed proof: A must hang up without ever sending its own Auth (an offline-guessing
  // oracle for anybody who can connect).
  c.send(repl::Auth{});
  for (int i = 0; i < 10; ++i) {
    auto f = c.receive();
    if (!f) break;
    CHECK_FALSE(std::holds_alternative<repl::Auth>(*f));
  }
  REQUIRE(wait_until([&] { return a.errors("auth") == 1; }));
  CHECK_FALSE(a.connected());
}

TEST_CASE("replication security: a connection from a source other than the peer is refused") {
  LogCapture log;
  Node a("a", "b", 1);
  a.table->stick("k", "app1");
  RawClient c(a.endpoint(), "127.0.0.5");
  c.send(repl::Hello{repl::kProtocolVersion, "b", 42, repl::random_nonce(), 0});
  CHECK_FALSE(c.receive().has_value());
  REQUIRE(wait_until([&] { return a.errors("not_peer") == 1; }));
  // Counted before it is logged: wait for the line too.
  CHECK(wait_until([&] { return log.contains("is not the peer"); }));
  CHECK_FALSE(a.connected());
}

TEST_CASE("replication security: half-open handshakes from the peer's address do not lock it out") {
  // Long handshake deadline: the real peer must get in while the flood is still pending.
  auto slow = [](lbd::ReplicationConfig& c) { c.handshake_timeout = 30s; };
  Node a("a", "b", 1, 65536, kSecret, slow);
  Node b("b", "a", 2, 65536, kSecret, slow);
  std::vector<std::unique_ptr<RawClient>> flood;
  for (int i = 0; i < 40; ++i) flood.push_back(std::make_unique<RawClient>(a.endpoint()));
  // All 40 accepted, and the ones beyond the bound already gone (both before and after eviction
  // existed: refused or evicted).
  REQUIRE(
      wait_until([&] { return a.errors("pending_evicted") + a.errors("too_many_pending") >= 24; }));
  b.set_peer(a.endpoint());
  CHECK(wait_until([&] { return a.connected() && b.connected(); }, 10s));
  a.table->stick("k", "app1");
  CHECK(wait_until([&] { return b.table->peek("k").has_value(); }));
}

TEST_CASE("replication security: a forged update injected on a live session is not applied") {
  RelayedPair p;
  REQUIRE(wait_until([&] { return p.a.connected() && p.b.connected(); }));
  p.b.table->stick("genuine", "app1");
  REQUIRE(wait_until([&] { return p.a.table->peek("genuine").has_value(); }));
  std::vector<std::uint8_t> forged;
  REQUIRE(repl::encode(repl::Update{1'000'000, "app", "forged", "evil", 60'000, 1u << 20}, forged));
  p.relay.inject(forged);
  REQUIRE(wait_until([&] { return p.a.errors("integrity") == 1; }));
  CHECK_FALSE(p.a.table->peek("forged").has_value());
  // The pair reconnects (through the relay, which forwards one connection only: not here).
  CHECK(*p.a.table->peek("genuine") == "app1");
}

TEST_CASE("replication security: a replayed or altered sealed frame ends the session") {
  RelayedPair p;
  REQUIRE(wait_until([&] { return p.a.connected() && p.b.connected(); }));
  p.b.table->stick("one", "app1");
  REQUIRE(wait_until([&] { return p.a.table->peek("one").has_value(); }));
  SUBCASE("replayed") {
    const auto frames = p.relay.frames_to_server();
    REQUIRE(frames.size() >= 3);
    p.relay.inject(frames.back());  // the last frame B sent, sent again
  }
  SUBCASE("altered") {
    p.relay.tamper_next();
    p.b.table->stick("two", "app2");
  }
  REQUIRE(wait_until([&] { return p.a.errors("integrity") == 1; }));
  CHECK_FALSE(p.a.connected());
  CHECK_FALSE(p.a.table->peek("two").has_value());
}

TEST_CASE("replication security: a sniffer on the path sees no stick key in clear") {
  const std::string before = "JSESSIONID=9f2c4e7a1b5d-before";
  const std::string after = "JSESSIONID=3a8e6d0c2f4b-after";
  RelayedPair p;
  p.b.table->stick(before, "app1");  // goes in the full resync
  REQUIRE(wait_until([&] { return p.a.table->peek(before).has_value(); }));
  p.b.table->stick(after, "app2");  // goes as an increment
  REQUIRE(wait_until([&] { return p.a.table->peek(after).has_value(); }));
  const std::string wire = p.relay.seen();
  CHECK(wire.size() > 100);
  CHECK(wire.find("9f2c4e7a1b5d") == std::string::npos);
  CHECK(wire.find("3a8e6d0c2f4b") == std::string::npos);
  CHECK(wire.find("JSESSIONID") == std::string::npos);
}

TEST_CASE("replication security: a peer-supplied node id is escaped in the log") {
  LogCapture log;
  Node a("a", "b", 1);
  RawClient c(a.endpoint());
  c.send(repl::Hello{repl::kProtocolVersion, "x\n[error] forged \"line\"", 42, repl::random_nonce(),
                     0});
  CHECK(c.closed_by_server());
  REQUIRE(wait_until([&] { return a.errors("protocol") == 1; }));
  // Counted before it is logged: wait for the line too.
  CHECK(wait_until([&] { return log.contains(R"(x\x0a[error] forged \"line\")"); }));
  CHECK_FALSE(log.contains("x\n"));
}
