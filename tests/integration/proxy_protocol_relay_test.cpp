// PROXY protocol through lbd: accepted from clients on a listener that asks for it, sent to
// backends of a pool that asks for it, and a malformed header refused.
#include <unistd.h>

#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "lbd/admin/metrics.hpp"
#include "lbd/session/proxy_protocol.hpp"
#include "tests/integration/lbd_harness.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

std::string config(const std::string& backend, bool accept, const std::string& send,
                   const std::string& trusted = "127.0.0.0/8") {
  return fmt::format(
      "[global]\nworkers = 1\nlog_level = \"warn\"\n"
      "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"p\"\n"
      "{}"
      "[[pool]]\nname = \"p\"\nsend_proxy_protocol = \"{}\"\n"
      "[[pool.server]]\nname = \"a\"\naddress = \"{}\"\n",
      accept
          ? fmt::format("accept_proxy_protocol = true\nproxy_protocol_from = [\"{}\"]\n", trusted)
          : std::string(),
      send, backend);
}

lb::Endpoint ep(const char* text) { return *lb::Endpoint::parse(text); }

}  // namespace

TEST_CASE("proxy protocol: a v1 header from the client is forwarded to the backend as v2") {
  TestBackend backend(TestBackend::proxy_reporter());
  InProcessLbd lbd(config(backend.address(), true, "v2"));
  const int fd = connect_to(lbd.endpoint("l4"));
  REQUIRE(send_all(fd, "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\nping"));
  CHECK(read_line(fd) == "v2 src=192.0.2.1:5555 dst=198.51.100.2:80");
  CHECK(read_exact(fd, 4) == "ping");
  ::close(fd);
}

TEST_CASE("proxy protocol: a v2 IPv6 header from the client is forwarded as v1") {
  TestBackend backend(TestBackend::proxy_reporter());
  InProcessLbd lbd(config(backend.address(), true, "v1"));
  const int fd = connect_to(lbd.endpoint("l4"));
  const auto header =
      lbd::proxy::encode_proxy_v2(ep("[2001:db8::1]:4000"), ep("[2001:db8::2]:443"));
  REQUIRE(send_all(fd, header + "data after the header"));
  CHECK(read_line(fd) == "v1 src=[2001:db8::1]:4000 dst=[2001:db8::2]:443");
  CHECK(read_exact(fd, 21) == "data after the header");
  ::close(fd);
}

TEST_CASE("proxy protocol: without a client header the backend gets the real client address") {
  TestBackend backend(TestBackend::proxy_reporter());
  InProcessLbd lbd(config(backend.address(), false, "v1"));
  const auto listen = lbd.endpoint("l4");
  const int fd = connect_to(listen);
  REQUIRE(send_all(fd, "x"));
  const auto line = read_line(fd);
  CHECK(line.starts_with("v1 src=127.0.0.1:"));
  CHECK(line.ends_with(fmt::format("dst={}", listen.to_string())));
  ::close(fd);
}

TEST_CASE("proxy protocol: a malformed client header closes the connection before any backend") {
  TestBackend backend(TestBackend::proxy_reporter());
  InProcessLbd lbd(config(backend.address(), true, "off"));
  const int fd = connect_to(lbd.endpoint("l4"));
  REQUIRE(send_all(fd, "GET / HTTP/1.1\r\n\r\n"));
  CHECK(closed_by_peer(fd, 3000ms));
  ::close(fd);
  CHECK(backend.connections() == 0);
  const auto view = lbd.server().admin_view();
  CHECK(view.events.proxy_header_errors == 1);
  CHECK(view.events.proxy_header_untrusted == 0);
}

TEST_CASE("proxy protocol: a client that never sends its header is closed after the timeout") {
  TestBackend backend(TestBackend::proxy_reporter());
  auto text = config(backend.address(), true, "off");
  text += "[timeouts]\nrequest_header = \"200ms\"\n";
  InProcessLbd lbd(text);
  const int fd = connect_to(lbd.endpoint("l4"));
  REQUIRE(send_all(fd, "PROXY TCP4 "));  // an incomplete header, then silence
  CHECK(closed_by_peer(fd, 3000ms));
  ::close(fd);
  CHECK(backend.connections() == 0);
}

