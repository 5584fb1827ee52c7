// L7 (mode = "http") through a real lbd Server in this process with in-process origins: headers,
// keep-alive and upstream reuse, routing, bodies both ways, 100-continue, Upgrade, IPv6.
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;

TEST_CASE("http: a GET gets forwarding headers and loses hop-by-hop headers both ways") {
  Origin origin("o", [](const Request&) {
    Response res{http::status::ok, 11};
    res.set("Keep-Alive", "timeout=5");
    res.set("Connection", "X-Internal");
    res.set("X-Internal", "secret");
    res.body() = "hi";
    res.prepare_payload();
    return res;
  });
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());

  auto res = round_trip(lbd.endpoint("web"),
                        get("/p?q=1", "www.example.com:8080",
                            "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 300\r\n"
                            "TE: trailers\r\nProxy-Connection: keep-alive\r\n"
                            "X-Forwarded-For: 192.0.2.1\r\nX-End: kept\r\n"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(res->body() == "hi");
  CHECK(header(res->base(), "Keep-Alive") == "<none>");
  CHECK(header(res->base(), "X-Internal") == "<none>");
  CHECK(header(res->base(), "Via") == "1.1 lbd");

  REQUIRE(origin.count() == 1);
  const auto req = origin.seen().at(0);
  CHECK(req.target() == "/p?q=1");
  CHECK(header(req.base(), "X-Forwarded-For") == "192.0.2.1, 127.0.0.1");
  CHECK(header(req.base(), "X-Forwarded-Proto") == "http");
  CHECK(header(req.base(), "X-Forwarded-Host") == "www.example.com:8080");
  CHECK(header(req.base(), "Forwarded") ==
        "for=127.0.0.1;host=\"www.example.com:8080\";proto=http");
  CHECK(header(req.base(), "Via") == "1.1 lbd");
  CHECK(header(req.base(), "Host") == "www.example.com:8080");
  CHECK(header(req.base(), "X-End") == "kept");
  for (auto name : {"X-Hop", "Keep-Alive", "TE", "Proxy-Connection", "Connection"}) {
    CHECK_MESSAGE(header(req.base(), name) == "<none>", name);
  }
}

TEST_CASE("http: forward_headers chooses the forwarding headers lbd writes") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.listener_extra = "forward_headers = [\"x-forwarded-for\"]";
  InProcessLbd lbd(c.text());
  auto res = round_trip(lbd.endpoint("web"), get("/", "www.example.com",
                                                 "X-Forwarded-Proto: https\r\nVia: 1.0 edge\r\n"));
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(header(res->base(), "Via") == "<none>");
  REQUIRE(origin.count() == 1);
  const auto req = origin.seen().at(0);
  CHECK(header(req.base(), "X-Forwarded-For") == "127.0.0.1");
  CHECK(header(req.base(), "X-Forwarded-Proto") == "https");  // the client's, passed through
  CHECK(header(req.base(), "X-Forwarded-Host") == "<none>");
  CHECK(header(req.base(), "Forwarded") == "<none>");
  CHECK(header(req.base(), "Via") == "1.0 edge");
}

TEST_CASE("http: keep-alive client requests reuse pooled upstream connections") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());

  for (int conn = 0; conn < 3; ++conn) {
    const int fd = connect_to(lbd.endpoint("web"));
    REQUIRE(fd >= 0);
    std::string buf;
    for (int i = 0; i < 5; ++i) {
      REQUIRE(send_all(fd, get(fmt::format("/{}/{}", conn, i))));
      auto res = read_response(fd, buf);
      REQUIRE(res);
      CHECK(res->body() == fmt::format("o /{}/{}", conn, i));
      CHECK(res->keep_alive());
    }
    ::close(fd);
  }
  CHECK(origin.count() == 15);
  CHECK(backend.connections() == 1);
}

TEST_CASE("http: pipelined requests are answered in order") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, get("/a") + get("/b") + get("/c")));
  std::string buf;
  for (auto path : {"/a", "/b", "/c"}) {
    auto res = read_response(fd, buf);
    REQUIRE(res);
    CHECK(res->body() == std::string("o ") + path);
  }
  ::close(fd);
}

