// L7 error statuses and request-smuggling defence, end to end through an in-process lbd.
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

unsigned status_of(const lb::Endpoint& ep, std::string_view raw) {
  auto res = round_trip(ep, raw);
  return res ? res->result_int() : 0;
}

}  // namespace

TEST_CASE("http: smuggling attempts get 400 and never reach the backend") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto ep = lbd.endpoint("web");
  const char* attempts[] = {
      // CL.TE and TE.CL
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nX",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n"
      "0\r\n\r\nX",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\nContent-Length: 3\r\n\r\nabc",
      // differing duplicate Content-Length
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\nabcd",
      // obs-fold
      "GET / HTTP/1.1\r\nHost: h\r\nX-Folded: a\r\n b\r\n\r\n",
      // Transfer-Encoding not ending in chunked, or chunked twice
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc",
      "POST / HTTP/1.0\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      // invalid chunk sizes
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "10000000000000000\r\nabc\r\n0\r\n\r\n",
      "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n",
      // missing / doubled Host, bad request line, space before colon
      "GET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      "GET /  HTTP/1.1\r\nHost: h\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: h\r\nX-Bad : v\r\n\r\n",
  };
  std::size_t seen_before = 0;
  for (const char* raw : attempts) {
    CAPTURE(raw);
    auto res = round_trip(ep, raw);
    REQUIRE(res);
    CHECK(res->result_int() == 400);
    CHECK(header(res->base(), "Connection") == "close");
    // A chunked request with a bad chunk size may have had its header forwarded already, but
    // the backend never got a complete request it could answer.
    const auto now = origin.count();
    CHECK(now == seen_before);
    seen_before = now;
  }
}

TEST_CASE("http: 431 for a request header over max_header_size") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.limits = "max_header_size = \"1KiB\"";
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("web");
  CHECK(status_of(ep, get("/", "h", "X-Big: " + std::string(2000, 'a') + "\r\n")) == 431);
  CHECK(status_of(ep, get("/", "h", "X-Small: " + std::string(100, 'a') + "\r\n")) == 200);
  CHECK(origin.count() == 1);
}

TEST_CASE("http: 413 for a body over max_body_size, by Content-Length or while chunked") {
  Origin origin("o", Origin::echo(false));
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.limits = "max_body_size = \"1KiB\"";
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("web");
  CHECK(status_of(ep, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n" +
                          std::string(2000, 'x')) == 413);
  CHECK(status_of(ep, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
                          std::string(2000, 'x') + "\r\n0\r\n\r\n") == 413);
  CHECK(status_of(ep, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n" +
                          std::string(1000, 'x')) == 200);
}

TEST_CASE("http: 408 when the request header does not arrive in time") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.timeouts = "request_header = \"300ms\"";
  InProcessLbd lbd(c.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, "GET / HTTP/1.1\r\nHost: h\r\n"));  // never finished
  std::string buf;
  auto res = read_response(fd, buf);
  ::close(fd);
  REQUIRE(res);
  CHECK(res->result_int() == 408);
  CHECK(origin.count() == 0);
}

TEST_CASE("http: an idle keep-alive connection is closed after keep_alive without a response") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.timeouts = "keep_alive = \"300ms\"";
  InProcessLbd lbd(c.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::string buf;
  REQUIRE(send_all(fd, get("/")));
  REQUIRE(read_response(fd, buf));
  bool ok = false;
  CHECK(read_to_eof(fd, &ok).empty());
  CHECK(ok);
  ::close(fd);
}

TEST_CASE("http: 502 when the backend refuses or closes without answering") {
  TestBackend closer([](int) {});  // accepts, then closes
  {
    InProcessLbd lbd(HttpConfig{.pools = {{"app", {dead_address()}}}}.text());
    CHECK(status_of(lbd.endpoint("web"), get("/")) == 502);
  }
  {
    InProcessLbd lbd(HttpConfig{.pools = {{"app", {closer.address()}}}}.text());
    CHECK(status_of(lbd.endpoint("web"), get("/")) == 502);
  }
  {
    TestBackend garbage([](int fd) {
      std::string buf;
      read_request(fd, buf);
      send_all(fd, "NOT HTTP AT ALL\r\n\r\n");
    });
    InProcessLbd lbd(HttpConfig{.pools = {{"app", {garbage.address()}}}}.text());
    CHECK(status_of(lbd.endpoint("web"), get("/")) == 502);
  }
}

TEST_CASE(
    "http: a 502 after a chunked request body is logged with the request's target, which "
    "outlives the body's parser (ASan)") {
  TestBackend garbage([](int fd) {
    std::string buf;
    if (read_request(fd, buf)) send_all(fd, "NOT HTTP AT ALL\r\n\r\n");  // after the whole body
  });
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {garbage.address()}}}}.text());
  const std::string target = "/upload/" + std::string(200, 'x');
  CHECK(status_of(lbd.endpoint("web"),
                  "POST " + target +
                      " HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5\r\nhello\r\n0\r\n\r\n") == 502);
}

TEST_CASE("http: a failed connect is retried on another server") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {dead_address(), backend.address()}}}}.text());
  for (int i = 0; i < 4; ++i) CHECK(status_of(lbd.endpoint("web"), get("/")) == 200);
}

TEST_CASE("http: 503 when the pool has no server that may take requests") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.server_extra = "weight = 0";
  InProcessLbd lbd(c.text());
  CHECK(status_of(lbd.endpoint("web"), get("/")) == 503);
  CHECK(origin.count() == 0);
}

TEST_CASE("http: 504 when the backend does not answer within server_response") {
  TestBackend silent([](int fd) {
    std::string buf;
    read_request(fd, buf);
    char c;
    ::recv(fd, &c, 1, 0);  // until the proxy gives up (or the 10 s receive timeout)
  });
  HttpConfig c{.pools = {{"app", {silent.address()}}}};
  c.timeouts = "server_response = \"300ms\"";
  InProcessLbd lbd(c.text());
  CHECK(status_of(lbd.endpoint("web"), get("/")) == 504);
}

TEST_CASE("http: a backend that closes its keep-alive connection does not fail the next request") {
  // Answers one request per connection and closes without saying so (no Connection: close):
  // the proxy either sees the close when it takes the pooled connection or, racing with it,
  // replays the body-less request on a new connection.
  TestBackend backend([](int fd) {
    std::string buf;
    auto req = read_request(fd, buf);
    if (!req) return;
    Response res{http::status::ok, 11};
    res.body() = "once";
    res.prepare_payload();
    send_all(fd, to_wire(res));
  });
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::string buf;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(send_all(fd, get("/")));
    auto res = read_response(fd, buf);
    REQUIRE(res);
    CHECK(res->result_int() == 200);
  }
  ::close(fd);
  CHECK(backend.connections() == 5);
}

TEST_CASE("http: 417 for an Expect other than 100-continue") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  CHECK(status_of(lbd.endpoint("web"), get("/", "h", "Expect: teapot\r\n")) == 417);
}
