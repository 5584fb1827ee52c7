// An HTTP/2 request header as the HTTP/1.1 fields lbd routes and rewrites (RFC 9113 §8.2.3,
// §8.3.1): :authority becomes Host (a Host field stands in when :authority is absent), cookie
// crumbs are joined into one Cookie, and the request's length is checked. Pure.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>

#include "lbd/h2/server_session.hpp"

namespace lbd::h2 {

struct TranslatedRequest {
  boost::beast::http::fields fields;  // Host and Cookie included
  std::string cookie;                 // the joined Cookie value (empty: none)
  std::string_view host;              // :authority or Host: a view into the request
  std::optional<std::uint64_t> content_length;
};

/// Why a request is refused before it is routed: the status it gets and the reason logged.
struct RequestRefusal {
  unsigned status = 400;
  std::string_view why;
};

/// The HTTP/1.1 fields of `request`; refused without a host, with a malformed content-length,
/// or with a content-length over `max_body` (0: no limit).
std::expected<TranslatedRequest, RequestRefusal> translate_request(const Request& request,
                                                                   std::uint64_t max_body);

}  // namespace lbd::h2
