// HTTP/2 to the servers (pool protocol = "h2") end to end: lbd in this process between real
// HTTP/2 clients (h2load, curl, a client on lbd's own nghttp2 client session) and an h2c origin
// (h2_origin.hpp): multiplexing within the server's stream limit, GOAWAY, a reset stream,
// trailers both ways, and a slow client that must not make lbd buffer a large response.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "lbd/upstream_conn/h2_client_session.hpp"
#include "tests/integration/h2_origin.hpp"
#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/lbd_harness.hpp"
#include "tests/integration/tls_origin.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_pki.hpp"

using namespace lbtest;
using namespace std::chrono_literals;
using lbd::proxy::H2Field;

namespace {

std::string h2up_config(const std::vector<std::string>& servers) {
  HttpConfig c{.pools = {{"app", servers}}};
  c.listener_extra = "h2c = true";
  c.pool_extra = "protocol = \"h2\"\nconnect_retries = 0";
  c.timeouts = "connect = \"2s\"";
  return c.text();
}

std::string h2up_url(const lb::Endpoint& ep, const std::string& path) {
  return fmt::format("http://{}{}", ep.to_string(), path);
}

CommandResult h2up_curl(const std::string& args) {
  return run_command("curl -sS --max-time 10 " + args + " 2>&1");
}

/// A blocking HTTP/2 client on lbd's own client session, for what curl and nghttp cannot do:
/// request trailers, and a window that stays closed.
class RawH2Client final : public lbd::proxy::H2ClientHandler {
 public:
  RawH2Client(const lb::Endpoint& ep, const lbd::proxy::H2ClientLimits& limits)
      : fd_(connect_to(ep)), session_(*this, limits) {}
  ~RawH2Client() override {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return fd_ >= 0; }
  lbd::proxy::H2ClientSession& session() { return session_; }

  std::int32_t get(const std::string& path, bool has_body = false) {
    const std::vector<H2Field> f{{":method", has_body ? "POST" : "GET"},
                                 {":scheme", "http"},
                                 {":authority", "t"},
                                 {":path", path}};
    id_ = session_.submit_request(f, has_body);
    return id_;
  }
  /// Runs the connection until `until()` holds or `limit` passed; false at the limit.
  template <typename Until>
  bool run(Until until, std::chrono::milliseconds limit) {
    const auto end = std::chrono::steady_clock::now() + limit;
    std::vector<std::uint8_t> buf(16 * 1024);
    while (std::chrono::steady_clock::now() < end) {
      for (auto out = session_.output(); !out.empty(); out = session_.output()) {
        if (!send_all(fd_, out)) return false;
        session_.clear_output();
      }
      if (until()) return true;
      pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      const auto n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) return until();
      session_.receive(std::span(buf.data(), static_cast<std::size_t>(n)));
      if (consume_ && unconsumed_ > 0) {
        session_.consume(id_, unconsumed_);
        unconsumed_ = 0;
      }
    }
    return until();
  }
  void consume_all() {
    consume_ = true;
    session_.consume(id_, unconsumed_);
    unconsumed_ = 0;
  }
  void hold_window() { consume_ = false; }

  unsigned status = 0;
  std::size_t received = 0;
  std::string body;
  std::vector<H2Field> trailers;
  bool ended = false;
  bool closed = false;

  void on_response(std::int32_t, unsigned s, std::vector<H2Field>&&, bool) override { status = s; }
  void on_data(std::int32_t, std::span<const std::uint8_t> d) override {
    received += d.size();
    if (body.size() < 4096) body.append(d.begin(), d.end());
    unconsumed_ += d.size();
  }
  void on_end(std::int32_t, std::vector<H2Field>&& t) override {
    ended = true;
    trailers = std::move(t);
  }
  void on_writable(std::int32_t) override {}
  void on_close(std::int32_t, std::uint32_t) override { closed = true; }

 private:
  int fd_;
  lbd::proxy::H2ClientSession session_;
  std::int32_t id_ = -1;
  std::size_t unconsumed_ = 0;
  bool consume_ = true;
};

}  // namespace

