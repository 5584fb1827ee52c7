#include "lbd/replication/peer_session.hpp"

#include <doctest/doctest.h>

#include <deque>

namespace repl = lbd::repl;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSecret = "pair-secret-pair-secret-pair-sec";

repl::PeerSessionOptions opts(const char* id, repl::HandshakeRole role, std::uint64_t inc,
                              std::string secret = kSecret) {
  repl::PeerSessionOptions o;
  o.node_id = id;
  o.secret = std::move(secret);
  o.role = role;
  o.incarnation = inc;
  o.nonce = repl::random_nonce();
  return o;
}

/// Two sessions wired back to back through the real encoder and decoder.
struct Link {
  lb::ManualClock clock;
  repl::PeerSession a;
  repl::PeerSession b;
  repl::SessionOutput a_last, b_last;  // the output that carried `established`
  std::vector<repl::Frame> a_delivered, b_delivered;
  std::optional<repl::SessionClose> a_closed, b_closed;

  Link(repl::PeerSessionOptions oa, repl::PeerMemory& ma, repl::PeerSessionOptions ob,
       repl::PeerMemory& mb)
      : a(std::move(oa), ma, clock.now()), b(std::move(ob), mb, clock.now()) {}

  static repl::Frame wire(const repl::Frame& f) {
    std::vector<std::uint8_t> bytes;
    REQUIRE(repl::encode(f, bytes));
    auto d = repl::decode(bytes);
    REQUIRE(std::holds_alternative<repl::Decoded>(d));
    return std::get<repl::Decoded>(d).frame;
  }

  /// Delivers queued frames both ways until nothing moves (bounded).
  void pump(std::vector<repl::Frame> to_b, std::vector<repl::Frame> to_a) {
    for (int round = 0; round < 20 && (!to_a.empty() || !to_b.empty()); ++round) {
      std::vector<repl::Frame> next_to_a, next_to_b;
      for (const auto& f : to_b) {
        auto out = b.on_frame(wire(f), clock.now());
        if (out.established) b_last = out;
        if (out.close && !b_closed) b_closed = out.close;
        b_delivered.insert(b_delivered.end(), out.deliver.begin(), out.deliver.end());
        next_to_a.insert(next_to_a.end(), out.send.begin(), out.send.end());
      }
      for (const auto& f : to_a) {
        auto out = a.on_frame(wire(f), clock.now());
        if (out.established) a_last = out;
        if (out.close && !a_closed) a_closed = out.close;
        a_delivered.insert(a_delivered.end(), out.deliver.begin(), out.deliver.end());
        next_to_b.insert(next_to_b.end(), out.send.begin(), out.send.end());
      }
      to_a = std::move(next_to_a);
      to_b = std::move(next_to_b);
    }
  }

  void handshake() { pump(a.start(clock.now()).send, b.start(clock.now()).send); }
};

}  // namespace

TEST_CASE("peer_session: nodes with the same secret authenticate, a fresh peer gets a resync") {
  repl::PeerMemory ma, mb;
  Link l(opts("a", repl::HandshakeRole::connector, 111), ma,
         opts("b", repl::HandshakeRole::acceptor, 222), mb);
  l.handshake();
  CHECK(l.a.phase() == repl::PeerSession::Phase::established);
  CHECK(l.b.phase() == repl::PeerSession::Phase::established);
  CHECK(l.a.peer_id() == "b");
  CHECK(l.b.peer_incarnation() == 111);
  CHECK(l.a_last.full_resync);
  CHECK(l.b_last.full_resync);
  CHECK_FALSE(l.a_closed);
  CHECK_FALSE(l.b_closed);
}

