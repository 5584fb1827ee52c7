// lbd::h2::ServerSession fed by a real nghttp2 client session (and by hand-made frames for the
// attacks a well-behaved client library will not produce).
#include "lbd/h2/server_session.hpp"

#include <doctest/doctest.h>
#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using lbd::h2::Clock;
using lbd::h2::Defence;
using lbd::h2::Header;
using lbd::h2::Limits;
using lbd::h2::Request;
using lbd::h2::ServerSession;

struct Recorder : lbd::h2::StreamHandler {
  std::map<std::int32_t, Request> requests;
  std::map<std::int32_t, std::string> bodies;
  std::vector<std::int32_t> ended;
  std::map<std::int32_t, std::uint32_t> closed;
  std::vector<Defence> defences;
  int writable_calls = 0;
  void on_request(std::int32_t id, Request&& r) override { requests[id] = std::move(r); }
  void on_data(std::int32_t id, std::span<const std::uint8_t> d) override {
    bodies[id].append(reinterpret_cast<const char*>(d.data()), d.size());
  }
  void on_end_stream(std::int32_t id) override { ended.push_back(id); }
  void on_writable(std::int32_t) override { ++writable_calls; }
  void on_close(std::int32_t id, std::uint32_t code) override { closed[id] = code; }
  void on_defence(Defence d) override { defences.push_back(d); }
  bool fired(Defence d) const {
    return std::find(defences.begin(), defences.end(), d) != defences.end();
  }
};

/// An nghttp2 client session: what a browser or curl would send.
struct Client {
  nghttp2_session* s = nullptr;
  std::optional<std::uint32_t> goaway;
  std::int32_t goaway_last = -1;
  std::map<std::int32_t, std::uint32_t> resets;
  std::map<std::int32_t, std::string> status;
  std::map<std::int32_t, std::string> body;
  std::map<std::int32_t, std::map<std::string, std::string>> trailers;
  std::string post_body;
  std::size_t post_off = 0;

  explicit Client(std::vector<nghttp2_settings_entry> settings = {}) {
    nghttp2_session_callbacks* cbs = nullptr;
    nghttp2_session_callbacks_new(&cbs);
    nghttp2_session_callbacks_set_on_frame_recv_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, void* u) {
          auto& c = *static_cast<Client*>(u);
          if (f->hd.type == NGHTTP2_GOAWAY) {
            c.goaway = f->goaway.error_code;
            c.goaway_last = f->goaway.last_stream_id;
          } else if (f->hd.type == NGHTTP2_RST_STREAM) {
            c.resets[f->hd.stream_id] = f->rst_stream.error_code;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_header_callback(
        cbs, [](nghttp2_session*, const nghttp2_frame* f, const std::uint8_t* n, std::size_t nl,
                const std::uint8_t* v, std::size_t vl, std::uint8_t, void* u) {
          auto& c = *static_cast<Client*>(u);
          const std::string name(reinterpret_cast<const char*>(n), nl);
          const std::string value(reinterpret_cast<const char*>(v), vl);
          if (f->headers.cat == NGHTTP2_HCAT_HEADERS) {
            c.trailers[f->hd.stream_id][name] = value;
          } else if (name == ":status") {
            c.status[f->hd.stream_id] = value;
          }
          return 0;
        });
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
        cbs, [](nghttp2_session*, std::uint8_t, std::int32_t id, const std::uint8_t* d,
                std::size_t len, void* u) {
          static_cast<Client*>(u)->body[id].append(reinterpret_cast<const char*>(d), len);
          return 0;
        });
    nghttp2_session_client_new(&s, cbs, this);
    nghttp2_session_callbacks_del(cbs);
    nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  }
  ~Client() { nghttp2_session_del(s); }

