// Clients that stall before lbd knows what they want: inside a ClientHello on an SNI-routed tcp
// listener, or inside the TLS handshake of a terminating listener. Each must cost a wait (about
// no CPU) and be closed at timeouts.request_header, with no backend touched.
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
