// HTTP/1.1 clients of a pool with protocol = "h2", end to end: lbd in this process between
// blocking HTTP/1.1 clients on loopback and an h2c origin (h2_origin.hpp). The request goes out
// as an HTTP/2 stream (hop-by-hop fields gone, forwarding headers added), bodies pass both ways,
// the response comes back as HTTP/1.1 (Content-Length, chunked, trailers on request), and many
// clients share one HTTP/2 connection.
#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/integration/h2_origin.hpp"
#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/lbd_harness.hpp"
#include "tests/support/process.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

std::string bridge_config(const std::string& server) {
  HttpConfig c{.pools = {{"app", {server}}}};
  c.pool_extra = "protocol = \"h2\"\nconnect_retries = 0";
  c.timeouts = "connect = \"2s\"\nserver_idle = \"3s\"";
  return c.text();
}

/// One HTTP/1.1 client connection (closed at the end of the scope).
struct Client {
  explicit Client(const lb::Endpoint& ep) : fd(connect_to(ep)) {}
  ~Client() {
    if (fd >= 0) ::close(fd);
  }
  std::optional<Response> exchange(const std::string& raw, bool head = false) {
    if (!send_all(fd, raw)) return std::nullopt;
    return read_response(fd, buf, head);
  }
  /// Everything the server sends until it closes (or 5 s pass).
  std::string read_to_close() {
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out = buf;
    char b[16384];
    for (ssize_t n; (n = ::recv(fd, b, sizeof b, 0)) > 0;)
      out.append(b, static_cast<std::size_t>(n));
    return out;
  }
  int fd;
  std::string buf;
};

std::string post(std::string_view path, std::string_view body) {
  return fmt::format("POST {} HTTP/1.1\r\nHost: example.com\r\nContent-Length: {}\r\n\r\n{}", path,
                     body.size(), body);
}

}  // namespace

TEST_CASE("h2 bridge: an HTTP/1.1 GET reaches an h2 server without hop-by-hop fields") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  Client c(lbd.endpoint("web"));
  const auto r = c.exchange(get("/headers", "app.example:8080",
                                "Connection: keep-alive, x-hop\r\nKeep-Alive: timeout=5\r\n"
                                "X-Hop: 1\r\nTE: trailers\r\nX-Custom: yes\r\n"));
  REQUIRE(r);
  CHECK(r->result_int() == 200);
  CHECK(header(r->base(), "Via") == "2 lbd");
  const auto& seen = r->body();
  INFO(seen);
  CHECK(seen.find("method=GET\n") != std::string::npos);
  CHECK(seen.find("authority=app.example:8080\n") != std::string::npos);
  CHECK(seen.find("x-custom: yes\n") != std::string::npos);
  CHECK(seen.find("x-forwarded-for: 127.0.0.1\n") != std::string::npos);
  CHECK(seen.find("te: trailers\n") != std::string::npos);
  CHECK(seen.find("\nhost:") == std::string::npos);
  CHECK(seen.find("connection:") == std::string::npos);
  CHECK(seen.find("keep-alive:") == std::string::npos);
  CHECK(seen.find("x-hop:") == std::string::npos);
  CHECK(origin.requests() == 1);
}

TEST_CASE("h2 bridge: a POST body with Content-Length and a chunked one pass to the server") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  Client c(lbd.endpoint("web"));
  // Larger than the stream's request buffer (64 KiB): the body waits for the server's window.
  const std::string payload = random_bytes(300 * 1024, 11);
  const auto r = c.exchange(post("/echo", payload));
  REQUIRE(r);
  CHECK(r->result_int() == 200);
  CHECK(r->body().size() == payload.size());
  CHECK(r->body() == payload);

  std::string chunked =
      "POST /echo HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::size_t off = 0; off < payload.size(); off += 50000) {
    const auto piece = std::string_view(payload).substr(off, 50000);
    chunked += fmt::format("{:x}\r\n{}\r\n", piece.size(), piece);
  }
  chunked += "0\r\n\r\n";
  const auto rc = c.exchange(chunked);  // on the same client connection
  REQUIRE(rc);
  CHECK(rc->result_int() == 200);
  CHECK(rc->body() == payload);
  CHECK(origin.connections() == 1);
}

TEST_CASE("h2 bridge: a 1 MiB response streams with its Content-Length, one without is chunked") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  Client c(lbd.endpoint("web"));
  const auto r = c.exchange(get("/big?n=1048576"));
  REQUIRE(r);
  CHECK(r->result_int() == 200);
  CHECK(header(r->base(), "Content-Length") == "1048576");
  CHECK(r->body().size() == 1048576);
  const auto rc = c.exchange(get("/chunks?n=1048576"));
  REQUIRE(rc);
  CHECK(header(rc->base(), "Transfer-Encoding") == "chunked");
  CHECK(rc->body().size() == 1048576);

  // An HTTP/1.0 client gets the body delimited by the close.
  Client old(lbd.endpoint("web"));
  REQUIRE(send_all(old.fd, "GET /chunks?n=200000 HTTP/1.0\r\nHost: example.com\r\n\r\n"));
  const auto raw = old.read_to_close();
  const auto end = raw.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  CHECK(raw.substr(0, end).find("chunked") == std::string::npos);
  CHECK(raw.size() - end - 4 == 200000);
}

