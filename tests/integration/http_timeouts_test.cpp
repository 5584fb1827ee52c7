// Time limits of the HTTP/1.1 data path against slow clients: the first request's header
// deadline runs once from the connection's start, and a request body must be complete within
// timeouts.request_body even when every pause is shorter than client_idle.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <doctest/doctest.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

bool readable_within(int fd, std::chrono::milliseconds t) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(t.count())) > 0;
}

}  // namespace

TEST_CASE("http: the first request's header deadline runs from the connection's start, once") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.timeouts = "request_header = \"2s\"";
  InProcessLbd lbd(c.text());
  const auto started = Steady::now();
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::this_thread::sleep_for(1500ms);  // the slow client's first bytes come late
  REQUIRE(send_all(fd, "GET / HTTP/1.1\r\n"));
  std::string buf;
  const auto res = read_response(fd, buf);
  const auto took = Steady::now() - started;
  ::close(fd);
  REQUIRE(res);
  CHECK(res->result_int() == 408);
  // Re-armed on the first bytes it would end at 1.5 s + 2 s.
  CHECK(took < 3s);
}

TEST_CASE("http: a request body trickled under client_idle still ends at request_body with 408") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.timeouts = "client_idle = \"10s\"\nrequest_body = \"1s\"";
  InProcessLbd lbd(c.text());
  for (const bool chunked : {false, true}) {
    CAPTURE(chunked);
    const int fd = connect_to(lbd.endpoint("web"));
    REQUIRE(fd >= 0);
    REQUIRE(send_all(fd, chunked
                             ? "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             : "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n"));
    const auto started = Steady::now();
    bool answered = false;
    // One byte every 200 ms: 1000 bytes would take 200 s.
    for (int i = 0; i < 50 && !answered; ++i) {
      if (!send_all(fd, chunked ? "1\r\na\r\n" : "a")) break;
      answered = readable_within(fd, 200ms);
    }
    const auto took = Steady::now() - started;
    std::string buf;
    const auto res = read_response(fd, buf);
    ::close(fd);
    REQUIRE(res);
    CHECK(res->result_int() == 408);
    CHECK(took < 3s);
  }
  CHECK(origin.count() == 0);  // never a complete request
}
