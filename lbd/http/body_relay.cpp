// The L7 session's body relays: a Content-Length body, a body delimited by the sender closing,
// and a chunked body decoded and re-chunked. Member templates of HttpExchange, instantiated at
// the end of this file for the streams a session has (the client's TCP socket or TLS stream,
// and the backend's UpstreamStream), so that they compile once, apart from the session.
#include <algorithm>
#include <array>
#include <string_view>

#include <boost/beast/http/error.hpp>

#include "common/asio_ssl.hpp"
#include "lbd/http/chunked_bounds.hpp"
#include "lbd/http/h2_request_sink.hpp"
#include "lbd/http/http_exchange.hpp"
#include "lbd/l4/relay.hpp"
#include "lbd/upstream_conn/upstream_tls_stream.hpp"

namespace lbd::proxy::http_detail {

template <typename From, typename To>
lb::awaitable<BodyResult> HttpExchange::relay_length(From& from, beast::flat_buffer& fbuf, To& to,
                                                     std::uint64_t n, nanoseconds from_idle,
                                                     nanoseconds to_idle, std::string* head,
                                                     Clock::time_point from_deadline) {
  error_code ec;
  for (;;) {
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(n, fbuf.size()));
    if (take > 0 || head) {
      std::array<asio::const_buffer, 2> out{head ? asio::buffer(*head) : asio::const_buffer{},
                                            asio::buffer(fbuf.data().data(), take)};
      watchdog_.arm(to_idle);
      co_await asio::async_write(to, out, asio::redirect_error(lb::use_awaitable, ec));
      if (ec) co_return BodyResult::to_failed;
      head = nullptr;
      fbuf.consume(take);
      n -= take;
    }
    if (n == 0) co_return BodyResult::ok;
    watchdog_.arm(read_timeout(from_idle, from_deadline));
    const auto got = co_await from.async_read_some(fbuf.prepare(kBodyChunk),
                                                   asio::redirect_error(lb::use_awaitable, ec));
    fbuf.commit(got);
    if (ec) co_return BodyResult::from_failed;
  }
}

template <typename From, typename To>
lb::awaitable<BodyResult> HttpExchange::relay_until_eof(From& from, beast::flat_buffer& fbuf,
                                                        To& to, nanoseconds from_idle,
                                                        nanoseconds to_idle, std::string& head) {
  error_code ec;
  bool first = true;
  for (;;) {
    if (fbuf.size() > 0 || first) {
      std::array<asio::const_buffer, 2> out{first ? asio::buffer(head) : asio::const_buffer{},
                                            fbuf.data()};
      watchdog_.arm(to_idle);
      co_await asio::async_write(to, out, asio::redirect_error(lb::use_awaitable, ec));
      if (ec) co_return BodyResult::to_failed;
      relayed_ += fbuf.size();
      fbuf.consume(fbuf.size());
      first = false;
    }
    watchdog_.arm(from_idle);
    const auto got = co_await from.async_read_some(fbuf.prepare(kBodyChunk),
                                                   asio::redirect_error(lb::use_awaitable, ec));
    fbuf.commit(got);
    if (ec == asio::error::eof) co_return BodyResult::ok;
    if (ec) co_return BodyResult::from_failed;
  }
}

template <bool isRequest, typename From, typename To>
lb::awaitable<BodyResult> HttpExchange::relay_chunked(ArenaParser<isRequest>& header, From& from,
                                                      beast::flat_buffer& fbuf, To& to,
                                                      bool rechunk, std::uint64_t max_body,
                                                      nanoseconds from_idle, nanoseconds to_idle,
                                                      Clock::time_point from_deadline) {
  if constexpr (isRequest) own_request_line();
  ArenaParser<isRequest, http::buffer_body> p(std::move(header));
  p.body_limit(kNoBodyLimit);
  auto& pool = worker_.relay_resources();
  auto scratch = pool.acquire_buffer();
  const auto result = co_await relay_chunked_with(p, from, fbuf, to, rechunk, max_body, from_idle,
                                                  to_idle, from_deadline, scratch.get());
  pool.release_buffer(std::move(scratch));
  co_return result;
}