TEST_CASE("http: the routing table sends requests to the pool of the first matching route") {
  Origin d("default"), api("api"), beta("beta"), admin("admin");
  TestBackend bd(d.handler()), bapi(api.handler()), bbeta(beta.handler()), badmin(admin.handler());
  HttpConfig c{.pools = {{"d", {bd.address()}},
                         {"api", {bapi.address()}},
                         {"beta", {bbeta.address()}},
                         {"admin", {badmin.address()}}}};
  c.routes = R"(
[[listener.route]]
pool = "beta"
[[listener.route.cookie]]
name = "beta"
equals = "1"
[[listener.route]]
pool = "api"
host = "api.example.com"
[[listener.route]]
pool = "api"
path_prefix = "/api/"
methods = ["GET"]
[[listener.route]]
pool = "admin"
host = "*.admin.example.com"
path_regex = "^/v[0-9]+/"
[[listener.route]]
pool = "admin"
[[listener.route.header]]
name = "X-Admin"
present = true
)";
  InProcessLbd lbd(c.text());
  const auto ep = lbd.endpoint("web");
  auto backend_of = [&](const std::string& raw) {
    auto res = round_trip(ep, raw);
    return res ? header(res->base(), "X-Backend") : std::string("<no response>");
  };
  CHECK(backend_of(get("/")) == "default");
  CHECK(backend_of(get("/", "API.example.com:80")) == "api");
  CHECK(backend_of(get("/api/x")) == "api");
  CHECK(backend_of("POST /api/x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n") == "default");
  CHECK(backend_of(get("/v2/x", "eu.admin.example.com")) == "admin");
  CHECK(backend_of(get("/x/v2/", "eu.admin.example.com")) == "default");
  CHECK(backend_of(get("/", "h", "X-Admin: yes\r\n")) == "admin");
  CHECK(backend_of(get("/api/x", "h", "Cookie: a=b; beta=1\r\n")) == "beta");
  CHECK(backend_of("GET http://api.example.com/x HTTP/1.1\r\nHost: other\r\n\r\n") == "api");
}

TEST_CASE("http: a 10 MiB Content-Length body arrives byte-exact both ways") {
  Origin origin("o", Origin::echo(false));
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto data = random_bytes(10 * 1024 * 1024, 7);
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::thread sender([&] {
    send_all(
        fd, fmt::format("POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n", data.size()));
    send_all(fd, data);
  });
  std::string buf;
  auto res = read_response(fd, buf);
  sender.join();
  ::close(fd);
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  REQUIRE(origin.count() == 1);
  CHECK(sha256_hex(origin.seen()[0].body()) == sha256_hex(data));
  CHECK(res->body().size() == data.size());
  CHECK(sha256_hex(res->body()) == sha256_hex(data));
}