TEST_CASE("peer_session: a peer with the wrong secret is refused") {
  repl::PeerMemory ma, mb;
  Link l(opts("a", repl::HandshakeRole::connector, 1), ma,
         opts("b", repl::HandshakeRole::acceptor, 2, "another-secret-another-secret-00"), mb);
  l.handshake();
  // The acceptor checks the connector's proof and hangs up without giving its own.
  REQUIRE(l.b_closed.has_value());
  CHECK(l.b_closed->fault == repl::SessionFault::auth);
  CHECK(l.b_closed->reason.find("failed authentication") != std::string::npos);
  CHECK(l.b.phase() == repl::PeerSession::Phase::closed);
  CHECK(l.a.phase() == repl::PeerSession::Phase::awaiting_auth);
}

TEST_CASE("peer_session: the acceptor proves nothing before the connector proved the secret") {
  repl::PeerMemory m;
  repl::PeerSession acceptor(opts("b", repl::HandshakeRole::acceptor, 2), m, lb::SteadyTime{});
  CHECK(acceptor.start(lb::SteadyTime{}).send.empty());  // it speaks only when spoken to
  auto out = acceptor.on_frame(repl::Hello{repl::kProtocolVersion, "a", 1, repl::random_nonce(), 0},
                               lb::SteadyTime{});
  REQUIRE(out.send.size() == 1);
  CHECK(std::holds_alternative<repl::Hello>(out.send[0]));
  CHECK_FALSE(out.keys.has_value());
  auto refused = acceptor.on_frame(repl::Auth{}, lb::SteadyTime{});
  CHECK(refused.close.has_value());
  CHECK(refused.send.empty());
  CHECK_FALSE(refused.keys.has_value());
}

TEST_CASE("peer_session: a Hello altered in flight fails authentication") {
  // A man in the middle clears the connector's resume_incarnation to force a full resync (or
  // sets it to suppress one): the Auth covers it, so the acceptor refuses.
  repl::PeerMemory ma, mb;
  ma.held_incarnation = 222;
  repl::PeerSession a(opts("a", repl::HandshakeRole::connector, 111), ma, lb::SteadyTime{});
  repl::PeerSession b(opts("b", repl::HandshakeRole::acceptor, 222), mb, lb::SteadyTime{});
  auto hello_a = std::get<repl::Hello>(a.start(lb::SteadyTime{}).send.at(0));
  CHECK(hello_a.resume_incarnation == 222);
  hello_a.resume_incarnation = 0;
  auto hello_b = b.on_frame(hello_a, lb::SteadyTime{}).send.at(0);
  auto auth_a = a.on_frame(hello_b, lb::SteadyTime{});
  REQUIRE(auth_a.keys.has_value());
  auto out = b.on_frame(auth_a.send.at(0), lb::SteadyTime{});
  REQUIRE(out.close.has_value());
  CHECK(out.close->fault == repl::SessionFault::auth);
  CHECK(out.close->reason.find("failed authentication") != std::string::npos);
  CHECK_FALSE(out.established);
}

TEST_CASE("peer_session: both sides get matching traffic keys with their Auth") {
  repl::PeerMemory ma, mb;
  repl::PeerSession a(opts("a", repl::HandshakeRole::connector, 1), ma, lb::SteadyTime{});
  repl::PeerSession b(opts("b", repl::HandshakeRole::acceptor, 2), mb, lb::SteadyTime{});
  auto hello_b = b.on_frame(a.start(lb::SteadyTime{}).send.at(0), lb::SteadyTime{});
  auto from_a = a.on_frame(hello_b.send.at(0), lb::SteadyTime{});
  REQUIRE(from_a.keys.has_value());
  REQUIRE(from_a.send.size() == 1);
  CHECK(std::holds_alternative<repl::Auth>(from_a.send[0]));
  CHECK_FALSE(from_a.established);
  auto from_b = b.on_frame(from_a.send[0], lb::SteadyTime{});
  REQUIRE(from_b.keys.has_value());
  CHECK(from_b.established);
  CHECK(from_b.keys->receive == from_a.keys->send);
  CHECK(from_b.keys->send == from_a.keys->receive);
  auto last = a.on_frame(from_b.send.at(0), lb::SteadyTime{});
  CHECK(last.established);
  CHECK(last.send.empty());
}

