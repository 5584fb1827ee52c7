// Hostile peers against the bounds of the HTTP data path: an endless chunk extension or trailer
// section from a client (400, memory bounded) or from a backend (connection closed), and the
// same against the small /metrics endpoint and the HTTP agent check.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "common/metrics/http_endpoint.hpp"
#include "lbd/upstream/agent_http.hpp"
#include "tests/integration/hostile_client.hpp"
#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/support/process.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

constexpr std::uint64_t kMiB = 1024 * 1024;
const std::string kFiller(64 * 1024, 'a');

std::string trailer_filler() {
  std::string s;
  while (s.size() < 64 * 1024) s += "X-Trailer: aaaaaaaaaaaaaaaa\r\n";
  return s;
}

/// A backend that reads a request header, then answers 200 chunked with a chunk-size line whose
/// extension never ends, until a send fails; `sent` counts the extension bytes that went out.
TestBackend::Handler endless_chunk_extension(std::atomic<std::uint64_t>& sent) {
  return [&sent](int fd) {
    std::string buf;
    char chunk[4096];
    while (buf.find("\r\n\r\n") == std::string::npos) {
      const auto got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got <= 0) return;
      buf.append(chunk, static_cast<std::size_t>(got));
    }
    const auto out = stream_until_answer(
        fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=", kFiller, 256 * kMiB);
    sent = out.sent;
  };
}

}  // namespace

TEST_CASE("http: an endless chunk extension gets 400 and lbd's memory stays bounded") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}, .bind = dead_address()};
  TempConfig cfg(c.text());
  ChildProcess lbd({lbd_binary(), "-c", cfg.path()}, "");
  const auto ep = *lb::Endpoint::parse(c.bind);
  REQUIRE(wait_until([&] { return round_trip(ep, get("/")).has_value(); }, 10s));
  const auto served = origin.count();
  const auto baseline = rss_bytes(lbd.pid());
  REQUIRE(baseline > 0);

  const int fd = connect_to(ep);
  REQUIRE(fd >= 0);
  const auto out = stream_until_answer(
      fd, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=", kFiller,
      64 * kMiB, lbd.pid());
  std::string buf;
  const auto res = read_response(fd, buf);
  ::close(fd);
  // The bound: the 4 KiB line bound plus a read, far under 16 MiB over the idle process.
  MESSAGE("sent ", out.sent / kMiB, " MiB of extension; RSS ", baseline / kMiB, " -> ",
          out.peak_rss / kMiB, " MiB");
  CHECK(out.answered);
  CHECK(out.sent < 8 * kMiB);
  CHECK(out.peak_rss < baseline + 16 * kMiB);
  REQUIRE(res);
  CHECK(res->result_int() == 400);
  CHECK(header(res->base(), "Connection") == "close");
  CHECK(origin.count() == served);  // no complete request reached the backend
}

TEST_CASE("http: an endless trailer section gets 400") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  const auto out = stream_until_answer(
      fd, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n",
      trailer_filler(), 64 * kMiB);
  std::string buf;
  const auto res = read_response(fd, buf);
  ::close(fd);
  CHECK(out.answered);
  CHECK(out.sent < 8 * kMiB);
  REQUIRE(res);
  CHECK(res->result_int() == 400);
  CHECK(origin.count() == 0);
}

TEST_CASE("http: a chunk extension within the bound and short trailers still pass") {
  Origin origin("o", Origin::echo(false));
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto res = round_trip(lbd.endpoint("web"),
                              "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "3;name=" +
                                  std::string(3000, 'v') + "\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n");
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(res->body() == "abc");
}

TEST_CASE("http: a backend's endless chunk extension closes the client connection") {
  std::atomic<std::uint64_t> sent{0};
  TestBackend backend(endless_chunk_extension(sent));
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, get("/")));
  bool clean = false;
  const auto got = read_to_eof(fd, &clean);
  ::close(fd);
  CHECK(got.starts_with("HTTP/1.1 200 OK\r\n"));
  CHECK(clean);  // closed by lbd, not by the 5 s receive timeout
  CHECK(wait_until([&] { return sent.load() > 0; }, 5s));
  CHECK(sent.load() < 8 * kMiB);
}

