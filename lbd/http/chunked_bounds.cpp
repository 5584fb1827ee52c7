#include "lbd/http/chunked_bounds.hpp"

namespace lbd::proxy {

ChunkOverflow pending_chunk_overflow(std::string_view pending, std::size_t max_line,
                                     std::size_t max_trailers) {
  if (pending.starts_with("\r\n")) pending.remove_prefix(2);
  const auto eol = pending.find('\n');
  if (eol == std::string_view::npos) {
    return pending.size() > max_line ? ChunkOverflow::line : ChunkOverflow::none;
  }
  if (eol + 1 > max_line) return ChunkOverflow::line;
  // A complete line: only the last chunk (size zero) leaves bytes pending, for its trailers.
  std::size_t digits = 0;
  bool zero = true;
  for (char c : pending.substr(0, eol)) {
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) break;
    zero = zero && c == '0';
    ++digits;
  }
  if (digits == 0 || !zero) return ChunkOverflow::none;
  return pending.size() - (eol + 1) > max_trailers ? ChunkOverflow::trailers : ChunkOverflow::none;
}

std::string_view overflow_name(ChunkOverflow o) {
  switch (o) {
    case ChunkOverflow::line:
      return "chunk_line";
    case ChunkOverflow::trailers:
      return "trailers";
    case ChunkOverflow::none:
      break;
  }
  return "";
}

}  // namespace lbd::proxy
