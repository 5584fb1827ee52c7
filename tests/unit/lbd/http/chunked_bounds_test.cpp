#include "lbd/http/chunked_bounds.hpp"

#include <string>

#include <doctest/doctest.h>

using lbd::proxy::ChunkOverflow;
using lbd::proxy::pending_chunk_overflow;

TEST_CASE("chunked bounds: a chunk-size line is judged against the line bound") {
  CHECK(pending_chunk_overflow("1;" + std::string(90, 'a'), 100, 1000) == ChunkOverflow::none);
  CHECK(pending_chunk_overflow("1;" + std::string(99, 'a'), 100, 1000) == ChunkOverflow::line);
  // The CRLF that ends the previous chunk's data does not count.
  CHECK(pending_chunk_overflow("\r\n1;" + std::string(98, 'a'), 100, 1000) == ChunkOverflow::none);
  // A complete line over the bound (the parser may hold it with the next bytes).
  CHECK(pending_chunk_overflow("0;" + std::string(200, 'a') + "\r\n", 100, 1000) ==
        ChunkOverflow::line);
}

TEST_CASE("chunked bounds: the trailer section after the last chunk has its own bound") {
  std::string trailers;
  while (trailers.size() <= 1000) trailers += "X-T: v\r\n";
  CHECK(pending_chunk_overflow("0\r\nX-T: v\r\n", 100, 1000) == ChunkOverflow::none);
  CHECK(pending_chunk_overflow("0\r\n" + trailers, 100, 1000) == ChunkOverflow::trailers);
  CHECK(pending_chunk_overflow("000;e=1\r\n" + trailers, 100, 1000) == ChunkOverflow::trailers);
  // A non-zero chunk with a complete line is the parser's business, not a bound.
  CHECK(pending_chunk_overflow("1\r\n" + trailers, 100, 1000) == ChunkOverflow::none);
}
