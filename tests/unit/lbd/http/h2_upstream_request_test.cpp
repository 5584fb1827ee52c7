// The request header an HTTP/2 server gets (pool protocol = "h2"), from an HTTP/2 client or
// an HTTP/1.1 one.
#include "lbd/http/h2_upstream_request.hpp"

#include <doctest/doctest.h>

TEST_CASE("h2 upstream request: pseudo-header fields first, the rewritten fields, no Host") {
  const std::string head =
      "POST /svc/M HTTP/1.1\r\nHost: a.example\r\nContent-Type: application/grpc\r\n"
      "Transfer-Encoding: chunked\r\nX-Forwarded-For: 192.0.2.1\r\nConnection: close\r\n"
      "Via: 2 lbd\r\n\r\n";
  const auto f = lbd::proxy::upstream_h2_request({.method = "POST",
                                                  .scheme = "http",
                                                  .authority = "a.example",
                                                  .path = "/svc/M",
                                                  .te_trailers = true},
                                                 head);
  REQUIRE(f.size() == 8);
  CHECK(f[0].name == ":method");
  CHECK(f[1].value == "http");
  CHECK(f[2].value == "a.example");
  CHECK(f[3].value == "/svc/M");
  CHECK(f[4].name == "content-type");
  CHECK(f[4].value == "application/grpc");
  CHECK(f[5].name == "x-forwarded-for");
  CHECK(f[6].name == "via");
  CHECK(f[7].name == "te");
  CHECK(f[7].value == "trailers");
}

TEST_CASE("h2 upstream request: te: trailers is recognised among the client's fields") {
  CHECK(lbd::proxy::wants_trailers({{"te", "trailers"}}));
  CHECK(lbd::proxy::wants_trailers({{"te", "Trailers"}}));
  CHECK_FALSE(lbd::proxy::wants_trailers({{"accept", "trailers"}}));
}

TEST_CASE("h2 upstream request: an HTTP/1.1 header loses its hop-by-hop fields") {
  const std::string head =
      "GET /a?b=1 HTTP/1.1\r\nHost: h.example\r\nConnection: keep-alive, x-hop\r\n"
      "Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"
      "TE: trailers, deflate\r\nTransfer-Encoding: chunked\r\nHTTP2-Settings: AAMAAABk\r\n"
      "X-Forwarded-For: 192.0.2.7\r\n\r\n";
  const auto f = lbd::proxy::upstream_h2_request(
      {.method = "GET", .scheme = "https", .authority = "h.example", .path = "/a?b=1"}, head);
  REQUIRE(f.size() == 5);
  CHECK(f[0].value == "GET");
  CHECK(f[1].value == "https");
  CHECK(f[2].value == "h.example");
  CHECK(f[3].value == "/a?b=1");
  CHECK(f[4].name == "x-forwarded-for");
  CHECK(f[4].value == "192.0.2.7");
}

TEST_CASE("h2 upstream request: a TE field value lists the trailers token or not") {
  CHECK(lbd::proxy::te_has_trailers("trailers"));
  CHECK(lbd::proxy::te_has_trailers("deflate;q=0.5, Trailers"));
  CHECK(lbd::proxy::te_has_trailers(" trailers ;q=1"));
  CHECK_FALSE(lbd::proxy::te_has_trailers("deflate"));
  CHECK_FALSE(lbd::proxy::te_has_trailers("trailersx"));
  CHECK_FALSE(lbd::proxy::te_has_trailers(""));
}

TEST_CASE("h2 upstream request: :path is the origin form of the request target") {
  using lbd::proxy::origin_form;
  CHECK(origin_form("/a/b?c=1") == "/a/b?c=1");
  CHECK(origin_form("*") == "*");
  CHECK(origin_form("http://h.example:8080/p?q=1") == "/p?q=1");
  CHECK(origin_form("http://h.example") == "/");
  CHECK(origin_form("http://h.example?q") == "/?q");
}

TEST_CASE("h2 upstream request: no :authority for a request without a host") {
  const auto f = lbd::proxy::upstream_h2_request(
      {.method = "GET", .scheme = "http", .authority = "", .path = "/"},
      "GET / HTTP/1.0\r\nAccept: */*\r\n\r\n");
  REQUIRE(f.size() == 4);
  CHECK(f[0].name == ":method");
  CHECK(f[1].name == ":scheme");
  CHECK(f[2].name == ":path");
  CHECK(f[3].name == "accept");
}