TEST_CASE("h2 bridge: HEAD gets the header alone and the connection goes on") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  Client c(lbd.endpoint("web"));
  const auto r = c.exchange("HEAD /x HTTP/1.1\r\nHost: example.com\r\n\r\n", true);
  REQUIRE(r);
  CHECK(r->result_int() == 200);
  CHECK(header(r->base(), "Content-Length") == "11");
  const auto next = c.exchange(get("/after"));
  REQUIRE(next);
  CHECK(next->body() == "h2 /after");
}

TEST_CASE("h2 bridge: the server's trailers reach a client that sent TE: trailers, only that one") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  Client with(lbd.endpoint("web"));
  REQUIRE(
      send_all(with.fd, get("/trailers", "example.com", "TE: trailers\r\nConnection: close\r\n")));
  const auto raw = with.read_to_close();
  INFO(raw);
  CHECK(raw.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(raw.find("\r\n1\r\nt\r\n0\r\nx-origin-trailer: yes\r\n\r\n") != std::string::npos);

  Client without(lbd.endpoint("web"));
  REQUIRE(send_all(without.fd, get("/trailers", "example.com", "Connection: close\r\n")));
  const auto plain = without.read_to_close();
  INFO(plain);
  CHECK(plain.find("200 OK") != std::string::npos);
  CHECK(plain.find("x-origin-trailer") == std::string::npos);
}

TEST_CASE("h2 bridge: a stream the server resets gets 502") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  const auto r = round_trip(lbd.endpoint("web"), get("/reset"));
  REQUIRE(r);
  CHECK(r->result_int() == 502);
  CHECK(origin.requests() == 1);
}

TEST_CASE("h2 bridge: a stream reset after the response began closes the client connection") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  Client c(lbd.endpoint("web"));
  REQUIRE(send_all(c.fd, get("/cut")));
  const auto raw = c.read_to_close();  // lbd closes: the keep-alive connection ends
  INFO(raw);
  CHECK(raw.find("Transfer-Encoding: chunked") != std::string::npos);
  CHECK(raw.find(std::string(1000, 'c')) != std::string::npos);
  CHECK(raw.find("\r\n0\r\n\r\n") == std::string::npos);  // never ended as complete
}

TEST_CASE("h2 bridge: a WebSocket upgrade to an h2 pool is refused with 501") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  const auto r = round_trip(
      lbd.endpoint("web"),
      get("/ws", "example.com",
          "Connection: Upgrade\r\nUpgrade: websocket\r\n"
          "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"));
  REQUIRE(r);
  CHECK(r->result_int() == 501);
  CHECK(origin.requests() == 0);
}

TEST_CASE(
    "h2 bridge: keep-alive requests of one client and concurrent clients share one "
    "HTTP/2 connection") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  const auto ep = lbd.endpoint("web");
  Client c(ep);
  for (int i = 0; i < 5; ++i) {
    const auto r = c.exchange(get(fmt::format("/k{}", i)));
    REQUIRE(r);
    CHECK(r->body() == fmt::format("h2 /k{}", i));
  }
  std::vector<std::future<std::string>> held;
  for (int i = 0; i < 8; ++i) {
    held.push_back(std::async(std::launch::async, [&ep] {
      Client h(ep);
      const auto r = h.exchange(get("/hold?ms=400"));
      return r ? r->body() : std::string("none");
    }));
  }
  for (auto& h : held) CHECK(h.get() == "held");
  CHECK(origin.connections() == 1);
  CHECK(origin.max_open_streams() >= 2);
  CHECK(origin.requests() == 13);
}

TEST_CASE("h2 bridge: a client that does not read holds the server to lbd's windows") {
  H2Origin origin;
  InProcessLbd lbd(bridge_config(origin.address()));
  const auto ep = lbd.endpoint("web");
  Client c(ep);
  const int small = 64 * 1024;  // a small receive window: the kernel holds little of the body
  ::shutdown(c.fd, SHUT_RDWR);
  ::close(c.fd);
  c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(c.fd >= 0);
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  timeval tv{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(c.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_storage ss{};
  const auto len = ep.to_sockaddr(ss);
  REQUIRE(::connect(c.fd, reinterpret_cast<sockaddr*>(&ss), len) == 0);
  constexpr std::size_t kSize = 32 * 1024 * 1024;
  REQUIRE(send_all(c.fd, get(fmt::format("/big?n={}", kSize))));
  // The origin gets bytes out until every window and buffer between it and the client is full.
  std::size_t queued = 0;
  const bool settled = wait_until(
      [&] {
        const auto now = origin.big_bytes_queued();
        const bool still = now > 0 && now == queued;
        queued = now;
        return still;
      },
      10000ms, 300ms);
  CHECK(settled);
  MESSAGE("origin queued " << queued << " bytes for a client that does not read");
  CHECK(queued < 8 * 1024 * 1024);
  const auto r = read_response(c.fd, c.buf);
  REQUIRE(r);
  CHECK(r->body().size() == kSize);
}
