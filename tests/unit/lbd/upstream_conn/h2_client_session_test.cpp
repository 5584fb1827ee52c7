// lbd::proxy::H2ClientSession against lbd's own HTTP/2 server session, bytes pumped between the
// two in memory: requests with bodies and trailers, the server's stream limit, flow control of
// response bodies, GOAWAY and the response header bound.
#include "lbd/upstream_conn/h2_client_session.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "lbd/h2/server_session.hpp"

namespace {

using lbd::proxy::H2ClientLimits;
using lbd::proxy::H2ClientSession;
using lbd::proxy::H2Field;

struct ClientEvents : lbd::proxy::H2ClientHandler {
  std::map<std::int32_t, unsigned> status;
  std::map<std::int32_t, std::string> body;
  std::map<std::int32_t, std::vector<H2Field>> trailers;
  std::map<std::int32_t, std::uint32_t> closed;
  std::vector<std::int32_t> ended;
  void on_response(std::int32_t id, unsigned s, std::vector<H2Field>&&, bool) override {
    status[id] = s;
  }
  void on_data(std::int32_t id, std::span<const std::uint8_t> d) override {
    body[id].append(d.begin(), d.end());
  }
  void on_end(std::int32_t id, std::vector<H2Field>&& t) override {
    ended.push_back(id);
    trailers[id] = std::move(t);
  }
  void on_writable(std::int32_t) override {}
  void on_close(std::int32_t id, std::uint32_t code) override { closed[id] = code; }
};

/// The server side: records requests; the test answers them.
struct ServerEvents : lbd::h2::StreamHandler {
  std::map<std::int32_t, lbd::h2::Request> requests;
  std::map<std::int32_t, std::string> bodies;
  std::map<std::int32_t, std::vector<H2Field>> trailers;
  std::vector<std::int32_t> ended;
  lbd::h2::ServerSession* session = nullptr;
  void on_request(std::int32_t id, lbd::h2::Request&& r) override { requests[id] = std::move(r); }
  void on_data(std::int32_t id, std::span<const std::uint8_t> d) override {
    bodies[id].append(d.begin(), d.end());
    session->consume(id, d.size());
  }
  void on_trailers(std::int32_t id, std::vector<H2Field>&& t) override {
    trailers[id] = std::move(t);
  }
  void on_end_stream(std::int32_t id) override { ended.push_back(id); }
  void on_writable(std::int32_t) override {}
  void on_close(std::int32_t, std::uint32_t) override {}
  void on_defence(lbd::h2::Defence) override {}
};

struct Pair {
  explicit Pair(const H2ClientLimits& cl = {}, std::uint32_t max_streams = 100)
      : client(ce, cl), server(se, server_limits(max_streams)) {
    se.session = &server;
  }
  static lbd::h2::Limits server_limits(std::uint32_t max_streams) {
    lbd::h2::Limits l;
    l.max_concurrent_streams = max_streams;
    return l;
  }
  /// Moves bytes both ways until neither side has anything to send.
  void pump() {
    for (int i = 0; i < 100; ++i) {
      const auto c = std::string(client.output());
      client.clear_output();
      if (!c.empty()) {
        server.receive(std::span(reinterpret_cast<const std::uint8_t*>(c.data()), c.size()),
                       lbd::h2::Clock::now());
      }
      const auto s = std::string(server.output());
      server.clear_output();
      if (!s.empty()) {
        client.receive(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
      }
      if (c.empty() && s.empty()) return;
    }
  }
  std::int32_t get(const std::string& path, bool has_body = false) {
    const std::vector<H2Field> f{{":method", has_body ? "POST" : "GET"},
                                 {":scheme", "http"},
                                 {":authority", "a.example"},
                                 {":path", path}};
    return client.submit_request(f, has_body);
  }
  std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
  }
  ClientEvents ce;
  ServerEvents se;
  H2ClientSession client;
  lbd::h2::ServerSession server;
};

}  // namespace