  std::string take() {
    std::string out;
    for (;;) {
      const std::uint8_t* d = nullptr;
      const auto n = nghttp2_session_mem_send(s, &d);
      if (n <= 0) break;
      out.append(reinterpret_cast<const char*>(d), static_cast<std::size_t>(n));
    }
    return out;
  }
  void give(std::string_view bytes) {
    nghttp2_session_mem_recv(s, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  }
  std::int32_t request(std::string_view method, std::string_view path,
                       std::vector<std::pair<std::string, std::string>> extra = {},
                       std::string* upload = nullptr) {
    std::vector<std::pair<std::string, std::string>> h{{":method", std::string(method)},
                                                       {":scheme", "https"},
                                                       {":authority", "app.example"},
                                                       {":path", std::string(path)}};
    h.insert(h.end(), extra.begin(), extra.end());
    std::vector<nghttp2_nv> nv;
    for (auto& [n, v] : h) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(n.data()),
                    reinterpret_cast<std::uint8_t*>(v.data()), n.size(), v.size(),
                    NGHTTP2_NV_FLAG_NONE});
    }
    nghttp2_data_provider prd{};
    if (upload) {
      post_body = *upload;
      post_off = 0;
      prd.source.ptr = this;
      prd.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t len,
                             std::uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
        auto& c = *static_cast<Client*>(src->ptr);
        const auto n = std::min(len, c.post_body.size() - c.post_off);
        std::memcpy(buf, c.post_body.data() + c.post_off, n);
        c.post_off += n;
        if (c.post_off == c.post_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
      };
    }
    return nghttp2_submit_request(s, nullptr, nv.data(), nv.size(), upload ? &prd : nullptr,
                                  nullptr);
  }
};

std::span<const std::uint8_t> bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// Moves bytes both ways until neither side has more.
void pump(Client& c, ServerSession& srv, Clock::time_point now) {
  for (int i = 0; i < 1000; ++i) {
    bool moved = false;
    const auto in = c.take();
    if (!in.empty()) {
      moved = true;
      srv.receive(bytes(in), now);
    }
    const auto out = srv.output();
    if (!out.empty()) {
      moved = true;
      c.give(out);
      srv.clear_output();
    }
    if (!moved) return;
  }
  FAIL("pump did not settle");
}

/// A raw frame (RFC 9113 §4.1), for what a client library refuses to send.
std::string frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
  std::string f;
  const auto n = payload.size();
  f += static_cast<char>((n >> 16) & 0xff);
  f += static_cast<char>((n >> 8) & 0xff);
  f += static_cast<char>(n & 0xff);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  f += static_cast<char>((stream >> 24) & 0x7f);
  f += static_cast<char>((stream >> 16) & 0xff);
  f += static_cast<char>((stream >> 8) & 0xff);
  f += static_cast<char>(stream & 0xff);
  f.append(payload);
  return f;
}

/// The client preface and an empty SETTINGS frame.
std::string preface() {
  return std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + frame(NGHTTP2_SETTINGS, 0, 0, "");
}

/// An HPACK header block for GET https://app.example/ (static-table indices, RFC 7541 App. A).
std::string get_block() {
  std::string b = "\x82\x87\x84";  // :method GET, :scheme https, :path /
  b += '\x01';                     // :authority, literal without indexing
  b += static_cast<char>(11);
  b += "app.example";
  return b;
}

/// Feeds raw bytes and collects what the server answers through a client session that only
/// decodes (its own preface is never sent).
struct RawPeer {
  Client decoder;
  void feed(ServerSession& srv, std::string_view raw, Clock::time_point now) {
    srv.receive(bytes(raw), now);
    const auto out = srv.output();
    decoder.give(out);
    srv.clear_output();
  }
};

Limits small_limits() {
  Limits l;
  l.stream_window = 16 * 1024;
  l.stream_output = 8 * 1024;
  l.connection_output = 32 * 1024;
  return l;
}

const auto t0 = Clock::time_point{} + std::chrono::hours(1);

}  // namespace

TEST_CASE(
    "h2 server session: a GET arrives with its pseudo-headers and the response reaches "
    "the client") {
  Recorder rec;
  ServerSession srv(rec, Limits{});
  Client c;
  const auto id = c.request("GET", "/a?b=1", {{"cookie", "a=1"}, {"cookie", "b=2"}, {"x-y", "z"}});
  pump(c, srv, t0);
  REQUIRE(rec.requests.count(id) == 1);
  const auto& r = rec.requests[id];
  CHECK(r.method == "GET");
  CHECK(r.path == "/a?b=1");
  CHECK(r.authority == "app.example");
  CHECK(r.scheme == "https");
  CHECK(r.end_stream);
  REQUIRE(r.headers.size() == 3);
  CHECK(r.headers[2].name == "x-y");
  const std::vector<Header> h{{"content-type", "text/plain"}, {"connection", "keep-alive"}};
  REQUIRE(srv.submit_response(id, 200, h, false));
  CHECK(srv.write_body(id, bytes("hello")) == 5);
  srv.end_body(id);
  pump(c, srv, t0);
  CHECK(c.status[id] == "200");
  CHECK(c.body[id] == "hello");
  CHECK(rec.closed.count(id) == 1);
  CHECK(srv.open_streams() == 0);
  CHECK(rec.defences.empty());
}