TEST_CASE("metrics endpoint: an endless chunk extension is cut off") {
  lb::asio::io_context io;
  auto ep = lb::metrics::HttpEndpoint::start(io, *lb::Endpoint::parse("127.0.0.1:0"),
                                             [] { return std::string("x 1\n"); });
  REQUIRE(ep);
  const auto where = (*ep)->bound();
  auto guard = lb::asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  const int fd = connect_to(where);
  REQUIRE(fd >= 0);
  const auto out = stream_until_answer(
      fd, "POST /metrics HTTP/1.1\r\nHost: m\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=", kFiller,
      64 * kMiB);
  ::close(fd);
  lb::asio::post(io, [&] {
    (*ep)->stop();
    guard.reset();
  });
  runner.join();
  CHECK(out.answered);
  CHECK(out.sent < 8 * kMiB);
}

TEST_CASE("agent check: an agent's endless chunk extension fails the check early") {
  std::atomic<std::uint64_t> sent{0};
  TestBackend agent(endless_chunk_extension(sent));
  lb::asio::io_context io;
  std::optional<lb::Result<lbd::AgentReport>> result;
  lb::asio::co_spawn(
      io,
      [&]() -> lb::awaitable<void> {
        result = co_await lbd::query_http_agent(agent.endpoint(), "/agent", 5s);
      },
      lb::asio::detached);
  io.run();
  REQUIRE(result);
  CHECK_FALSE(result->has_value());
  CHECK(wait_until([&] { return sent.load() > 0; }, 5s));
  CHECK(sent.load() < 8 * kMiB);
}

TEST_CASE("http: a 64 KiB path and header value are routed by regex without harm") {
  Origin a("a");
  Origin b("b");
  Origin d("d");
  TestBackend ba(a.handler());
  TestBackend bb(b.handler());
  TestBackend bd(d.handler());
  HttpConfig c{.pools = {{"d", {bd.address()}}, {"a", {ba.address()}}, {"b", {bb.address()}}}};
  c.limits = "max_header_size = \"256KiB\"";
  c.routes =
      "[[listener.route]]\npool = \"a\"\npath_regex = \"^/(a|b)*$\"\n"
      "[[listener.route]]\npool = \"b\"\n[[listener.route.header]]\nname = \"X-Long\"\n"
      "regex = \"^(x|y)*z$\"\n";
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("web");
  const std::string long_path = "/" + std::string(64 * 1024, 'a');
  auto res = round_trip(ep, get(long_path, "h"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(header(res->base(), "X-Backend") == "a");
  res = round_trip(ep, get("/c", "h", "X-Long: " + std::string(60 * 1024, 'x') + "z\r\n"));
  REQUIRE(res);
  CHECK(header(res->base(), "X-Backend") == "b");
  // Over 64 KiB a single field value is refused (Beast stores 16-bit sizes).
  res = round_trip(ep, get("/c", "h", "X-Long: " + std::string(64 * 1024, 'x') + "z\r\n"));
  REQUIRE(res);
  CHECK(res->result_int() == 431);
  // lbd still answers afterwards (the worker survived).
  res = round_trip(ep, get("/x", "h"));
  REQUIRE(res);
  CHECK(header(res->base(), "X-Backend") == "d");
}

TEST_CASE("http: a request header with more than 100 fields gets 431") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto ep = lbd.endpoint("web");
  auto fields = [](int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "a" + std::to_string(i) + ":b\r\n";
    return s;
  };
  auto res = round_trip(ep, get("/", "h", fields(99)));  // + Host = 100
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  res = round_trip(ep, get("/", "h", fields(100)));
  REQUIRE(res);
  CHECK(res->result_int() == 431);
  // Tiny fields sent over several reads are counted as they arrive.
  const int fd = connect_to(ep);
  REQUIRE(fd >= 0);
  const auto out = stream_until_answer(fd, "GET / HTTP/1.1\r\nHost: h\r\n", "a:b\r\n", 100'000);
  std::string buf;
  res = read_response(fd, buf);
  ::close(fd);
  CHECK(out.answered);
  REQUIRE(res);
  CHECK(res->result_int() == 431);
}
