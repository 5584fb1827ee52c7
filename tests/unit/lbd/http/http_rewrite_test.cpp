#include "lbd/http/http_rewrite.hpp"

#include <doctest/doctest.h>

#include <array>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace {

namespace http = boost::beast::http;
using lbd::proxy::check_request_framing;

/// Runs a raw request header through the same steps as the session: Beast's parser, the obs-fold
/// scan and the framing check. Returns "ok" or why the request is refused.
std::string verdict(std::string_view raw) {
  http::request_parser<http::empty_body> p;
  p.eager(false);
  boost::system::error_code ec;
  auto n = p.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  if (ec) return "beast: " + ec.message();
  if (!p.is_header_done()) return "incomplete";
  if (lbd::proxy::has_obs_fold(raw.substr(0, n))) return "obs-fold";
  if (auto why = check_request_framing(p.get().base(), p.get().version())) return std::string(*why);
  return "ok";
}

/// Parses a whole chunked request with a body; returns the Beast error text or the body.
std::string chunked_body(std::string_view raw) {
  http::request_parser<http::string_body> p;
  boost::system::error_code ec;
  auto consumed = p.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  while (!ec && !p.is_done() && consumed < raw.size()) {
    raw.remove_prefix(consumed);
    consumed = p.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  }
  if (ec) return "error";
  return p.is_done() ? p.get().body() : "incomplete";
}

http::fields parse_fields(std::string_view raw) {
  http::request_parser<http::empty_body> p;
  boost::system::error_code ec;
  p.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  REQUIRE_FALSE(ec);
  return p.release().base();
}

/// What the next hop receives: `raw` (a request header) through append_rewritten_fields, parsed
/// back into fields.
http::fields rewritten(std::string_view raw, const lbd::proxy::FieldRewrite& rewrite) {
  std::string out = "GET / HTTP/1.1\r\n";
  lbd::proxy::append_rewritten_fields(out, parse_fields(raw), rewrite);
  return parse_fields(out);
}

std::string value(const http::fields& f, std::string_view name) {
  auto it = f.find(boost::beast::string_view(name.data(), name.size()));
  return it == f.end() ? "<none>" : std::string(it->value());
}

}  // namespace

TEST_CASE("http smuggling: a plain request with Content-Length passes") {
  CHECK(verdict("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n") == "ok");
  CHECK(verdict("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n") == "ok");
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\n\r\n") == "ok");
}

TEST_CASE("http smuggling: Content-Length with Transfer-Encoding is refused in either order") {
  CHECK(verdict("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n") !=
        "ok");
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n") !=
        "ok");
  // Beast lets a non-chunked Transfer-Encoding pass next to Content-Length; our check does not.
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 5\r\n\r\n") ==
        "both Transfer-Encoding and Content-Length");
}

TEST_CASE("http smuggling: differing duplicate Content-Length is refused, equal ones pass") {
  CHECK(verdict("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n") != "ok");
  CHECK(verdict("POST / HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n") != "ok");
  CHECK(verdict("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n") == "ok");
  CHECK(verdict("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n") != "ok");
}

TEST_CASE("http smuggling: obs-fold is refused") {
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n") == "obs-fold");
  CHECK(verdict("GET / HTTP/1.1\r\nHost: h\r\nX-A:\r\n\ttwo\r\n\r\n") == "obs-fold");
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n") == "obs-fold");
}

TEST_CASE("http smuggling: Transfer-Encoding must end in exactly one chunked") {
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") ==
        "Transfer-Encoding without a final chunked");
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n") ==
        "Transfer-Encoding without a final chunked");
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n") ==
        "Transfer-Encoding without a final chunked");
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n") ==
        "Transfer-Encoding without a final chunked");
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n") ==
        "Transfer-Encoding other than chunked");
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n") == "ok");
  CHECK(verdict("POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n") == "ok");
  // Split over two headers, chunked then something else: Beast refuses the duplicate.
  CHECK(
      verdict("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n") !=
      "ok");
  CHECK(verdict("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n") ==
        "Transfer-Encoding in an HTTP/1.0 request");
}

TEST_CASE("http smuggling: malformed request lines and header names are refused by Beast") {
  CHECK(verdict("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n") != "ok");
  CHECK(verdict("GET / HTTP/1.1\r\n: x\r\n\r\n") != "ok");
  CHECK(verdict("GET  / HTTP/1.1\r\n\r\n") != "ok");
  CHECK(verdict("GET / HTTP/2.5x\r\n\r\n") != "ok");
}