TEST_CASE("proxy protocol: a header split across several writes is read whole") {
  TestBackend backend(TestBackend::proxy_reporter());
  InProcessLbd lbd(config(backend.address(), true, "v2"));
  const int fd = connect_to(lbd.endpoint("l4"));
  REQUIRE(send_all(fd, "PROXY TCP4 192.0.2.1 "));
  std::this_thread::sleep_for(20ms);  // let lbd read the first piece and wait for more
  REQUIRE(send_all(fd, "198.51.100.2 5555"));
  std::this_thread::sleep_for(20ms);
  REQUIRE(send_all(fd, " 80\r\nping"));
  CHECK(read_line(fd) == "v2 src=192.0.2.1:5555 dst=198.51.100.2:80");
  CHECK(read_exact(fd, 4) == "ping");
  ::close(fd);

  const auto v2 = lbd::proxy::encode_proxy_v2(ep("192.0.2.9:7"), ep("198.51.100.2:80"));
  const int fd2 = connect_to(lbd.endpoint("l4"));
  for (std::size_t i = 0; i < v2.size(); i += 5) {
    REQUIRE(send_all(fd2, v2.substr(i, 5)));
    std::this_thread::sleep_for(2ms);
  }
  REQUIRE(send_all(fd2, "pong"));
  CHECK(read_line(fd2) == "v2 src=192.0.2.9:7 dst=198.51.100.2:80");
  CHECK(read_exact(fd2, 4) == "pong");
  ::close(fd2);
}

TEST_CASE("proxy protocol: a client stalled inside its header costs no CPU and is closed in time") {
  TestBackend backend(TestBackend::proxy_reporter());
  auto text = config(backend.address(), true, "off");
  text += "[timeouts]\nrequest_header = \"3s\"\n";
  InProcessLbd lbd(text);
  // A v1 prefix, and a v2 fixed header announcing 12 address bytes that never come.
  std::string v2_prefix = lbd::proxy::encode_proxy_v2(ep("192.0.2.1:1"), ep("192.0.2.2:2"));
  v2_prefix.resize(lbd::proxy::kProxyV2HeaderLength);
  for (const std::string& prefix : {std::string("PROXY "), v2_prefix}) {
    const int fd = connect_to(lbd.endpoint("l4"));
    REQUIRE(send_all(fd, prefix));
    const auto start = std::chrono::steady_clock::now();
    const auto cpu_before = cpu_time();
    CHECK_FALSE(closed_by_peer(fd, 2000ms));  // still open: two quiet seconds
    const auto cpu = cpu_time() - cpu_before;
    CHECK_MESSAGE(cpu < 50ms, "lbd used ", cpu.count(), " ms of CPU in 2 s for a stalled client");
    CHECK(closed_by_peer(fd, 3000ms));  // then closed at request_header (3 s)
    const auto closed_after = std::chrono::steady_clock::now() - start;
    CHECK(closed_after < 4500ms);
    ::close(fd);
  }
  CHECK(backend.connections() == 0);
}

TEST_CASE("proxy protocol: a source outside proxy_protocol_from is served as a plain connection") {
  TestBackend backend(TestBackend::proxy_reporter());
  InProcessLbd lbd(config(backend.address(), true, "v1", "10.0.0.0/8"));
  const int fd = connect_to(lbd.endpoint("l4"));
  // The forged header is data for the backend, not this client's address.
  const std::string forged = "PROXY TCP4 192.0.2.1 198.51.100.2 5555 80\r\n";
  REQUIRE(send_all(fd, forged));
  const auto line = read_line(fd);
  CHECK(line.starts_with("v1 src=127.0.0.1:"));
  CHECK(read_exact(fd, forged.size()) == forged);
  ::close(fd);
  // Counted, so that an operator sees a client (or a misconfigured proxy) trying.
  const auto view = lbd.server().admin_view();
  CHECK(view.events.proxy_header_untrusted == 1);
  CHECK(lbd::admin::render_metrics(view).find(
            "lbpair_lbd_proxy_header_total{result=\"untrusted\"} 1") != std::string::npos);
}
