// The HTTP/1.1 fields lbd routes and rewrites an HTTP/2 request with (RFC 9113 §8.2.3, §8.3.1).
#include "lbd/h2/request_translation.hpp"

#include <doctest/doctest.h>

namespace http = boost::beast::http;
using lbd::h2::Request;
using lbd::h2::translate_request;

namespace {
std::string field(const http::fields& f, http::field name) {
  auto it = f.find(name);
  return it == f.end() ? std::string("(none)") : std::string(it->value());
}
}  // namespace

TEST_CASE("h2 request translation: :authority becomes Host and cookie crumbs one Cookie") {
  Request r{.method = "GET", .scheme = "https", .authority = "a.example", .path = "/x"};
  r.headers = {{"cookie", "a=1"}, {"accept", "*/*"}, {"cookie", "b=2"}, {"host", "ignored"}};
  const auto t = translate_request(r, 0);
  REQUIRE(t.has_value());
  CHECK(t->host == "a.example");
  CHECK(t->cookie == "a=1; b=2");
  CHECK(field(t->fields, http::field::host) == "a.example");
  CHECK(field(t->fields, http::field::cookie) == "a=1; b=2");
  CHECK(field(t->fields, http::field::accept) == "*/*");
  CHECK(std::distance(t->fields.begin(), t->fields.end()) == 3);  // one Host, one Cookie
  CHECK_FALSE(t->content_length.has_value());
}

TEST_CASE("h2 request translation: a Host field stands in for a missing :authority") {
  Request r{.method = "GET", .scheme = "http", .path = "/"};
  r.headers = {{"host", "b.example"}};
  const auto t = translate_request(r, 0);
  REQUIRE(t.has_value());
  CHECK(t->host == "b.example");
  CHECK(field(t->fields, http::field::host) == "b.example");
}

TEST_CASE("h2 request translation: no host, a malformed length or one over the limit is refused") {
  Request none{.method = "GET", .scheme = "http", .path = "/"};
  const auto a = translate_request(none, 0);
  REQUIRE_FALSE(a.has_value());
  CHECK(a.error().status == 400);

  Request bad{.method = "POST", .scheme = "http", .authority = "a", .path = "/"};
  bad.headers = {{"content-length", "12x"}};
  const auto b = translate_request(bad, 0);
  REQUIRE_FALSE(b.has_value());
  CHECK(b.error().status == 400);
  CHECK(b.error().why == "malformed content-length");

  Request big{.method = "POST", .scheme = "http", .authority = "a", .path = "/"};
  big.headers = {{"content-length", "1001"}};
  const auto c = translate_request(big, 1000);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().status == 413);
  const auto d = translate_request(big, 0);  // 0: no limit
  REQUIRE(d.has_value());
  CHECK(d->content_length == 1001);
}