TEST_CASE("peer_session: a wrong peer id, our own id or another version is refused") {
  repl::PeerMemory ma, mb;
  auto oa = opts("a", repl::HandshakeRole::connector, 1);
  oa.expected_peer_id = "node-b";
  Link l(oa, ma, opts("intruder", repl::HandshakeRole::acceptor, 2), mb);
  l.handshake();
  REQUIRE(l.a_closed.has_value());
  CHECK(*l.a_closed ==
        repl::SessionClose{repl::SessionFault::protocol, "unexpected peer node id \"intruder\""});

  repl::PeerMemory m1, m2;
  Link same(opts("a", repl::HandshakeRole::connector, 1), m1,
            opts("a", repl::HandshakeRole::acceptor, 2), m2);
  same.handshake();
  CHECK(same.b_closed ==
        repl::SessionClose{repl::SessionFault::protocol, "peer uses our own node id"});

  repl::PeerMemory m3;
  repl::PeerSession s(opts("a", repl::HandshakeRole::connector, 1), m3, lb::SteadyTime{});
  repl::Hello h{
      .version = 1, .node_id = "b", .incarnation = 3, .nonce = {}, .resume_incarnation = 0};
  CHECK(s.on_frame(h, lb::SteadyTime{}).close.has_value());
}

TEST_CASE("peer_session: data before authentication closes the session") {
  repl::PeerMemory m;
  repl::PeerSession s(opts("a", repl::HandshakeRole::connector, 1), m, lb::SteadyTime{});
  s.start(lb::SteadyTime{});
  auto out = s.on_frame(repl::Update{1, "app", "k", "s1", 1000, 1}, lb::SteadyTime{});
  CHECK(out.close ==
        repl::SessionClose{repl::SessionFault::protocol, "data frame before authentication"});
  CHECK(out.deliver.empty());
  repl::PeerSession t(opts("a", repl::HandshakeRole::connector, 1), m, lb::SteadyTime{});
  CHECK(t.on_frame(repl::Auth{}, lb::SteadyTime{}).close.has_value());  // auth before hello
}

TEST_CASE(
    "peer_session: a reconnect after a completed resync resumes, after a restart it resyncs") {
  repl::PeerMemory ma, mb;
  {
    Link l(opts("a", repl::HandshakeRole::connector, 111), ma,
           opts("b", repl::HandshakeRole::acceptor, 222), mb);
    l.handshake();
    // A sends B its full resync; B acks an increment after it.
    l.pump({repl::ResyncBegin{}, repl::Update{0, "app", "k", "s1", 1000, 5}, repl::ResyncEnd{},
            repl::Update{7, "app", "k2", "s2", 1000, 6}},
           {});
    CHECK(l.b_delivered.size() == 4);
    CHECK(mb.held_incarnation == 111);
    l.pump({}, l.b.take_acks());
    CHECK(ma.acked.at("app") == 7);
  }
  {
    // Same processes, new connection: B holds A's incarnation, so A resumes from ack 7.
    Link l(opts("a", repl::HandshakeRole::connector, 111), ma,
           opts("b", repl::HandshakeRole::acceptor, 222), mb);
    l.handshake();
    CHECK_FALSE(l.a_last.full_resync);
    CHECK(l.b_last.full_resync);  // A never got a resync from B
    CHECK(ma.acked.at("app") == 7);
  }
  {
    // B restarted: empty memory, so A must resync and forget the old acks.
    repl::PeerMemory fresh_b;
    Link l(opts("a", repl::HandshakeRole::connector, 111), ma,
           opts("b", repl::HandshakeRole::acceptor, 333), fresh_b);
    l.handshake();
    CHECK(l.a_last.full_resync);
    CHECK(ma.acked.empty());
  }
}