TEST_CASE("h2 upstream: 60 concurrent streams share 6-8 connections within the server's limit") {
  H2Origin origin(10);  // SETTINGS_MAX_CONCURRENT_STREAMS = 10
  InProcessLbd lbd(h2up_config({origin.address()}));
  // 3 client connections x 20 streams, each held open 300 ms by the origin: 60 at once.
  const auto r = run_command("timeout 60 h2load -n 60 -c 3 -m 20 " +
                             h2up_url(lbd.endpoint("web"), "/hold?ms=300") + " 2>&1");
  INFO(r.output);
  CHECK(r.output.find("60 succeeded, 0 failed, 0 errored") != std::string::npos);
  CHECK(origin.max_open_streams() <= 10);
  CHECK(origin.connections() >= 6);
  CHECK(origin.connections() <= 8);
  // The connections stay for the next streams.
  const auto again = run_command("timeout 60 h2load -n 60 -c 3 -m 20 " +
                                 h2up_url(lbd.endpoint("web"), "/hold?ms=100") + " 2>&1");
  CHECK(again.output.find("60 succeeded, 0 failed, 0 errored") != std::string::npos);
  CHECK(origin.connections() <= 10);
}

TEST_CASE(
    "h2 upstream: a GOAWAY lets the open stream finish and the next goes to a new connection") {
  H2Origin origin;
  InProcessLbd lbd(h2up_config({origin.address()}));
  const auto ep = lbd.endpoint("web");
  auto held = std::async(std::launch::async, [&] {
    return h2up_curl("--http2-prior-knowledge " + h2up_url(ep, "/hold?ms=700")).output;
  });
  // The hold is on the connection before the GOAWAY comes.
  for (int i = 0; i < 200 && origin.requests() < 1; ++i) std::this_thread::sleep_for(5ms);
  CHECK(h2up_curl("--http2-prior-knowledge " + h2up_url(ep, "/goaway")).output == "bye");
  CHECK(origin.connections() == 1);
  CHECK(h2up_curl("--http2-prior-knowledge " + h2up_url(ep, "/after")).output == "h2 /after");
  CHECK(held.get() == "held");
  CHECK(origin.connections() == 2);
}

TEST_CASE("h2 upstream: a stream the server resets gets 502, the other stream goes on") {
  H2Origin origin;
  InProcessLbd lbd(h2up_config({origin.address()}));
  const auto ep = lbd.endpoint("web");
  auto held = std::async(std::launch::async, [&] {
    return h2up_curl("--http2-prior-knowledge " + h2up_url(ep, "/hold?ms=500")).output;
  });
  for (int i = 0; i < 200 && origin.requests() < 1; ++i) std::this_thread::sleep_for(5ms);
  const auto r =
      h2up_curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' " + h2up_url(ep, "/reset"));
  CHECK(r.output == "502");
  CHECK(held.get() == "held");
  CHECK(origin.connections() == 1);
}

TEST_CASE("h2 upstream: request and response bodies and trailers pass both ways") {
  H2Origin origin;
  InProcessLbd lbd(h2up_config({origin.address()}));
  RawH2Client c(lbd.endpoint("web"), {});
  REQUIRE(c.connected());
  REQUIRE(c.get("/echo", true) > 0);
  const std::string payload = random_bytes(100 * 1024, 7);
  std::size_t off = 0;
  REQUIRE(c.run(
      [&] {
        off += c.session().write_body(
            1, std::span(reinterpret_cast<const std::uint8_t*>(payload.data()) + off,
                         payload.size() - off));
        return off == payload.size();
      },
      5000ms));
  const std::vector<H2Field> t{{"x-request-trailer", "abc"}};
  c.session().end_body(1, t);
  REQUIRE(c.run([&] { return c.ended || c.closed; }, 5000ms));
  CHECK(c.status == 200);
  CHECK(c.received == payload.size());
  REQUIRE(c.trailers.size() == 1);
  CHECK(c.trailers[0].name == "x-request-trailer");
  CHECK(c.trailers[0].value == "abc");

  RawH2Client d(lbd.endpoint("web"), {});
  REQUIRE(d.get("/trailers") > 0);
  REQUIRE(d.run([&] { return d.ended || d.closed; }, 5000ms));
  CHECK(d.body == "t");
  REQUIRE(d.trailers.size() == 1);
  CHECK(d.trailers[0].name == "x-origin-trailer");
}

TEST_CASE("h2 upstream: a client that does not read holds lbd to its windows, not the response") {
  H2Origin origin;
  InProcessLbd lbd(h2up_config({origin.address()}));
  lbd::proxy::H2ClientLimits small;
  small.stream_window = 64 * 1024;
  small.connection_window = 64 * 1024;
  RawH2Client c(lbd.endpoint("web"), small);
  REQUIRE(c.connected());
  constexpr std::size_t kSize = 32 * 1024 * 1024;
  REQUIRE(c.get(fmt::format("/big?n={}", kSize)) > 0);
  c.hold_window();
  c.run([&] { return false; }, 1500ms);
  CHECK(c.status == 200);
  CHECK(c.received <= 64 * 1024);
  // What the origin got out is what lbd holds: its upstream stream window (256 KiB), its
  // output toward the client (64 KiB) and the client's window; far from 32 MiB.
  INFO("origin queued " << origin.big_bytes_queued());
  CHECK(origin.big_bytes_queued() < 1024 * 1024);
  // Once the client reads, the whole response arrives.
  c.consume_all();
  REQUIRE(c.run([&] { return c.ended || c.closed; }, 30000ms));
  CHECK(c.ended);
  CHECK(c.received == kSize);
}

