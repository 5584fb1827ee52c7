// HTTP/1.1 header rules of the L7 proxy on Beast's field container: request-smuggling checks on a
// parsed request (RFC 9112 §6), and the header written to the next hop: hop-by-hop header removal
// (RFC 9110 §7.6.1) and the forwarding headers X-Forwarded-*, Forwarded (RFC 7239) and Via
// (RFC 9110 §7.6.3), serialised in one pass (no field is inserted into or erased from Beast's
// container: each would be a tree update and an allocation per request).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>

#include "common/net/ip_address.hpp"
#include "lbd/http/forward_headers.hpp"
#include "lbd/http/header_arena.hpp"

namespace lbd::proxy {

namespace http = boost::beast::http;

/// Beast's string_view and the standard one, converted both ways (Boost 1.74 keeps them apart).
inline std::string_view sv(boost::beast::string_view s) { return {s.data(), s.size()}; }
inline boost::beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

/// True when the raw header block (start line up to the empty line) folds a field value over
/// several lines (obs-fold, RFC 9112 §5.2). Beast accepts obs-fold and joins the lines, so the
/// check needs the raw bytes.
bool has_obs_fold(std::string_view raw_header);

/// Checks the message framing of a parsed request header. Returns nullopt when the request may be
/// forwarded, else the reason for a 400: Transfer-Encoding together with Content-Length,
/// Transfer-Encoding whose final coding is not chunked (or that names chunked twice, or another
/// coding before it: only chunked is relayed), a
/// Transfer-Encoding on an HTTP/1.0 request, or Content-Length values that differ. Beast's
/// parser already refuses some of these; this covers the rest.
/// For http::fields and HeaderFields (instantiated in http_rewrite.cpp).
template <typename Allocator>
std::optional<std::string_view> check_request_framing(const http::basic_fields<Allocator>& fields,
                                                      unsigned version);

/// The body framing written to the next hop, decided by the parser (RFC 9112 §6.3) and never
/// copied from the sender's text: duplicate or list-valued Content-Length ("5, 5") and odd
/// spellings of Transfer-Encoding ("CHUNKED") become one canonical header, so a connection shared
/// between clients (the backend keep-alive pool) never sees framing it might read differently.
struct Framing {
  enum class Kind {
    pass,     // copy the received Content-Length and Transfer-Encoding fields as they are
    none,     // no body: write neither
    length,   // "Content-Length: <length>"
    chunked,  // "Transfer-Encoding: chunked" (the proxy re-chunks the body itself)
  };
  Kind kind = Kind::pass;
  std::uint64_t length = 0;
};

/// What the forwarding headers say about the hop the proxy is making.
struct ForwardInfo {
  lb::IpAddress client;          // the client's address (after a PROXY header, if any)
  std::string_view client_text;  // client.unmapped().to_string() when the caller caches it
  std::string_view proto = "http";
  std::string_view host;  // the Host the client asked for (may be empty)
};

/// A field the rewrite adds after the forwarded ones.
struct AddedField {
  std::string_view name;
  std::string_view value;
};

/// How a message's fields change on their way to the next hop.
struct FieldRewrite {
  /// Upgrade (and Connection naming it) is hop-by-hop unless the exchange is an upgrade.
  bool keep_upgrade = false;
  /// Requests: the X-Forwarded-* and Forwarded headers to write; null for responses.
  const ForwardInfo* forward = nullptr;
  /// Which forwarding headers to write (ForwardHeader bits); the others pass through as they are.
  unsigned headers = kAllForwardHeaders;
  /// Via gets "<version> <via_name>" appended; `via_version` is the received message's
  /// HTTP version (10 or 11, RFC 9110 §7.6.3).
  unsigned via_version = 11;
  std::string_view via_name = "lbd";
  /// The Connection header to send (e.g. "close", "upgrade"); empty sends none.
  std::string_view connection;
  /// More fields left out (case-insensitive names), e.g. Expect once the proxy answered 100.
  std::span<const std::string_view> drop;
  /// Fields added at the end, after the forwarding headers.
  std::span<const AddedField> add;
  /// Replaces the value of the Cookie header(s); an empty string drops them.
  std::optional<std::string_view> cookie;
  /// The framing headers to write (the received ones are left out unless Kind::pass).
  Framing framing;
};

/// True when `name` is `trusted` spelled with '_' for some '-' (case-insensitive), e.g.
/// "X_Forwarded_For": CGI, WSGI and PHP map '-' and '_' to the same variable, so a backend would
/// read a client's underscore spelling as the header the proxy vouches for.
bool underscore_variant(std::string_view name, std::string_view trusted);

/// Serialises `fields` as they go to the next hop, in one pass and without changing them, and
/// ends the header block with the empty line. Leaves out the hop-by-hop headers: Connection and
/// every header it names (except the framing headers Content-Length and Transfer-Encoding and
/// Host, which a client must not be able to strip that way), Keep-Alive, Proxy-Connection, TE,
/// Trailer, and Upgrade unless `keep_upgrade`. Transfer-Encoding stays: the proxy re-frames
/// bodies itself. With `forward`: appends the client to X-Forwarded-For (earlier values kept,
/// several headers merged into one), replaces X-Forwarded-Proto and X-Forwarded-Host (a client's
/// values cannot be trusted), appends a Forwarded element `for=...;host=...;proto=...` (IPv6
/// quoted as "[2001:db8::1]"), and appends this proxy to Via — each one only when its bit is in
/// `headers`. A header spelled with underscores where one of the written, added or dropped
/// headers has dashes is left out too (underscore_variant). Content-Length and
/// Transfer-Encoding are written from `framing`. For http::fields and HeaderFields.
template <typename Allocator>
void append_rewritten_fields(std::string& out, const http::basic_fields<Allocator>& fields,
                             const FieldRewrite& rewrite);

}  // namespace lbd::proxy
