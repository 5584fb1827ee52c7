#include "lbd/h2/upstream_request.hpp"

#include <cctype>

namespace lbd::h2 {

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
// RFC 9113 §8.2.2, plus Host (sent as :authority, §8.3.1).
bool left_out(std::string_view lower_name) {
  return lower_name == "host" || lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade" || lower_name == "te";
}
}  // namespace

std::vector<Header> upstream_h2_request(const UpstreamRequestLine& line,
                                        std::string_view rewritten_head) {
  std::vector<Header> out;
  out.reserve(16);
  out.push_back({":method", std::string(line.method)});
  out.push_back({":scheme", std::string(line.scheme)});
  out.push_back({":authority", std::string(line.authority)});
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

bool wants_trailers(const std::vector<Header>& client_fields) {
  for (const auto& f : client_fields) {
    if (f.name == "te" && lower(f.value).find("trailers") != std::string::npos) return true;
  }
  return false;
}

}  // namespace lbd::h2
