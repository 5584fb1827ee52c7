// Bounds on the parts of a chunked body that a parser must hold whole before it can decide
// anything: the chunk-size line with its extensions, and the trailer section. Beast's parser keeps
// such a part unconsumed until its end arrives, so without a bound one peer that never ends a
// chunk extension (or a trailer section) makes the relay buffer it without limit.
#pragma once

#include <cstddef>
#include <string_view>

namespace lbd::proxy {

/// The longest chunk-size line lbd accepts, extensions and CRLF included (HAProxy's bound too).
inline constexpr std::size_t kMaxChunkLine = 4 * 1024;

enum class ChunkOverflow {
  none,      // within the bounds (or not an incomplete chunk-size line / trailer section)
  line,      // a chunk-size line longer than the line bound
  trailers,  // a last chunk whose trailer section is longer than the trailer bound
};

/// Judges `pending`, the bytes of a chunked body that the parser left unconsumed because they
/// start an unfinished chunk-size line or trailer section (an optional CRLF ending the previous
/// chunk's data first). `max_line` bounds each chunk-size line, `max_trailers` the trailer
/// section after the last chunk's line (its closing empty line included).
ChunkOverflow pending_chunk_overflow(std::string_view pending, std::size_t max_line,
                                     std::size_t max_trailers);

/// The metric label of an overflow: "chunk_line" or "trailers" ("" for none).
std::string_view overflow_name(ChunkOverflow o);

}  // namespace lbd::proxy
