// Peer-supplied strings (node ids, table names) on their way into a log line: a peer chooses
// their bytes, so they are escaped and cut short before they can forge or flood a line.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lbd::repl {

/// At most this many input bytes are shown; longer text ends with "...".
inline constexpr std::size_t kMaxLoggedText = 64;

/// Printable ASCII is kept except '\\' and '"', which get a backslash; every other byte
/// (controls, DEL, non-ASCII) becomes \xNN. Pure.
inline std::string escape_for_log(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const std::size_t n = text.size() < kMaxLoggedText ? text.size() : kMaxLoggedText;
  out.reserve(n + 8);
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\\' || c == '"') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (text.size() > n) out += "...";
  return out;
}

}  // namespace lbd::repl