TEST_CASE("http: a chunked request body and a chunked response arrive byte-exact") {
  Origin origin("o", Origin::echo(true));
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const auto data = random_bytes(3 * 1024 * 1024 + 17, 9);
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::thread sender([&] {
    send_all(fd, "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
    std::size_t off = 0, size = 1;
    while (off < data.size()) {  // chunk sizes 1, 3, 7, ... up to 64 KiB
      const auto n = std::min(size, data.size() - off);
      send_all(fd, fmt::format("{:x};ext=1\r\n", n) + data.substr(off, n) + "\r\n");
      off += n;
      size = std::min<std::size_t>(size * 2 + 1, 65536);
    }
    send_all(fd, "0\r\n\r\n");
  });
  std::string buf;
  auto res = read_response(fd, buf);
  sender.join();
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(res->chunked());
  REQUIRE(origin.count() == 1);
  CHECK(origin.seen()[0].chunked());
  CHECK(sha256_hex(origin.seen()[0].body()) == sha256_hex(data));
  CHECK(sha256_hex(res->body()) == sha256_hex(data));
  // The connection stays usable after a chunked exchange.
  REQUIRE(send_all(fd, get("/after")));
  auto again = read_response(fd, buf);
  REQUIRE(again);
  CHECK(again->result_int() == 200);
  ::close(fd);
}

TEST_CASE("http: a HEAD response with Content-Length has no body and keeps the connection") {
  Origin origin("o", [](const Request&) {
    Response res{http::status::ok, 11};
    res.content_length(12345);
    return res;
  });
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::string buf;
  REQUIRE(send_all(fd, "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto res = read_response(fd, buf, true);
  REQUIRE(res);
  CHECK(header(res->base(), "Content-Length") == "12345");
  ::close(fd);
}

TEST_CASE("http: Expect 100-continue gets 100 before the body, and 413 when too large") {
  Origin origin("o", Origin::echo(false));
  TestBackend backend(origin.handler());
  HttpConfig c{.pools = {{"app", {backend.address()}}}};
  c.limits = "max_body_size = \"1KiB\"";
  InProcessLbd lbd(c.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd,
                   "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                   "Content-Length: 5\r\n\r\n"));
  std::string buf;
  auto interim = read_response(fd, buf);
  REQUIRE(interim);
  CHECK(interim->result_int() == 100);
  REQUIRE(send_all(fd, "hello"));
  auto res = read_response(fd, buf);
  REQUIRE(res);
  CHECK(res->result_int() == 200);
  CHECK(res->body() == "hello");
  CHECK(header(origin.seen().at(0).base(), "Expect") == "<none>");
  ::close(fd);

  auto big = round_trip(lbd.endpoint("web"),
                        "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
                        "Content-Length: 5000\r\n\r\n");
  REQUIRE(big);
  CHECK(big->result_int() == 413);
  CHECK(origin.count() == 1);
}

TEST_CASE("http: an Upgrade switches to a byte relay after 101") {
  TestBackend backend([](int fd) {
    std::string buf;
    auto req = read_request(fd, buf);
    if (!req || header(req->base(), "Upgrade") != "echo" ||
        header(req->base(), "Connection") != "upgrade") {
      send_all(fd, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    send_all(fd,
             "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
    send_all(fd, buf);  // bytes that came right after the request
    char chunk[4096];
    for (;;) {
      const auto n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      send_all(fd, std::string_view(chunk, static_cast<std::size_t>(n)));
    }
    ::shutdown(fd, SHUT_WR);
  });
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, get("/ws", "h", "Connection: Upgrade\r\nUpgrade: echo\r\n")));
  std::string buf;
  auto res = read_response(fd, buf, true);
  REQUIRE(res);
  CHECK(res->result_int() == 101);
  CHECK(header(res->base(), "Upgrade") == "echo");
  const auto payload = random_bytes(256 * 1024, 3);
  std::thread sender([&] {
    send_all(fd, payload);
    ::shutdown(fd, SHUT_WR);
  });
  bool ok = false;
  auto back = buf + read_to_eof(fd, &ok);
  sender.join();
  ::close(fd);
  CHECK(ok);
  CHECK(back.size() == payload.size());
  CHECK(sha256_hex(back) == sha256_hex(payload));
}

TEST_CASE("http: an IPv6 listener proxies and reports the IPv6 client") {
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}, .bind = "[::1]:0"}.text());
  const auto ep = lbd.endpoint("web");
  CHECK(ep.address.is_v6());
  auto res = round_trip(ep, get("/six"));
  REQUIRE(res);
  CHECK(res->body() == "o /six");
  REQUIRE(origin.count() == 1);
  CHECK(header(origin.seen()[0].base(), "X-Forwarded-For") == "::1");
  CHECK(header(origin.seen()[0].base(), "Forwarded") ==
        "for=\"[::1]\";host=example.com;proto=http");
}

TEST_CASE("http: an HTTP/1.0 client gets a decoded body and a closed connection") {
  Origin origin("o", Origin::echo(true));
  TestBackend backend(origin.handler());
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, "POST / HTTP/1.0\r\nHost: h\r\nContent-Length: 4\r\n\r\nabcd"));
  bool ok = false;
  const auto raw = read_to_eof(fd, &ok);
  ::close(fd);
  CHECK(ok);
  CHECK(raw.find("Transfer-Encoding") == std::string::npos);
  CHECK(raw.ends_with("\r\n\r\nabcd"));
}

TEST_CASE("http: request and response headers longer than one read arrive whole") {
  // The backend writes its response header in three pieces, with pauses, so lbd parses it
  // across reads; the client sends a 6 KB request header (longer than every first read).
  const std::string big(6000, 'b');
  TestBackend backend([&](int fd) {
    std::string buf;
    while (auto req = read_request(fd, buf)) {
      const std::string seen = header(req->base(), "X-Big") == big ? "yes" : "no";
      for (const std::string& part :
           {std::string("HTTP/1.1 200 OK\r\nX-One: 1\r\nX-Lo"),
            "ng: " + std::string(5000, 'l') + "\r\nX-Seen: " + seen + "\r\n",
            std::string("Content-Length: 2\r\n\r\nok")}) {
        if (!send_all(fd, part)) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  });
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {backend.address()}}}}.text());
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  std::string buf;
  for (int i = 0; i < 2; ++i) {  // the second one comes to a parked keep-alive connection
    REQUIRE(send_all(fd, get("/", "example.com", "X-Big: " + big + "\r\n")));
    auto res = read_response(fd, buf);
    REQUIRE(res);
    CHECK(res->result_int() == 200);
    CHECK(header(res->base(), "X-Seen") == "yes");
    CHECK(header(res->base(), "X-Long") == std::string(5000, 'l'));
    CHECK(res->body() == "ok");
  }
  ::close(fd);
}