TEST_CASE("h2 upstream: a server that refuses connections gives 502 to HTTP/2 and HTTP/1.1") {
  InProcessLbd down(h2up_config({dead_address()}));
  const auto r = h2up_curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' " +
                           h2up_url(down.endpoint("web"), "/"));
  CHECK(r.output == "502");
  const auto h1 = round_trip(down.endpoint("web"), get("/one"));
  REQUIRE(h1);
  CHECK(h1->result_int() == 502);
}

TEST_CASE("h2 upstream: over [pool.tls] lbd offers ALPN h2, and refuses a server choosing none") {
  if (run_command("command -v nghttpd").exit_code != 0) {
    MESSAGE("skipped: nghttpd (nghttp2-server) is not installed");
    return;
  }
  TestPki pki;
  const auto cert = pki.issue("h2be", "backend.test", {"backend.test"});
  const auto docs = pki.path("docs");
  REQUIRE(run_command("mkdir -p " + docs + " && printf hi > " + docs + "/hello.txt").exit_code ==
          0);
  const auto address = dead_address();
  const auto port = address.substr(address.rfind(':') + 1);
  ChildProcess nghttpd(
      {"/usr/sbin/nghttpd", "-a", "127.0.0.1", "-d", docs, port, cert.key, cert.cert},
      pki.path("nghttpd.log"));
  REQUIRE(wait_until(
      [&] {
        const int fd = connect_to(*lb::Endpoint::parse(address));
        if (fd >= 0) ::close(fd);
        return fd >= 0;
      },
      5000ms));
  HttpConfig c{.pools = {{"app", {address}}}};
  c.listener_extra = "h2c = true";
  c.pool_extra = fmt::format(
      "protocol = \"h2\"\nconnect_retries = 0\n[pool.tls]\nca_file = \"{}\"\n"
      "verify_name = \"backend.test\"",
      pki.ca_file());
  InProcessLbd lbd(c.text());
  CHECK(
      h2up_curl("--http2-prior-knowledge " + h2up_url(lbd.endpoint("web"), "/hello.txt")).output ==
      "hi");

  // An HTTPS server without ALPN h2 would read the HTTP/2 preface as a bad HTTP/1.1 request.
  TlsOrigin h1("h1", cert);
  c.pools = {{"app", {h1.address()}}};
  InProcessLbd lbd1(c.text());
  CHECK(h2up_curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' " +
                  h2up_url(lbd1.endpoint("web"), "/"))
            .output == "502");
  CHECK(h1.requests() == 0);
}

TEST_CASE("h2 upstream: max_connections of a server bounds its streams in flight (503 beyond)") {
  H2Origin origin;
  HttpConfig c{.pools = {{"app", {origin.address()}}}};
  c.listener_extra = "h2c = true";
  c.pool_extra = "protocol = \"h2\"";
  c.server_extra = "max_connections = 1";
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("web");
  auto held = std::async(std::launch::async, [&] {
    return h2up_curl("--http2-prior-knowledge " + h2up_url(ep, "/hold?ms=600")).output;
  });
  for (int i = 0; i < 200 && origin.requests() < 1; ++i) std::this_thread::sleep_for(5ms);
  CHECK(h2up_curl("--http2-prior-knowledge -o /dev/null -w '%{http_code}' " + h2up_url(ep, "/x"))
            .output == "503");
  CHECK(held.get() == "held");
  CHECK(h2up_curl("--http2-prior-knowledge " + h2up_url(ep, "/y")).output == "h2 /y");
}

TEST_CASE(
    "h2 upstream: streams waiting for a connect that fails all get 502 from that one attempt") {
  TestBackend closer([](int) {});  // accepts, then closes at once: no SETTINGS ever comes
  InProcessLbd lbd(h2up_config({closer.address()}));
  const auto r = run_command("timeout 30 h2load -n 30 -c 1 -m 30 " +
                             h2up_url(lbd.endpoint("web"), "/") + " 2>&1");
  INFO(r.output);
  CHECK(r.output.find("status codes: 0 2xx, 0 3xx, 0 4xx, 30 5xx") != std::string::npos);
  CHECK(closer.connections() <= 3);
}