TEST_CASE("h2 server session: a request body is held to the stream window until consumed") {
  Recorder rec;
  const auto lim = small_limits();
  ServerSession srv(rec, lim);
  Client c;
  pump(c, srv, t0);  // the client learns the server's window first
  std::string upload(100 * 1024, 'u');
  const auto id = c.request("POST", "/up", {}, &upload);
  pump(c, srv, t0);
  REQUIRE(rec.requests.count(id) == 1);
  CHECK_FALSE(rec.requests[id].end_stream);
  CHECK(rec.bodies[id].size() == lim.stream_window);  // no more until the proxy passed it on
  for (int i = 0; i < 100 && rec.bodies[id].size() < upload.size(); ++i) {
    srv.consume(id, rec.bodies[id].size());
    pump(c, srv, t0);
  }
  CHECK(rec.bodies[id] == upload);
  CHECK(rec.ended == std::vector<std::int32_t>{id});
}

TEST_CASE("h2 server session: response output is bounded per stream and trailers are sent") {
  Recorder rec;
  const auto lim = small_limits();
  ServerSession srv(rec, lim);
  Client c;
  const auto id = c.request("POST", "/rpc", {{"te", "trailers"}});
  pump(c, srv, t0);
  REQUIRE(srv.submit_response(id, 200, std::vector<Header>{{"content-type", "application/grpc"}},
                              false));
  const std::string big(20 * 1024, 'b');
  CHECK(srv.write_body(id, bytes(big)) == lim.stream_output);
  CHECK(srv.writable(id) == 0);
  CHECK(srv.buffered() == lim.stream_output);
  std::size_t sent = lim.stream_output;
  for (int i = 0; i < 20 && sent < big.size(); ++i) {
    pump(c, srv, t0);
    sent += srv.write_body(id, bytes(std::string_view(big).substr(sent)));
  }
  CHECK(sent == big.size());
  CHECK(rec.writable_calls > 0);
  srv.end_body(id, std::vector<Header>{{"grpc-status", "0"}});
  pump(c, srv, t0);
  CHECK(c.body[id] == big);
  CHECK(c.trailers[id]["grpc-status"] == "0");
  CHECK(srv.buffered() == 0);
}

TEST_CASE("h2 server session: rapid reset ends the connection with GOAWAY ENHANCE_YOUR_CALM") {
  Recorder rec;
  Limits lim;
  lim.max_resets = 50;
  ServerSession srv(rec, lim);
  Client c;
  pump(c, srv, t0);
  for (int i = 0; i < 60; ++i) {
    const auto id = c.request("GET", "/");
    pump(c, srv, t0);  // the HEADERS leave before the reset (nghttp2 drops an unsent stream)
    nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }
  pump(c, srv, t0);
  CHECK(rec.fired(Defence::rapid_reset));
  REQUIRE(c.goaway);
  CHECK(*c.goaway == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(srv.done());
}

TEST_CASE("h2 server session: resets spread over time stay under the rapid-reset bound") {
  Recorder rec;
  Limits lim;
  lim.max_resets = 50;
  ServerSession srv(rec, lim);
  Client c;
  auto now = t0;
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 40; ++i) {
      const auto id = c.request("GET", "/");
      pump(c, srv, now);
      nghttp2_submit_rst_stream(c.s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    }
    pump(c, srv, now);
    now += lim.period;
  }
  CHECK(rec.defences.empty());
  CHECK_FALSE(c.goaway);
  CHECK(rec.closed.size() == 160);
}

TEST_CASE("h2 server session: a CONTINUATION flood ends the connection with GOAWAY") {
  Recorder rec;
  ServerSession srv(rec, Limits{});
  RawPeer peer;
  std::string raw = preface();
  raw += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, get_block());
  for (int i = 0; i < 1000; ++i) raw += frame(NGHTTP2_CONTINUATION, 0, 1, "");
  CHECK_FALSE(srv.receive(bytes(raw), t0));
  peer.decoder.give(srv.output());
  srv.clear_output();
  CHECK(rec.fired(Defence::continuation_flood));
  REQUIRE(peer.decoder.goaway);
  CHECK(*peer.decoder.goaway == NGHTTP2_ENHANCE_YOUR_CALM);
  CHECK(rec.requests.empty());
  CHECK(srv.done());
}

