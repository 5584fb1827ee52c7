// The request header an HTTP/2 server gets from lbd (pool protocol = "h2"), built from the
// HTTP/1.1 header lbd writes for HTTP/1.1 servers, so that both carry the same rewrite
// (forwarding headers, persistence cookie, mTLS subject, hop-by-hop fields removed). Used for
// HTTP/2 clients (lbd/h2) and HTTP/1.1 clients (the bridge, h2_bridge.cpp) alike. Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "lbd/upstream_conn/h2_body_source.hpp"

namespace lbd::proxy {

struct UpstreamRequestLine {
  std::string_view method;
  std::string_view scheme;  // "https" under [pool.tls], else "http"
  std::string_view authority;
  std::string_view path;
  bool te_trailers = false;  // the client sent "te: trailers" (gRPC needs it end to end)
};

/// Pseudo-header fields first (no :authority when `line.authority` is empty: an HTTP/1.0
/// request without Host, RFC 9113 §8.3.1), then the fields of `rewritten_head` (request line,
/// "Name: value" lines, empty line) with lower-case names, leaving out Host (it is :authority) and
/// what HTTP/2 forbids (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE,
/// HTTP2-Settings),
/// then "te: trailers" when the client asked for trailers.
std::vector<H2Field> upstream_h2_request(const UpstreamRequestLine& line,
                                         std::string_view rewritten_head);

/// The :path of an HTTP/1.1 request target (RFC 9112 §3.2): an absolute-form target
/// ("http://h:80/p?q") loses its scheme and authority ("/p?q", "/" when it has no path);
/// origin-form and asterisk-form ("*") stay as they are.
std::string origin_form(std::string_view target);

/// True when the client's fields carry "te" with the "trailers" token.
bool wants_trailers(const std::vector<H2Field>& client_fields);
/// True when the value of a TE field lists the "trailers" token (RFC 9110 §10.1.4).
bool te_has_trailers(std::string_view te_value);

}  // namespace lbd::proxy