TEST_CASE("http smuggling: invalid chunk sizes are refused by Beast") {
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  CHECK(chunked_body(head + "5\r\nhello\r\n0\r\n\r\n") == "hello");
  CHECK(chunked_body(head + "zz\r\nhello\r\n0\r\n\r\n") == "error");
  CHECK(chunked_body(head + "-5\r\nhello\r\n0\r\n\r\n") == "error");
  CHECK(chunked_body(head + "fffffffffffffffffff\r\nhello\r\n0\r\n\r\n") == "error");
  CHECK(chunked_body(head + "5 5\r\nhello\r\n0\r\n\r\n") == "error");
  CHECK(chunked_body(head + "3\r\nhello\r\n0\r\n\r\n") == "error");
}

TEST_CASE("http rewrite: Connection and the headers it names are removed") {
  const auto f = rewritten(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, X-Secret, Content-Length, Host\r\n"
      "X-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nTrailer: X-T\r\n"
      "Proxy-Connection: keep-alive\r\nUpgrade: websocket\r\nContent-Length: 0\r\nX-Kept: "
      "k\r\n\r\n",
      {});
  CHECK(value(f, "Connection") == "<none>");
  CHECK(value(f, "X-Secret") == "<none>");
  CHECK(value(f, "Keep-Alive") == "<none>");
  CHECK(value(f, "TE") == "<none>");
  CHECK(value(f, "Trailer") == "<none>");
  CHECK(value(f, "Proxy-Connection") == "<none>");
  CHECK(value(f, "Upgrade") == "<none>");
  // Framing and Host cannot be stripped by naming them in Connection.
  CHECK(value(f, "Content-Length") == "0");
  CHECK(value(f, "Host") == "h");
  CHECK(value(f, "X-Kept") == "k");
  // A response (no forwarding) still gets this proxy in Via.
  CHECK(value(f, "Via") == "1.1 lbd");
}

TEST_CASE("http rewrite: more names in Connection than fit inline are all removed") {
  std::string raw = "GET / HTTP/1.1\r\nHost: h\r\nConnection: ";
  for (int i = 0; i < 12; ++i) raw += "X-H" + std::to_string(i) + (i < 11 ? ", " : "\r\n");
  for (int i = 0; i < 12; ++i) raw += "x-h" + std::to_string(i) + ": v\r\n";
  raw += "X-Kept: k\r\n\r\n";
  const auto f = rewritten(raw, {});
  for (int i = 0; i < 12; ++i) CHECK(value(f, "X-H" + std::to_string(i)) == "<none>");
  CHECK(value(f, "X-Kept") == "k");
}

