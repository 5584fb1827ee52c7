// The request header an HTTP/2 server gets from lbd (pool protocol = "h2"), built from the
// HTTP/1.1 header lbd writes for HTTP/1.1 servers, so that both carry the same rewrite
// (forwarding headers, persistence cookie, mTLS subject, hop-by-hop fields removed). Pure.
#pragma once

#include <string_view>
#include <vector>

#include "lbd/h2/server_session.hpp"

namespace lbd::h2 {

struct UpstreamRequestLine {
  std::string_view method;
  std::string_view scheme;  // "https" under [pool.tls], else "http"
  std::string_view authority;
  std::string_view path;
  bool te_trailers = false;  // the client sent "te: trailers" (gRPC needs it end to end)
};

/// Pseudo-header fields first, then the fields of `rewritten_head` (request line, "Name:
/// value" lines, empty line) with lower-case names, leaving out Host (it is :authority) and what
/// HTTP/2 forbids (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, TE),
/// then "te: trailers" when the client asked for trailers.
std::vector<Header> upstream_h2_request(const UpstreamRequestLine& line,
                                        std::string_view rewritten_head);

/// True when the client's fields carry "te" with the "trailers" token.
bool wants_trailers(const std::vector<Header>& client_fields);

}  // namespace lbd::h2
