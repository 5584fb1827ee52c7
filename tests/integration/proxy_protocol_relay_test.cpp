// PROXY protocol through lbd: accepted from clients on a listener that asks for it, sent to
// backends of a pool that asks for it, and a malformed header refused.
#include <unistd.h>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "lbd/session/proxy_protocol.hpp"
#include "tests/integration/lbd_harness.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

std::string config(const std::string& backend, bool accept, const std::string& send) {
  return fmt::format(
      "[global]\nworkers = 1\nlog_level = \"warn\"\n"
      "[[listener]]\nname = \"l4\"\nbind = \"127.0.0.1:0\"\nmode = \"tcp\"\npool = \"p\"\n"
      "accept_proxy_protocol = {}\n"
      "[[pool]]\nname = \"p\"\nsend_proxy_protocol = \"{}\"\n"
      "[[pool.server]]\nname = \"a\"\naddress = \"{}\"\n",
      accept ? "true" : "false", send, backend);
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