TEST_CASE("h2 server session: a header block beyond its byte bound ends the connection") {
  Recorder rec;
  Limits lim;
  lim.max_header_block = 8 * 1024;
  ServerSession srv(rec, lim);
  RawPeer peer;
  std::string raw = preface();
  raw += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_STREAM, 1, get_block());
  // Each CONTINUATION carries a literal field of ~4 KB: three pass the byte bound.
  for (int i = 0; i < 3; ++i) {
    std::string lit("\x00\x01x", 3);  // literal without indexing, new name "x"
    lit += '\x7f';                    // value length 127 + 3969 (HPACK integer, RFC 7541 §5.1)
    lit += static_cast<char>(0x81);
    lit += static_cast<char>(0x1f);
    lit.append(4096, 'v');
    raw += frame(NGHTTP2_CONTINUATION, 0, 1, lit);
  }
  CHECK_FALSE(srv.receive(bytes(raw), t0));
  peer.decoder.give(srv.output());
  CHECK(rec.fired(Defence::continuation_flood));
  REQUIRE(peer.decoder.goaway);
  CHECK(*peer.decoder.goaway == NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_CASE("h2 server session: SETTINGS and PING floods end the connection") {
  for (const bool ping : {false, true}) {
    CAPTURE(ping);
    Recorder rec;
    Limits lim;
    lim.max_settings = 20;
    lim.max_pings = 20;
    ServerSession srv(rec, lim);
    Client c;
    pump(c, srv, t0);
    for (int i = 0; i < 30; ++i) {
      if (ping) {
        nghttp2_submit_ping(c.s, NGHTTP2_FLAG_NONE, nullptr);
      } else {
        nghttp2_submit_settings(c.s, NGHTTP2_FLAG_NONE, nullptr, 0);
      }
    }
    pump(c, srv, t0);
    CHECK(rec.fired(ping ? Defence::ping_flood : Defence::settings_flood));
    REQUIRE(c.goaway);
    CHECK(*c.goaway == NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

TEST_CASE("h2 server session: a flood of empty DATA frames ends the connection") {
  Recorder rec;
  ServerSession srv(rec, Limits{});
  RawPeer peer;
  std::string raw = preface();
  std::string block = get_block();
  block[0] = '\x83';  // :method POST
  raw += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, block);
  for (int i = 0; i < 200; ++i) raw += frame(NGHTTP2_DATA, 0, 1, "");
  CHECK_FALSE(srv.receive(bytes(raw), t0));
  peer.decoder.give(srv.output());
  CHECK(rec.fired(Defence::empty_frame_flood));
  REQUIRE(peer.decoder.goaway);
  CHECK(*peer.decoder.goaway == NGHTTP2_ENHANCE_YOUR_CALM);
}

TEST_CASE("h2 server session: an HPACK bomb gets 431 on its stream and the connection goes on") {
  Recorder rec;
  ServerSession srv(rec, Limits{});  // 16 KiB header list
  RawPeer peer;
  std::string block = get_block();
  // One 3,000-byte field into the dynamic table, then 1,000 one-byte references to it: ~3 MB
  // decoded from ~4 KB on the wire.
  block += "\x40\x06x-bomb";
  block += '\x7f';
  block += static_cast<char>(((3000 - 127) & 0x7f) | 0x80);
  block += static_cast<char>((3000 - 127) >> 7);
  block.append(3000, 'a');
  block.append(1000, static_cast<char>(0x80 | 62));
  std::string raw = preface();
  raw += frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM, 1, block);
  CHECK(srv.receive(bytes(raw), t0));
  peer.decoder.give(srv.output());
  srv.clear_output();
  CHECK(rec.fired(Defence::header_list_too_large));
  CHECK(rec.requests.empty());
  CHECK_FALSE(peer.decoder.goaway);
  // The next request on the connection is served.
  CHECK(srv.receive(bytes(frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS | NGHTTP2_FLAG_END_STREAM,
                                3, get_block())),
                    t0));
  CHECK(rec.requests.count(3) == 1);
}

TEST_CASE("h2 server session: 431 reaches an nghttp2 client whose header list is too large") {
  Recorder rec;
  Limits lim;
  lim.max_header_list = 1024;
  ServerSession srv(rec, lim);
  Client c;
  const auto id = c.request("GET", "/", {{"x-big", std::string(2000, 'x')}});
  pump(c, srv, t0);
  CHECK(c.status[id] == "431");
  CHECK(rec.fired(Defence::header_list_too_large));
  CHECK(srv.open_streams() == 0);
}

TEST_CASE("h2 server session: streams beyond max_concurrent_streams are refused") {
  Recorder rec;
  Limits lim;
  lim.max_concurrent_streams = 4;
  ServerSession srv(rec, lim);
  Client c;
  // All six requests leave before the client learns the server's limit.
  for (int i = 0; i < 6; ++i) c.request("GET", "/");
  pump(c, srv, t0);
  CHECK(rec.requests.size() == 4);
  CHECK(rec.fired(Defence::too_many_streams));
  CHECK(c.resets.size() == 2);
  for (const auto& [id, code] : c.resets) {
    CHECK(id > 7);
    CHECK((code == NGHTTP2_REFUSED_STREAM || code == NGHTTP2_PROTOCOL_ERROR));
  }
  CHECK_FALSE(c.goaway);
}

TEST_CASE("h2 server session: output held by a zero window is reset after the stall timeout") {
  Recorder rec;
  const auto lim = small_limits();
  ServerSession srv(rec, lim);
  Client c({{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 0}});
  const auto id = c.request("GET", "/");
  pump(c, srv, t0);
  REQUIRE(srv.submit_response(id, 200, {}, false));
  CHECK(srv.write_body(id, bytes(std::string(4096, 'x'))) == 4096);
  pump(c, srv, t0);
  CHECK(srv.buffered() == 4096);  // the window is zero: nothing moves
  srv.check_stalls(t0 + lim.stall_timeout / 2);
  CHECK(rec.defences.empty());
  srv.check_stalls(t0 + lim.stall_timeout);
  pump(c, srv, t0 + lim.stall_timeout);
  CHECK(rec.fired(Defence::window_stall));
  CHECK(c.resets[id] == NGHTTP2_CANCEL);
  CHECK(srv.buffered() == 0);
  CHECK(srv.open_streams() == 0);
}

TEST_CASE("h2 server session: exhausted client stream ids get a graceful GOAWAY") {
  Recorder rec;
  ServerSession srv(rec, Limits{});
  Client c;
  nghttp2_session_set_next_stream_id(c.s, 0x7fffff01);
  const auto id = c.request("GET", "/");
  pump(c, srv, t0);
  CHECK(rec.fired(Defence::stream_ids_exhausted));
  REQUIRE(c.goaway);
  CHECK(*c.goaway == NGHTTP2_NO_ERROR);
  CHECK(c.goaway_last == id);
  REQUIRE(rec.requests.count(id) == 1);  // the stream itself is served
  CHECK(srv.submit_response(id, 204, {}, true));
  pump(c, srv, t0);
  CHECK(c.status[id] == "204");
  CHECK(srv.done());
}

TEST_CASE("h2 server session: shutdown sends GOAWAY and lets the open stream finish") {
  Recorder rec;
  ServerSession srv(rec, Limits{});
  Client c;
  const auto id = c.request("GET", "/slow");
  pump(c, srv, t0);
  srv.shutdown();
  pump(c, srv, t0);
  REQUIRE(c.goaway);
  CHECK(*c.goaway == NGHTTP2_NO_ERROR);
  CHECK(c.goaway_last == id);
  CHECK_FALSE(srv.done());
  // A stream opened after the GOAWAY is not served.
  const auto late = c.request("GET", "/late");
  pump(c, srv, t0);
  CHECK(rec.requests.count(late) == 0);
  REQUIRE(srv.submit_response(id, 200, {}, false));
  srv.write_body(id, bytes("done"));
  srv.end_body(id);
  pump(c, srv, t0);
  CHECK(c.body[id] == "done");
  CHECK(srv.done());
}

TEST_CASE("h2 server session: a bad preface is a protocol error") {
  Recorder rec;
  ServerSession srv(rec, Limits{});
  CHECK_FALSE(srv.receive(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), t0));
  CHECK(rec.fired(Defence::protocol_error));
  srv.output();
  srv.clear_output();
  CHECK(srv.done());
}
