// Parsing and printing of the hash_key setting.
#include "lbd/balance/hash_key.hpp"

#include <cctype>

namespace lbd {

namespace {

// RFC 9110 §5.6.2 tchar: header field names and cookie names are tokens.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) return false;
  }
  return true;
}

}  // namespace

std::optional<HashKey> parse_hash_key(std::string_view text) {
  if (text == "source_ip") return HashKey{HashKey::Kind::source_ip, {}};
  if (text == "path") return HashKey{HashKey::Kind::path, {}};
  for (auto [prefix, kind] : {std::pair{std::string_view("header:"), HashKey::Kind::header},
                              std::pair{std::string_view("cookie:"), HashKey::Kind::cookie}}) {
    if (text.starts_with(prefix)) {
      auto name = text.substr(prefix.size());
      if (!is_token(name)) return std::nullopt;
      return HashKey{kind, std::string(name)};
    }
  }
  return std::nullopt;
}

std::string to_string(const HashKey& key) {
  switch (key.kind) {
    case HashKey::Kind::source_ip:
      return "source_ip";
    case HashKey::Kind::header:
      return "header:" + key.name;
    case HashKey::Kind::cookie:
      return "cookie:" + key.name;
    case HashKey::Kind::path:
      return "path";
  }
  return "?";
}

}  // namespace lbd
