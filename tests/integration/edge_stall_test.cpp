// Clients that stall before lbd knows what they want: inside a ClientHello on an SNI-routed tcp
// listener, or inside the TLS handshake of a terminating listener. Each must cost a wait (about
// no CPU) and be closed at timeouts.request_header, with no backend touched. A ClientHello that
// comes in pieces but whole within that timeout is served; one whose sender hangs up is let go.
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/lbd_harness.hpp"
#include "tests/integration/tls_client.hpp"
#include "tests/integration/tls_fixture.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

/// Sends `prefix` on a new connection to `ep`, then checks that lbd uses under 50 ms of CPU in
/// the next 2 s of silence, and closes the connection by `header_timeout` + 1.5 s.
void check_stall(const lb::Endpoint& ep, const std::string& prefix,
                 std::chrono::milliseconds header_timeout) {
  const int fd = connect_to(ep);
  REQUIRE(fd >= 0);
  if (!prefix.empty()) REQUIRE(send_all(fd, prefix));
  const auto start = std::chrono::steady_clock::now();
  const auto cpu_before = cpu_time();
  CHECK_FALSE(closed_by_peer(fd, 2000ms));  // still open: two quiet seconds
  const auto cpu = cpu_time() - cpu_before;
  CHECK_MESSAGE(cpu < 50ms, "lbd used ", cpu.count(), " ms of CPU in 2 s for a stalled client (",
                prefix.size(), " bytes sent)");
  CHECK(closed_by_peer(fd, header_timeout));
  CHECK(std::chrono::steady_clock::now() - start < header_timeout + 1500ms);
  ::close(fd);
}

}  // namespace

TEST_CASE("sni routing: a client stalled inside its ClientHello costs no CPU and is closed") {
  TestBackend fallback(TestBackend::hello("default"));
  TestBackend a(TestBackend::echo());
  InProcessLbd lbd(fmt::format(
      "[global]\nworkers = 1\nlog_level = \"warn\"\n[timeouts]\nrequest_header = \"3s\"\n"
      "[[listener]]\nname = \"tls\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"fallback\"\n"
      "[[listener.sni_route]]\nserver_name = \"a.example.com\"\npool = \"a\"\n"
      "[[pool]]\nname = \"fallback\"\n[[pool.server]]\nname = \"f\"\naddress = \"{}\"\n"
      "[[pool]]\nname = \"a\"\n[[pool.server]]\nname = \"a1\"\naddress = \"{}\"\n",
      fallback.address(), a.address()));
  const auto hello = raw_client_hello("a.example.com");
  REQUIRE(hello.size() > 64);
  // The 5-byte record header and one byte more; then half of a real hello.
  check_stall(lbd.endpoint("tls"), hello.substr(0, 6), 3000ms);
  check_stall(lbd.endpoint("tls"), hello.substr(0, hello.size() / 2), 3000ms);
  CHECK(fallback.connections() == 0);
  CHECK(a.connections() == 0);

  // The honest client after them: routed by its name, its hello replayed to the backend whole.
  const int fd = connect_to(lbd.endpoint("tls"));
  REQUIRE(fd >= 0);
  for (std::size_t i = 0; i < hello.size(); i += 100) REQUIRE(send_all(fd, hello.substr(i, 100)));
  REQUIRE(send_all(fd, "tail"));
  CHECK(read_exact(fd, hello.size() + 4) == hello + "tail");
  ::close(fd);
}

TEST_CASE("tls: an idle or half-sent handshake costs no CPU and is closed at the header timeout") {
  TestPki pki;
  const auto cert = pki.issue("a", "a.example.com", {"a.example.com"});
  TestBackend backend(TestBackend::echo());
  HttpConfig cfg{.pools = {{"app", {backend.address()}}}};
  cfg.timeouts = "request_header = \"3s\"";
  cfg.routes = tls_section({cert});
  InProcessLbd lbd(cfg.text());
  const auto hello = raw_client_hello("a.example.com");
  check_stall(lbd.endpoint("web"), "", 3000ms);                                 // connected, silent
  check_stall(lbd.endpoint("web"), hello.substr(0, 6), 3000ms);                 // a record header
  check_stall(lbd.endpoint("web"), hello.substr(0, hello.size() / 2), 3000ms);  // half a hello
  CHECK(backend.connections() == 0);
  REQUIRE(wait_until([&] { return lbd.server().tls_handshake_errors("web").contains("timeout"); },
                     2000ms));
  CHECK(lbd.server().tls_handshake_errors("web").at("timeout") == 3);
  // And an honest handshake still completes.
  const auto r =
      tls_exchange(lbd.endpoint("web"), {.sni = "a.example.com", .ca_file = pki.ca_file()});
  CHECK_MESSAGE(r.handshake_ok, r.error);
}

