// Set-Cookie building and Cookie pair removal for cookie-insert persistence.
#include "lbd/sticky/cookie_header.hpp"

namespace lbd {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string set_cookie_header(const CookieInsertOptions& o, std::string_view value) {
  std::string h;
  h.reserve(o.name.size() + value.size() + 96);
  h.append(o.name).append("=").append(value);
  if (!o.path.empty()) h.append("; Path=").append(o.path);
  if (o.max_age.count() > 0) h.append("; Max-Age=").append(std::to_string(o.max_age.count()));
  if (!o.domain.empty()) h.append("; Domain=").append(o.domain);
  if (o.secure) h.append("; Secure");
  if (o.http_only) h.append("; HttpOnly");
  switch (o.same_site) {
    case SameSite::unset:
      break;
    case SameSite::lax:
      h.append("; SameSite=Lax");
      break;
    case SameSite::strict:
      h.append("; SameSite=Strict");
      break;
    case SameSite::none:
      h.append("; SameSite=None");
      break;
  }
  return h;
}

std::string remove_cookie(std::string_view header, std::string_view name) {
  std::string out;
  out.reserve(header.size());
  while (!header.empty()) {
    const auto semi = header.find(';');
    const std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view pair_name = trim(pair.substr(0, eq));
    if (eq != std::string_view::npos && pair_name == name) continue;
    if (!out.empty()) out.append("; ");
    out.append(pair);
  }
  return out;
}

}  // namespace lbd
