// Header text for `cookie insert` persistence: the Set-Cookie value lbd adds to a response, and
// the request Cookie header with lbd's own cookie taken out (`indirect`), so backends never see
// it. Pure string work (Beast does not build or edit cookies).
#pragma once

#include <string>
#include <string_view>

#include "lbd/sticky/persistence_options.hpp"

namespace lbd {

/// "NAME=VALUE; Path=/; Max-Age=N; Domain=D; Secure; HttpOnly; SameSite=Lax" per RFC 6265 §4.1
/// (attributes only when configured; Max-Age only when max_age > 0). `value` must be a cookie
/// value (CookieCodec output is base64url, which is).
std::string set_cookie_header(const CookieInsertOptions& options, std::string_view value);

/// The Cookie header `header` without any pair named `name`, other pairs kept in order and joined
/// with "; ". Empty when nothing is left (then drop the header).
std::string remove_cookie(std::string_view header, std::string_view name);

}  // namespace lbd