TEST_CASE("http rewrite: Upgrade is kept for an upgrade request and Connection is set") {
  const auto f =
      rewritten("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                {.keep_upgrade = true, .connection = "upgrade"});
  CHECK(value(f, "Upgrade") == "websocket");
  CHECK(value(f, "Connection") == "upgrade");
  CHECK(f.count(boost::beast::http::field::connection) == 1);
}

TEST_CASE("http rewrite: X-Forwarded-For appends, other forwarding headers are replaced") {
  const lbd::proxy::ForwardInfo info{.client = *lb::IpAddress::parse("198.51.100.1"),
                                     .host = "www.example.com"};
  const auto f = rewritten(
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-For: 192.0.2.8\r\n"
      "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n\r\n",
      {.forward = &info});
  CHECK(value(f, "X-Forwarded-For") == "192.0.2.7, 192.0.2.8, 198.51.100.1");
  CHECK(f.count(boost::beast::string_view("X-Forwarded-For")) == 1);
  CHECK(value(f, "X-Forwarded-Proto") == "http");
  CHECK(f.count(boost::beast::string_view("X-Forwarded-Proto")) == 1);
  CHECK(value(f, "X-Forwarded-Host") == "www.example.com");
  CHECK(f.count(boost::beast::string_view("X-Forwarded-Host")) == 1);
  CHECK(value(f, "Forwarded") == "for=198.51.100.1;host=www.example.com;proto=http");
  CHECK(value(f, "Via") == "1.1 lbd");
}

TEST_CASE("http rewrite: Forwarded quotes IPv6 and host:port, and appends to earlier elements") {
  const lbd::proxy::ForwardInfo info{.client = *lb::IpAddress::parse("2001:db8::1"),
                                     .host = "example.com:8080"};
  const auto f =
      rewritten("GET / HTTP/1.1\r\nHost: h\r\nForwarded: for=192.0.2.1\r\nVia: 1.0 edge\r\n\r\n",
                {.forward = &info, .via_version = 10});
  CHECK(value(f, "Forwarded") ==
        "for=192.0.2.1, for=\"[2001:db8::1]\";host=\"example.com:8080\";proto=http");
  CHECK(value(f, "X-Forwarded-For") == "2001:db8::1");
  CHECK(value(f, "Via") == "1.0 edge, 1.0 lbd");
}

TEST_CASE("http rewrite: a v4-mapped IPv6 client is written as IPv4") {
  const lbd::proxy::ForwardInfo info{.client = *lb::IpAddress::parse("::ffff:192.0.2.9")};
  const auto f = rewritten("GET / HTTP/1.1\r\nHost: h\r\n\r\n", {.forward = &info});
  CHECK(value(f, "X-Forwarded-For") == "192.0.2.9");
  CHECK(value(f, "Forwarded") == "for=192.0.2.9;proto=http");
  CHECK(value(f, "X-Forwarded-Host") == "<none>");
}

TEST_CASE("http rewrite: a forwarding header named in Connection is dropped before appending") {
  const lbd::proxy::ForwardInfo info{.client = *lb::IpAddress::parse("198.51.100.1")};
  const auto f = rewritten(
      "GET / HTTP/1.1\r\nHost: h\r\nConnection: X-Forwarded-For\r\n"
      "X-Forwarded-For: 192.0.2.7\r\n\r\n",
      {.forward = &info});
  CHECK(value(f, "X-Forwarded-For") == "198.51.100.1");
}

TEST_CASE("http rewrite: dropped fields, added fields and a replaced Cookie") {
  const std::array<std::string_view, 2> drop{"expect", "X-Client-Subject"};
  const std::array<lbd::proxy::AddedField, 1> add{{{"X-Client-Subject", "CN=real"}}};
  const auto f = rewritten(
      "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nX-Client-Subject: CN=forged\r\n"
      "Cookie: a=1; lb=x\r\nCookie: b=2\r\n\r\n",
      {.drop = drop, .add = add, .cookie = "a=1"});
  CHECK(value(f, "Expect") == "<none>");
  CHECK(value(f, "X-Client-Subject") == "CN=real");
  CHECK(f.count(boost::beast::string_view("X-Client-Subject")) == 1);
  CHECK(value(f, "Cookie") == "a=1");
  CHECK(f.count(boost::beast::http::field::cookie) == 1);
  // An empty replacement drops the Cookie header.
  const auto g = rewritten("GET / HTTP/1.1\r\nHost: h\r\nCookie: lb=x\r\n\r\n", {.cookie = ""});
  CHECK(value(g, "Cookie") == "<none>");
}

TEST_CASE("http rewrite: forwarding headers not chosen pass through as the client sent them") {
  const lbd::proxy::ForwardInfo info{.client = *lb::IpAddress::parse("198.51.100.1"),
                                     .host = "www.example.com"};
  const std::string raw =
      "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: https\r\n"
      "Forwarded: for=192.0.2.7\r\nVia: 1.0 edge\r\n\r\n";
  const auto only_xff = rewritten(raw, {.forward = &info, .headers = lbd::proxy::kXForwardedFor});
  CHECK(value(only_xff, "X-Forwarded-For") == "192.0.2.7, 198.51.100.1");
  CHECK(value(only_xff, "X-Forwarded-Proto") == "https");
  CHECK(value(only_xff, "X-Forwarded-Host") == "<none>");
  CHECK(value(only_xff, "Forwarded") == "for=192.0.2.7");
  CHECK(value(only_xff, "Via") == "1.0 edge");
  const auto none = rewritten(raw, {.forward = &info, .headers = 0});
  CHECK(value(none, "X-Forwarded-For") == "192.0.2.7");
  CHECK(value(none, "Via") == "1.0 edge");
  CHECK(value(none, "Host") == "h");
  // Hop-by-hop removal does not depend on the choice.
  const auto hop = rewritten("GET / HTTP/1.1\r\nHost: h\r\nConnection: X-A\r\nX-A: 1\r\n\r\n",
                             {.forward = &info, .headers = 0});
  CHECK(value(hop, "X-A") == "<none>");
  CHECK(value(hop, "Connection") == "<none>");
}

TEST_CASE("http rewrite: forward_headers names map to their bits in any case") {
  CHECK(lbd::proxy::forward_header_bit("x-forwarded-for") == lbd::proxy::kXForwardedFor);
  CHECK(lbd::proxy::forward_header_bit("X-Forwarded-Proto") == lbd::proxy::kXForwardedProto);
  CHECK(lbd::proxy::forward_header_bit("x-forwarded-HOST") == lbd::proxy::kXForwardedHost);
  CHECK(lbd::proxy::forward_header_bit("Forwarded") == lbd::proxy::kForwarded);
  CHECK(lbd::proxy::forward_header_bit("VIA") == lbd::proxy::kVia);
  CHECK_FALSE(lbd::proxy::forward_header_bit("x-real-ip"));
  CHECK_FALSE(lbd::proxy::forward_header_bit(""));
}

namespace {

/// The raw header block the next hop receives for `raw`.
std::string rewritten_text(std::string_view raw, const lbd::proxy::FieldRewrite& rewrite) {
  std::string out;
  lbd::proxy::append_rewritten_fields(out, parse_fields(raw), rewrite);
  return out;
}

std::size_t occurrences(std::string_view text, std::string_view what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string_view::npos; pos = text.find(what, pos + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("http rewrite: framing headers are written from the parser's decision") {
  using lbd::proxy::Framing;
  const Framing five{Framing::Kind::length, 5};
  // A list-valued or doubled Content-Length that Beast accepts goes out as one value.
  CHECK(rewritten_text("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n",
                       {.framing = five}) ==
        "Host: h\r\nContent-Length: 5\r\nVia: 1.1 lbd\r\n\r\n");
  const auto twice =
      rewritten_text("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n",
                     {.framing = five});
  CHECK(occurrences(twice, "Content-Length") == 1);
  CHECK(occurrences(twice, "content-length") == 0);
  // Any spelling of chunked becomes the canonical one.
  const auto upper =
      rewritten_text("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED\r\n\r\n",
                     {.framing = Framing{Framing::Kind::chunked}});
  CHECK(occurrences(upper, "CHUNKED") == 0);
  CHECK(occurrences(upper, "Transfer-Encoding: chunked\r\n") == 1);
  // No body: neither header.
  const auto none = rewritten_text("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
                                   {.framing = Framing{Framing::Kind::none}});
  CHECK(occurrences(none, "Content-Length") == 0);
  // Kind::pass (the default) copies them as received.
  CHECK(occurrences(rewritten_text("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", {}),
                    "Content-Length: 0") == 1);
}

TEST_CASE("http rewrite: underscore spellings of the headers lbd vouches for are removed") {
  const lbd::proxy::ForwardInfo info{.client = *lb::IpAddress::parse("198.51.100.1"),
                                     .host = "www.example.com"};
  const std::array<std::string_view, 1> drop{"X-Client-Subject"};
  const std::array<lbd::proxy::AddedField, 1> add{{{"X-Client-Subject", "CN=real"}}};
  const auto text = rewritten_text(
      "GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_For: 6.6.6.6\r\nx_forwarded-proto: https\r\n"
      "X-Forwarded_Host: evil\r\nX_Client_Subject: CN=forged\r\nX_Other_Header: kept\r\n\r\n",
      {.forward = &info, .drop = drop, .add = add});
  CHECK(occurrences(text, "6.6.6.6") == 0);
  CHECK(occurrences(text, "https") == 0);
  CHECK(occurrences(text, "evil") == 0);
  CHECK(occurrences(text, "CN=forged") == 0);
  CHECK(occurrences(text, "X_Other_Header: kept") == 1);
  CHECK(occurrences(text, "X-Client-Subject: CN=real") == 1);
  CHECK(lbd::proxy::underscore_variant("x_FORWARDED_for", "X-Forwarded-For"));
  CHECK_FALSE(lbd::proxy::underscore_variant("X-Forwarded-For", "X-Forwarded-For"));
  CHECK_FALSE(lbd::proxy::underscore_variant("X_Forwarded_Fo", "X-Forwarded-For"));
}

TEST_CASE("http rewrite: a header the listener does not write passes with underscores") {
  const lbd::proxy::ForwardInfo info{.client = *lb::IpAddress::parse("198.51.100.1")};
  const auto text = rewritten_text("GET / HTTP/1.1\r\nHost: h\r\nX_Forwarded_Host: mine\r\n\r\n",
                                   {.forward = &info, .headers = lbd::proxy::kXForwardedFor});
  CHECK(occurrences(text, "X_Forwarded_Host: mine") == 1);
}
