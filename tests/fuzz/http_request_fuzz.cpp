// libFuzzer target for the HTTP/1.1 request head path: the bytes a client sends, parsed by Beast
// with lbd's limits, judged by lbd's checks (obs-fold, version, framing, one Host), and for an
// accepted request the head lbd writes to the backend (append_rewritten_fields). Besides crashes
// and overreads it checks what request smuggling needs to break: the backend, parsing the head lbd
// wrote, sees exactly the framing lbd decided; no hop-by-hop header, no client-supplied
// forwarding header or underscore spelling of one reaches it; exactly one Host.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "common/net/ip_address.hpp"
#include "lbd/http/http_rewrite.hpp"

namespace http = boost::beast::http;
using lbd::proxy::Framing;
using lbd::proxy::sv;

namespace {

constexpr std::size_t kMaxHeader = 8 * 1024;

bool contains_field(const http::fields& f, std::string_view name) {
  for (const auto& field : f) {
    if (boost::beast::iequals(field.name_string(), lbd::proxy::bsv(name))) return true;
  }
  return false;
}

std::size_t count_field(const http::fields& f, std::string_view name) {
  std::size_t n = 0;
  for (const auto& field : f) {
    if (boost::beast::iequals(field.name_string(), lbd::proxy::bsv(name))) ++n;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  http::request_parser<http::empty_body> hp;
  hp.header_limit(kMaxHeader);
  hp.eager(false);
  boost::beast::error_code ec;
  std::size_t parsed = 0;
  try {
    parsed = hp.put(boost::asio::buffer(input.data(), input.size()), ec);
  } catch (const std::length_error&) {
    return 0;  // a field over 64 KiB: lbd answers 431
  }
  if (ec || !hp.is_header_done()) return 0;
  if (lbd::proxy::has_obs_fold(input.substr(0, parsed))) return 0;
  const auto& req = hp.get();
  if (req.version() != 10 && req.version() != 11) return 0;
  if (lbd::proxy::check_request_framing(req.base(), req.version())) return 0;
  const auto hosts = req.count(http::field::host);
  if ((req.version() == 11 && hosts != 1) || hosts > 1) return 0;

  // The framing lbd tells the backend: the parser's decision, never the client's text.
  Framing framing{Framing::Kind::none};
  if (hp.chunked()) {
    framing = Framing{Framing::Kind::chunked};
  } else if (const auto len = hp.content_length()) {
    framing = Framing{Framing::Kind::length, *len};
  }
  const lbd::proxy::ForwardInfo forward{.client = *lb::IpAddress::parse("192.0.2.7"),
                                        .client_text = "192.0.2.7",
                                        .proto = "http",
                                        .host = sv(req[http::field::host])};
  std::string out;
  out.append(sv(req.method_string())).append(" ").append(sv(req.target())).append(" HTTP/1.1\r\n");
  lbd::proxy::append_rewritten_fields(
      out, req.base(), lbd::proxy::FieldRewrite{.forward = &forward, .framing = framing});

  // The backend's view of that head.
  http::request_parser<http::empty_body> backend;
  backend.header_limit(4 * kMaxHeader);
  backend.eager(false);
  const std::size_t used = backend.put(boost::asio::buffer(out.data(), out.size()), ec);
  if (ec || !backend.is_header_done() || used != out.size()) std::abort();
  const auto& seen = backend.get();
  switch (framing.kind) {
    case Framing::Kind::chunked:
      if (!backend.chunked() || seen.count(http::field::content_length) != 0) std::abort();
      break;
    case Framing::Kind::length:
      if (backend.chunked() || backend.content_length() != framing.length ||
          seen.count(http::field::content_length) != 1) {
        std::abort();
      }
      break;
    case Framing::Kind::none:
    case Framing::Kind::pass:
      if (backend.chunked() || backend.content_length()) std::abort();
      break;
  }
  for (const std::string_view hop :
       {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}) {
    if (contains_field(seen.base(), hop)) std::abort();
  }
  if (count_field(seen.base(), "host") != 1 && req.version() == 11) std::abort();
  if (count_field(seen.base(), "x-forwarded-proto") != 1 ||
      sv(seen["X-Forwarded-Proto"]) != "http") {
    std::abort();
  }
  if (count_field(seen.base(), "x-forwarded-for") != 1) std::abort();
  const auto xff = sv(seen["X-Forwarded-For"]);
  if (!xff.ends_with("192.0.2.7")) std::abort();
  for (const std::string_view spoof :
       {"x_forwarded_for", "x_forwarded_proto", "x_forwarded_host"}) {
    if (contains_field(seen.base(), spoof)) std::abort();
  }
  return 0;
}