TEST_CASE("h2 client session: a request body and its trailers reach the server, and back") {
  Pair p;
  const auto id = p.get("/echo", true);
  REQUIRE(id > 0);
  const std::string body(100 * 1024, 'q');
  std::size_t off = 0;
  for (int i = 0; i < 50 && off < body.size(); ++i) {
    off += p.client.write_body(id, p.bytes(body).subspan(off));
    p.pump();
  }
  REQUIRE(off == body.size());
  const std::vector<H2Field> t{{"x-req", "1"}};
  p.client.end_body(id, t);
  p.pump();
  CHECK(p.se.requests[id].path == "/echo");
  CHECK(p.se.bodies[id] == body);
  REQUIRE(p.se.trailers[id].size() == 1);
  CHECK(p.se.trailers[id][0].name == "x-req");
  REQUIRE(p.se.ended.size() == 1);

  const std::vector<H2Field> h{{"content-type", "text/plain"}};
  REQUIRE(p.server.submit_response(id, 200, h, false));
  p.server.write_body(id, p.bytes("pong"));
  const std::vector<H2Field> rt{{"grpc-status", "0"}};
  p.server.end_body(id, rt);
  p.pump();
  CHECK(p.ce.status[id] == 200);
  CHECK(p.ce.body[id] == "pong");
  REQUIRE(p.ce.trailers[id].size() == 1);
  CHECK(p.ce.trailers[id][0].value == "0");
  CHECK(p.ce.closed.at(id) == 0);
  CHECK(p.client.open_streams() == 0);
}

TEST_CASE("h2 client session: streams stop at the server's SETTINGS_MAX_CONCURRENT_STREAMS") {
  Pair p({}, 2);
  p.pump();  // the SETTINGS exchange
  REQUIRE(p.client.settings_received());
  CHECK(p.get("/a") > 0);
  CHECK(p.client.can_open());
  const auto b = p.get("/b");
  CHECK(b > 0);
  CHECK_FALSE(p.client.can_open());
  CHECK(p.get("/c") == -1);
  p.pump();
  REQUIRE(p.server.submit_response(b, 204, {}, true));
  p.pump();
  CHECK(p.client.can_open());
}

TEST_CASE("h2 client session: a response body waits for consume() beyond the stream window") {
  H2ClientLimits small;
  small.stream_window = 16 * 1024;
  small.connection_window = 1024 * 1024;
  Pair p(small);
  const auto id = p.get("/big");
  p.pump();
  REQUIRE(p.server.submit_response(id, 200, {}, false));
  const std::string chunk(60 * 1024, 'x');
  p.server.write_body(id, p.bytes(chunk));
  p.server.end_body(id);
  p.pump();
  CHECK(p.ce.body[id].size() == 16 * 1024);  // the window, not the response
  for (int i = 0; i < 10 && p.ce.body[id].size() < chunk.size(); ++i) {
    p.client.consume(id, 16 * 1024);
    p.pump();
  }
  CHECK(p.ce.body[id].size() == chunk.size());
  CHECK(p.ce.ended.size() == 1);
}

TEST_CASE("h2 client session: a GOAWAY from the server stops new streams, the open one finishes") {
  Pair p;
  const auto id = p.get("/a");
  p.pump();
  p.server.shutdown();
  p.pump();
  CHECK(p.client.going_away());
  CHECK_FALSE(p.client.can_open());
  CHECK(p.get("/b") == -1);
  REQUIRE(p.server.submit_response(id, 200, {}, true));
  p.pump();
  CHECK(p.ce.status[id] == 200);
  CHECK(p.ce.closed.at(id) == 0);
}

TEST_CASE("h2 client session: a response header list over the limit resets that stream") {
  H2ClientLimits l;
  l.max_header_list = 1024;
  Pair p(l);
  const auto id = p.get("/a");
  const auto other = p.get("/b");
  p.pump();
  const std::vector<H2Field> huge{{"x-big", std::string(2000, 'h')}};
  REQUIRE(p.server.submit_response(id, 200, huge, true));
  REQUIRE(p.server.submit_response(other, 200, {}, true));
  p.pump();
  CHECK(p.ce.status.count(id) == 0);
  CHECK(p.ce.closed.at(id) != 0);
  CHECK(p.ce.status[other] == 200);
}
