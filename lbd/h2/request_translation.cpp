#include "lbd/h2/request_translation.hpp"

#include <charconv>

#include "lbd/http/http_rewrite.hpp"

namespace lbd::h2 {

namespace http = boost::beast::http;
using proxy::bsv;
using proxy::sv;

std::expected<TranslatedRequest, RequestRefusal> translate_request(const Request& r,
                                                                   std::uint64_t max_body) {
  TranslatedRequest t;
  t.host = r.authority;
  for (const auto& h : r.headers) {
    if (h.name == "cookie") {
      if (!t.cookie.empty()) t.cookie += "; ";
      t.cookie += h.value;
    } else if (h.name == "host") {
      if (t.host.empty()) t.host = h.value;
    } else {
      t.fields.insert(bsv(h.name), bsv(h.value));
    }
  }
  if (t.host.empty())
    return std::unexpected(RequestRefusal{400, "a request needs :authority or Host"});
  t.fields.insert(http::field::host, bsv(t.host));
  if (!t.cookie.empty()) t.fields.insert(http::field::cookie, bsv(t.cookie));
  if (auto it = t.fields.find(http::field::content_length); it != t.fields.end()) {
    std::uint64_t v = 0;
    const auto s = sv(it->value());
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) {
      return std::unexpected(RequestRefusal{400, "malformed content-length"});
    }
    t.content_length = v;
  }
  if (max_body > 0 && t.content_length && *t.content_length > max_body) {
    return std::unexpected(RequestRefusal{413, "request body too large"});
  }
  return t;
}

}  // namespace lbd::h2
