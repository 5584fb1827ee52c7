// HTTP/1.1 header rules of the L7 proxy on Beast's field container: request-smuggling checks on a
// parsed request (RFC 9112 §6), hop-by-hop header removal (RFC 9110 §7.6.1) and the forwarding
// headers X-Forwarded-*, Forwarded (RFC 7239) and Via (RFC 9110 §7.6.3).
#pragma once

#include <optional>
#include <string_view>

#include <boost/beast/http/fields.hpp>

#include "common/net/ip_address.hpp"

namespace lbd::proxy {

namespace http = boost::beast::http;

/// True when the raw header block (start line up to the empty line) folds a field value over
/// several lines (obs-fold, RFC 9112 §5.2). Beast accepts obs-fold and joins the lines, so the
/// check needs the raw bytes.
bool has_obs_fold(std::string_view raw_header);

/// Checks the message framing of a parsed request header. Returns nullopt when the request may be
/// forwarded, else the reason for a 400: Transfer-Encoding together with Content-Length,
/// Transfer-Encoding whose final coding is not chunked (or that names chunked twice), a
/// Transfer-Encoding on an HTTP/1.0 request, or Content-Length values that differ. Beast's
/// parser already refuses some of these; this covers the rest.
std::optional<std::string_view> check_request_framing(const http::fields& fields, unsigned version);

/// Removes the hop-by-hop headers: Connection and every header it names (except the framing
/// headers Content-Length and Transfer-Encoding and Host, which a client must not be able to strip
/// that way), Keep-Alive, Proxy-Connection, TE, Trailer, and Upgrade unless `keep_upgrade`.
/// Transfer-Encoding stays: the proxy re-frames bodies itself and sets it as needed.
void remove_hop_by_hop(http::fields& fields, bool keep_upgrade);

/// What the forwarding headers say about the hop the proxy is making.
struct ForwardInfo {
  lb::IpAddress client;          // the client's address (after a PROXY header, if any)
  std::string_view client_text;  // client.unmapped().to_string() when the caller caches it
  std::string_view proto = "http";
  std::string_view host;  // the Host the client asked for (may be empty)
  unsigned version = 11;  // the client's HTTP version, 10 or 11 (for Via)
  std::string_view via_name = "lbd";
};

/// Appends the client to X-Forwarded-For (earlier values kept, several headers merged into one),
/// sets X-Forwarded-Proto and X-Forwarded-Host (client-sent values replaced: they cannot be
/// trusted), appends a Forwarded element `for=...;host=...;proto=...` (IPv6 quoted as
/// "[2001:db8::1]") and appends "1.1 lbd" to Via.
void add_forwarding_headers(http::fields& fields, const ForwardInfo& info);

/// Appends this proxy to the Via header of a response (`version` of the backend's response).
void add_via(http::fields& fields, unsigned version, std::string_view via_name = "lbd");

}  // namespace lbd::proxy