TEST_CASE("peer_session: an interrupted resync does not count as held") {
  repl::PeerMemory ma, mb;
  {
    Link l(opts("a", repl::HandshakeRole::connector, 111), ma,
           opts("b", repl::HandshakeRole::acceptor, 222), mb);
    l.handshake();
    l.pump({repl::ResyncBegin{}, repl::Update{0, "app", "k", "s1", 1000, 5}}, {});
    CHECK(l.b.receiving_resync());
  }
  CHECK(mb.held_incarnation == 0);
  Link l(opts("a", repl::HandshakeRole::connector, 111), ma,
         opts("b", repl::HandshakeRole::acceptor, 222), mb);
  l.handshake();
  CHECK(l.a_last.full_resync);
}

TEST_CASE("peer_session: acks are per table with the highest delivered sequence number") {
  repl::PeerMemory ma, mb;
  Link l(opts("a", repl::HandshakeRole::connector, 1), ma,
         opts("b", repl::HandshakeRole::acceptor, 2), mb);
  l.handshake();
  l.pump({repl::Update{3, "app", "k", "s", 1000, 1}, repl::Erase{4, "app", "k", 2},
          repl::Update{9, "api", "k", "s", 1000, 3},
          repl::ConnAdd{5, 77, *lb::Endpoint::parse("192.0.2.1:1"), "web", "app", "s", 1,
                        repl::ConnMode::l4}},
         {});
  auto acks = l.b.take_acks();
  REQUIRE(acks.size() == 3);
  CHECK(acks[0] == repl::Frame(repl::Ack{std::string(repl::kConnTableName), 5}));
  CHECK(acks[1] == repl::Frame(repl::Ack{"api", 9}));
  CHECK(acks[2] == repl::Frame(repl::Ack{"app", 4}));
  CHECK(l.b.take_acks().empty());
  l.pump({}, acks);
  CHECK(ma.acked.at("app") == 4);
  CHECK(ma.acked.at("api") == 9);
}

TEST_CASE("peer_session: heartbeats on an idle link, a silent peer is dead, handshakes time out") {
  repl::PeerMemory ma, mb;
  Link l(opts("a", repl::HandshakeRole::connector, 1), ma,
         opts("b", repl::HandshakeRole::acceptor, 2), mb);
  l.handshake();
  l.clock.advance(500ms);
  CHECK(l.a.on_tick(l.clock.now()).send.empty());
  l.clock.advance(500ms);
  auto out = l.a.on_tick(l.clock.now());
  REQUIRE(out.send.size() == 1);
  CHECK(std::holds_alternative<repl::Heartbeat>(out.send[0]));
  l.a.sent(l.clock.now());
  l.clock.advance(3s);
  l.a.on_frame(repl::Heartbeat{}, l.clock.now());  // the peer is alive
  l.clock.advance(4s);
  CHECK_FALSE(l.a.on_tick(l.clock.now()).close.has_value());
  l.clock.advance(1s);
  auto dead = l.a.on_tick(l.clock.now());
  REQUIRE(dead.close.has_value());
  CHECK(*dead.close ==
        repl::SessionClose{repl::SessionFault::dead_peer, "peer \"b\" silent for 5000 ms"});

  repl::PeerMemory m;
  lb::ManualClock c;
  repl::PeerSession s(opts("a", repl::HandshakeRole::connector, 1), m, c.now());
  s.start(c.now());
  c.advance(4s);
  CHECK_FALSE(s.on_tick(c.now()).close.has_value());
  c.advance(1s);
  CHECK(s.on_tick(c.now()).close ==
        repl::SessionClose{repl::SessionFault::handshake_timeout, "handshake timed out"});
}

TEST_CASE("peer_session: every fault has the error category the status counts it under") {
  CHECK(repl::fault_name(repl::SessionFault::protocol) == "protocol");
  CHECK(repl::fault_name(repl::SessionFault::auth) == "auth");
  CHECK(repl::fault_name(repl::SessionFault::handshake_timeout) == "handshake_timeout");
  CHECK(repl::fault_name(repl::SessionFault::dead_peer) == "dead_peer");
}
