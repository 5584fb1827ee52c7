// L7 sessions during a graceful shutdown: idle keep-alive clients are closed at once, a request
// in flight still gets its response (with Connection: close).
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <doctest/doctest.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

TEST_CASE("http: a drain closes idle keep-alive clients without waiting for keep_alive") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.timeouts = "keep_alive = \"60s\"";
  InProcessLbd lbd(c.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::string buf;
  REQUIRE(send_all(fd, get("/")));
  REQUIRE(read_response(fd, buf));
  const auto start = std::chrono::steady_clock::now();
  lbd.server().request_shutdown();
  bool ok = false;
  CHECK(read_to_eof(fd, &ok).empty());
  CHECK(ok);
  CHECK(std::chrono::steady_clock::now() - start < 3s);
  ::close(fd);
}

TEST_CASE("http: a request in flight during a drain gets its response with Connection: close") {
  Origin origin("o", [](const Request&) {
    std::this_thread::sleep_for(300ms);  // the drain starts while this request is in flight
    Response res{http::status::ok, 11};
    res.body() = "late";
    res.prepare_payload();
    return res;
  });
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, get("/slow")));
  for (int i = 0; i < 1000 && origin.count() == 0; ++i) std::this_thread::sleep_for(5ms);
  REQUIRE(origin.count() == 1);
  lbd.server().request_shutdown();
  std::string buf;
  auto res = read_response(fd, buf);
  REQUIRE(res);
  CHECK(res->body() == "late");
  CHECK(header(res->base(), "Connection") == "close");
  ::close(fd);
}

TEST_CASE(
    "http: a keep-alive client of a VIP handed over gets Connection: close on its next answer") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.timeouts = "keep_alive = \"60s\"";
  InProcessLbd lbd(c.text());
  const auto endpoint = lbd.endpoint("web");
  const int fd = connect_to(endpoint);
  REQUIRE(fd >= 0);
  std::string buf;
  REQUIRE(send_all(fd, get("/")));
  auto first = read_response(fd, buf);
  REQUIRE(first);
  CHECK(header(first->base(), "Connection") != "close");
  auto role = [&](const char* state, const char* address) {
    lbd::admin::VridRole r;
    r.instance = "vi";
    r.vrid = 51;
    r.state = state;
    r.from = "master";
    r.vips = {*lb::IpAddress::parse(address)};
    lbd.server().on_vrrp_state(r);
  };
  // Another address handed over: this client stays.
  role("backup", "127.0.0.254");
  REQUIRE(send_all(fd, get("/")));
  auto second = read_response(fd, buf);
  REQUIRE(second);
  CHECK(header(second->base(), "Connection") != "close");
  // Its own VIP handed over (preempted, switchover): answered, then asked to reconnect.
  role("backup", endpoint.address.to_string().c_str());
  REQUIRE(send_all(fd, get("/")));
  auto third = read_response(fd, buf);
  REQUIRE(third);
  CHECK(third->result_int() == 200);
  CHECK(header(third->base(), "Connection") == "close");
  bool ok = false;
  CHECK(read_to_eof(fd, &ok).empty());
  CHECK(ok);
  ::close(fd);
}