TEST_CASE(
    "tls: a client that waits before its first bytes and then stalls gets one request_header in "
    "all, not one for the wait and another for the handshake") {
  TestPki pki;
  const auto cert = pki.issue("a", "a.example.com", {"a.example.com"});
  TestBackend backend(TestBackend::echo());
  HttpConfig cfg{.pools = {{"app", {backend.address()}}}};
  cfg.timeouts = "request_header = \"2s\"";
  cfg.routes = tls_section({cert});
  InProcessLbd lbd(cfg.text());
  const auto hello = raw_client_hello("a.example.com");
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  const auto start = std::chrono::steady_clock::now();
  // The slow client's pace is what is tested: it says nothing for 1.5 s, then half a hello.
  CHECK_FALSE(closed_by_peer(fd, 1500ms));
  REQUIRE(send_all(fd, hello.substr(0, hello.size() / 2)));
  CHECK(closed_by_peer(fd, 2000ms));
  CHECK(std::chrono::steady_clock::now() - start < 2000ms + 500ms);
  ::close(fd);
  CHECK(backend.connections() == 0);
}

namespace {

/// An lbd terminating TLS on "web" with request_header = 2s in front of an HTTP origin.
struct SlowHelloLab {
  TestPki pki;
  PemFiles cert = pki.issue("a", "a.example.com", {"a.example.com"});
  Origin origin{"o"};
  TestBackend backend{origin.handler()};
  InProcessLbd lbd{[this] {
    HttpConfig cfg{.pools = {{"app", {backend.address()}}}};
    cfg.timeouts = "request_header = \"2s\"";
    cfg.routes = tls_section({cert});
    return cfg.text();
  }()};

  /// A TLS exchange of two small requests whose ClientHello goes out as 1 byte, the rest of the
  /// record header, 10 bytes, then the rest, `pause` apart: each piece a new wait in lbd.
  TlsResult exchange_with_hello_pace(std::chrono::milliseconds pause) {
    const std::string get = "GET /p HTTP/1.1\r\nHost: a.example.com\r\n\r\n";
    return tls_exchange(lbd.endpoint("web"),
                        {.sni = "a.example.com",
                         .ca_file = pki.ca_file(),
                         .hello_pieces = {1, 4, 10},
                         .hello_pause = pause},
                        {get, get});
  }
};

}  // namespace

TEST_CASE(
    "tls: a ClientHello that arrives in pieces within request_header completes the handshake, "
    "and the connection then serves small requests") {
  SlowHelloLab lab;
  for (const auto pause : {50ms, 450ms}) {  // 0.15 s and 1.35 s of the 2 s request_header
    const auto r = lab.exchange_with_hello_pace(pause);
    REQUIRE_MESSAGE(r.handshake_ok, "pause ", pause.count(), " ms: ", r.error);
    // Requests far below the ClientHello's size: lbd reads them at once, not at a timeout.
    REQUIRE(r.responses.size() == 2);
    CHECK(r.responses[0].starts_with("HTTP/1.1 200"));
    CHECK(r.responses[1].ends_with("o /p"));
  }
  CHECK(lab.origin.count() == 4);
  CHECK(lab.lbd.server().tls_handshake_errors("web").empty());
}

TEST_CASE(
    "tls: a ClientHello that trickles in past request_header is closed at request_header and "
    "counted as a handshake timeout") {
  SlowHelloLab lab;
  const auto start = std::chrono::steady_clock::now();
  // Pieces at 0, 0.8 and 1.6 s; the rest of the hello would come at 2.4 s.
  const auto r = lab.exchange_with_hello_pace(800ms);
  CHECK_FALSE(r.handshake_ok);
  CHECK(std::chrono::steady_clock::now() - start < 2000ms + 1500ms);
  REQUIRE(wait_until(
      [&] { return lab.lbd.server().tls_handshake_errors("web").contains("timeout"); }, 2000ms));
  CHECK(lab.lbd.server().tls_handshake_errors("web").at("timeout") == 1);
  CHECK(lab.origin.count() == 0);
}

TEST_CASE(
    "tls: a client that sends part of a ClientHello and then closes its side is let go at once, "
    "not held until request_header") {
  TestPki pki;
  const auto cert = pki.issue("a", "a.example.com", {"a.example.com"});
  TestBackend backend(TestBackend::echo());
  HttpConfig cfg{.pools = {{"app", {backend.address()}}}};
  cfg.timeouts = "request_header = \"3s\"";
  cfg.routes = tls_section({cert});
  InProcessLbd lbd(cfg.text());
  const auto hello = raw_client_hello("a.example.com");
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  const auto cpu_before = cpu_time();
  REQUIRE(send_all(fd, hello.substr(0, 15)));  // the record header and 10 bytes
  ::shutdown(fd, SHUT_WR);
  // The hang-up wakes lbd with the same 15 bytes queued: waiting again would wake at once.
  CHECK(closed_by_peer(fd, 1000ms));
  CHECK(cpu_time() - cpu_before < 50ms);
  ::close(fd);
  REQUIRE(wait_until([&] { return !lbd.server().tls_handshake_errors("web").empty(); }, 2000ms));
  CHECK_FALSE(lbd.server().tls_handshake_errors("web").contains("timeout"));
  CHECK(backend.connections() == 0);
}