namespace {

/// The parser holds an unfinished chunk-size line or trailer section whole: whether it is over
/// its bound (counted on the listener), before more is read.
BodyResult pending_chunk_bound(const beast::flat_buffer& fbuf, std::size_t max_trailers,
                               admin::ListenerCounters& lstats) {
  const std::string_view pending(static_cast<const char*>(fbuf.data().data()), fbuf.size());
  switch (pending_chunk_overflow(pending, kMaxChunkLine, max_trailers)) {
    case ChunkOverflow::line:
      lstats.limit(admin::HttpLimit::chunk_line);
      return BodyResult::chunk_line_too_long;
    case ChunkOverflow::trailers:
      lstats.limit(admin::HttpLimit::trailers);
      return BodyResult::trailers_too_large;
    case ChunkOverflow::none:
      break;
  }
  return BodyResult::ok;
}

/// Feeds the buffered bytes to the chunked-body parser: the bytes it consumed, or nullopt when
/// the body is malformed.
template <bool isRequest>
std::optional<std::size_t> feed_chunked(ArenaParser<isRequest, http::buffer_body>& p,
                                        beast::flat_buffer& fbuf) {
  if (fbuf.size() == 0) return 0;
  error_code ec;
  const auto used = p.put(fbuf.data(), ec);
  fbuf.consume(used);
  if (ec && ec != http::error::need_buffer && ec != http::error::need_more) return std::nullopt;
  return used;
}

}  // namespace

template <bool isRequest, typename From, typename To>
lb::awaitable<BodyResult> HttpExchange::relay_chunked_with(
    ArenaParser<isRequest, http::buffer_body>& p, From& from, beast::flat_buffer& fbuf, To& to,
    bool rechunk, std::uint64_t max_body, nanoseconds from_idle, nanoseconds to_idle,
    Clock::time_point from_deadline, std::uint8_t* scratch) {
  constexpr std::size_t kScratch = RelayResources::kBufferSize;
  const std::size_t max_trailers =
      isRequest ? cfg_.limits.max_header_size
                : std::max<std::size_t>(kMaxResponseHeader, cfg_.limits.max_header_size);
  error_code ec;
  std::uint64_t total = 0;
  std::string frame;
  p.eager(true);
  while (!p.is_done()) {
    p.get().body().data = scratch;
    p.get().body().size = kScratch;
    const auto used = feed_chunked(p, fbuf);
    if (!used) co_return BodyResult::malformed;
    const std::size_t produced = kScratch - p.get().body().size;
    if (produced > 0) {
      total += produced;
      relayed_ += produced;
      if (max_body > 0 && total > max_body) co_return BodyResult::too_large;
      frame.clear();
      if (rechunk) {
        append_number(frame, produced, 16);
        frame += "\r\n";
      }
      std::array<asio::const_buffer, 3> out{asio::buffer(frame), asio::buffer(scratch, produced),
                                            asio::buffer(rechunk ? "\r\n" : "", rechunk ? 2 : 0)};
      watchdog_.arm(to_idle);
      co_await asio::async_write(to, out, asio::redirect_error(lb::use_awaitable, ec));
      if (ec) co_return BodyResult::to_failed;
    }
    if (p.is_done()) break;
    if (*used == 0 && produced == 0) {
      // Bound the pending line before reading more, or one peer's endless chunk extension fills
      // the memory.
      if (const auto bound = pending_chunk_bound(fbuf, max_trailers, lstats_);
          bound != BodyResult::ok) {
        co_return bound;
      }
      watchdog_.arm(read_timeout(from_idle, from_deadline));
      const auto got = co_await from.async_read_some(fbuf.prepare(kReadChunk),
                                                     asio::redirect_error(lb::use_awaitable, ec));
      fbuf.commit(got);
      if (ec) co_return BodyResult::from_failed;
    }
  }
  if (rechunk) {
    static constexpr std::string_view kLast = "0\r\n\r\n";
    watchdog_.arm(to_idle);
    co_await asio::async_write(to, asio::buffer(kLast.data(), kLast.size()),
                               asio::redirect_error(lb::use_awaitable, ec));
    if (ec) co_return BodyResult::to_failed;
  }
  co_return BodyResult::ok;
}

