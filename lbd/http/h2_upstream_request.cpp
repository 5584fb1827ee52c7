#include "lbd/http/h2_upstream_request.hpp"

#include <cctype>
#include <string>

namespace lbd::proxy {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
// RFC 9113 §8.2.2, plus Host (sent as :authority, §8.3.1) and HTTP2-Settings (the h2c upgrade's
// own field, RFC 7540 §3.2.1, connection-specific).
bool left_out(std::string_view lower_name) {
  return lower_name == "host" || lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade" || lower_name == "te" || lower_name == "http2-settings";
}
}  // namespace

std::vector<H2Field> upstream_h2_request(const UpstreamRequestLine& line,
                                         std::string_view rewritten_head) {
  std::vector<H2Field> out;
  out.reserve(16);
  out.push_back({":method", std::string(line.method)});
  out.push_back({":scheme", std::string(line.scheme)});
  if (!line.authority.empty()) out.push_back({":authority", std::string(line.authority)});
  out.push_back({":path", std::string(line.path)});
  bool first = true;
  while (!rewritten_head.empty()) {
    const auto eol = rewritten_head.find("\r\n");
    const auto text = rewritten_head.substr(0, eol);
    rewritten_head.remove_prefix(eol == std::string_view::npos ? rewritten_head.size() : eol + 2);
    if (first) {  // the request line
      first = false;
      continue;
    }
    if (text.empty()) break;
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    auto name = lower(trim(text.substr(0, colon)));
    if (left_out(name)) continue;
    out.push_back({std::move(name), std::string(trim(text.substr(colon + 1)))});
  }
  if (line.te_trailers) out.push_back({"te", "trailers"});
  return out;
}

std::string origin_form(std::string_view target) {
  if (target.empty() || target.front() == '/' || target == "*") return std::string(target);
  const auto scheme_end = target.find("://");
  if (scheme_end == std::string_view::npos) return std::string(target);
  const auto rest = target.substr(scheme_end + 3);
  const auto at = rest.find_first_of("/?#");
  if (at == std::string_view::npos || rest[at] == '#') return "/";
  if (rest[at] == '?') return "/" + std::string(rest.substr(at));  // "http://h?q"
  return std::string(rest.substr(at));
}

bool wants_trailers(const std::vector<H2Field>& client_fields) {
  for (const auto& f : client_fields) {
    if (f.name == "te" && te_has_trailers(f.value)) return true;
  }
  return false;
}

bool te_has_trailers(std::string_view te_value) {
  // A list of tokens with optional parameters: "trailers, deflate;q=0.5".
  while (!te_value.empty()) {
    const auto comma = te_value.find(',');
    auto item = te_value.substr(0, comma);
    item = trim(item.substr(0, item.find(';')));
    if (lower(item) == "trailers") return true;
    if (comma == std::string_view::npos) break;
    te_value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace lbd::proxy
