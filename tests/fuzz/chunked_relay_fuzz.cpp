// libFuzzer target for the chunked body relay: Beast's parser fed the way lbd's relay feeds it
// (pieces of the size the peer chose, an unconsumed remainder kept between reads, the chunk-line
// and trailer bounds judged whenever the parser makes no progress). The first input bytes choose
// the read sizes; the rest is the body after a chunked request head. Checks what the bounds are
// for: the bytes held between reads never exceed the bounds plus one read, the loop always makes
// progress (no spinning), and the re-chunked output decodes to exactly the bytes the parser
// produced.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "lbd/http/chunked_bounds.hpp"

namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::size_t kMaxTrailers = 8 * 1024;
constexpr std::size_t kMaxRead = 512;
constexpr std::string_view kHead =
    "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";

/// Runs the relay loop; returns false when the parser refused the body or a bound stopped it.
bool relay(std::string_view body, std::string_view read_sizes, std::string& rechunked,
           std::string& produced_all) {
  http::request_parser<http::buffer_body> p;
  p.header_limit(16 * 1024);
  p.body_limit(boost::none);
  beast::error_code ec;
  p.put(boost::asio::buffer(kHead.data(), kHead.size()), ec);
  if (ec || !p.is_header_done() || !p.chunked()) std::abort();
  p.eager(true);

  beast::flat_buffer fbuf;
  std::array<char, 1024> scratch{};
  std::size_t offset = 0;
  std::size_t reads = 0;
  std::size_t iterations = 0;
  while (!p.is_done()) {
    if (++iterations > 4 * body.size() + 16) std::abort();  // no progress: the relay would spin
    p.get().body().data = scratch.data();
    p.get().body().size = scratch.size();
    std::size_t used = 0;
    if (fbuf.size() > 0) {
      used = p.put(fbuf.data(), ec);
      fbuf.consume(used);
      if (ec == http::error::need_buffer || ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        return false;
      }
    }
    const std::size_t produced = scratch.size() - p.get().body().size;
    if (produced > 0) {
      produced_all.append(scratch.data(), produced);
      char line[32];
      const int n = std::snprintf(line, sizeof line, "%zx\r\n", produced);
      rechunked.append(line, static_cast<std::size_t>(n));
      rechunked.append(scratch.data(), produced).append("\r\n");
    }
    if (p.is_done()) break;
    if (used == 0 && produced == 0) {
      const std::string_view pending(static_cast<const char*>(fbuf.data().data()), fbuf.size());
      if (lbd::proxy::pending_chunk_overflow(pending, lbd::proxy::kMaxChunkLine, kMaxTrailers) !=
          lbd::proxy::ChunkOverflow::none) {
        return false;
      }
      // What the bound promises: held bytes stay within a line, the trailers and one read.
      if (fbuf.size() > 2 + lbd::proxy::kMaxChunkLine + kMaxTrailers + kMaxRead) std::abort();
      if (offset >= body.size()) return false;  // the peer went away mid-body
      const std::size_t want =
          read_sizes.empty()
              ? kMaxRead
              : 1 + static_cast<unsigned char>(read_sizes[reads % read_sizes.size()]) % kMaxRead;
      ++reads;
      const std::size_t n = std::min(want, body.size() - offset);
      auto dst = fbuf.prepare(n);
      std::memcpy(dst.data(), body.data() + offset, n);
      fbuf.commit(n);
      offset += n;
    }
  }
  rechunked.append("0\r\n\r\n");
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::size_t n_sizes = std::min<std::size_t>(data[0] % 8, size - 1);
  const std::string_view read_sizes(reinterpret_cast<const char*>(data) + 1, n_sizes);
  const std::string_view body(reinterpret_cast<const char*>(data) + 1 + n_sizes,
                              size - 1 - n_sizes);
  std::string rechunked;
  std::string produced;
  if (!relay(body, read_sizes, rechunked, produced)) return 0;

  // The next hop reads the canonical framing back to the same bytes.
  http::request_parser<http::string_body> next;
  next.body_limit(boost::none);
  beast::error_code ec;
  const std::string again = std::string(kHead) + rechunked;
  next.eager(true);
  next.put(boost::asio::buffer(again.data(), again.size()), ec);
  if (ec || !next.is_done() || next.get().body() != produced) std::abort();
  return 0;
}