// The instances the sessions use: request bodies from the client stream to the backend (an
// HTTP/1.1 server, or a stream to an HTTP/2 server: h2_bridge.cpp), response bodies back.
using TlsClient = asio::ssl::stream<tcp::socket>;

template lb::awaitable<BodyResult> HttpExchange::relay_length(tcp::socket&, beast::flat_buffer&,
                                                              UpstreamStream&, std::uint64_t,
                                                              nanoseconds, nanoseconds,
                                                              std::string*, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_length(TlsClient&, beast::flat_buffer&,
                                                              UpstreamStream&, std::uint64_t,
                                                              nanoseconds, nanoseconds,
                                                              std::string*, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_length(UpstreamStream&, beast::flat_buffer&,
                                                              tcp::socket&, std::uint64_t,
                                                              nanoseconds, nanoseconds,
                                                              std::string*, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_length(UpstreamStream&, beast::flat_buffer&,
                                                              TlsClient&, std::uint64_t,
                                                              nanoseconds, nanoseconds,
                                                              std::string*, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_until_eof(UpstreamStream&,
                                                                 beast::flat_buffer&, tcp::socket&,
                                                                 nanoseconds, nanoseconds,
                                                                 std::string&);
template lb::awaitable<BodyResult> HttpExchange::relay_until_eof(UpstreamStream&,
                                                                 beast::flat_buffer&, TlsClient&,
                                                                 nanoseconds, nanoseconds,
                                                                 std::string&);
template lb::awaitable<BodyResult> HttpExchange::relay_chunked(RequestHeaderParser&, tcp::socket&,
                                                               beast::flat_buffer&, UpstreamStream&,
                                                               bool, std::uint64_t, nanoseconds,
                                                               nanoseconds, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_chunked(RequestHeaderParser&, TlsClient&,
                                                               beast::flat_buffer&, UpstreamStream&,
                                                               bool, std::uint64_t, nanoseconds,
                                                               nanoseconds, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_chunked(ResponseHeaderParser&,
                                                               UpstreamStream&, beast::flat_buffer&,
                                                               tcp::socket&, bool, std::uint64_t,
                                                               nanoseconds, nanoseconds,
                                                               Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_chunked(ResponseHeaderParser&,
                                                               UpstreamStream&, beast::flat_buffer&,
                                                               TlsClient&, bool, std::uint64_t,
                                                               nanoseconds, nanoseconds,
                                                               Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_length(tcp::socket&, beast::flat_buffer&,
                                                              H2RequestSink&, std::uint64_t,
                                                              nanoseconds, nanoseconds,
                                                              std::string*, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_length(TlsClient&, beast::flat_buffer&,
                                                              H2RequestSink&, std::uint64_t,
                                                              nanoseconds, nanoseconds,
                                                              std::string*, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_chunked(RequestHeaderParser&, tcp::socket&,
                                                               beast::flat_buffer&, H2RequestSink&,
                                                               bool, std::uint64_t, nanoseconds,
                                                               nanoseconds, Clock::time_point);
template lb::awaitable<BodyResult> HttpExchange::relay_chunked(RequestHeaderParser&, TlsClient&,
                                                               beast::flat_buffer&, H2RequestSink&,
                                                               bool, std::uint64_t, nanoseconds,
                                                               nanoseconds, Clock::time_point);

}  // namespace lbd::proxy::http_detail
