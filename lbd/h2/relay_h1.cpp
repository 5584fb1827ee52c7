// A stream forwarded as one HTTP/1.1 request on the worker's pooled backend connections (pool
// protocol "http"): an idle kept-alive connection or a new one, the request header and body
// (re-chunked when it has no length), the response header translated into HTTP/2 fields, and the
// body decoded and queued on the stream as the client's window allows.
#include <algorithm>
#include <array>
#include <limits>

#include <fmt/format.h>

#include <boost/beast/http/error.hpp>

#include "lbd/h2/connection.hpp"
#include "lbd/http/http_rewrite.hpp"

namespace lbd::h2 {

using namespace lbd::proxy;
using namespace lbd::proxy::http_detail;
namespace http = boost::beast::http;

namespace {

constexpr std::size_t kReadChunk = 16 * 1024;
// Reads of a backend's response header: small, because every stream in flight holds its buffer
// while it waits for the backend (a body read grows it to kReadChunk).
constexpr std::size_t kHeaderReadChunk = 4 * 1024;
constexpr std::size_t kBodyChunk = 16 * 1024;
constexpr std::uint32_t kMaxResponseHeader = 64 * 1024;
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();

using HeaderParser = http::response_parser<http::empty_body>;

// Hop-by-hop fields of an HTTP/1.1 response that HTTP/2 must not carry (RFC 9113 §8.2.2).
bool hop_by_hop(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade" || lower_name == "te" || lower_name == "trailer";
}

/// A parser for the next response header of the backend.
void start_header(std::optional<HeaderParser>& rp, std::uint64_t max_header, bool is_head) {
  rp.emplace();
  rp->header_limit(std::max(kMaxResponseHeader, static_cast<std::uint32_t>(max_header)));
  rp->body_limit(kNoBodyLimit);
  rp->eager(false);
  if (is_head) rp->skip(true);
}

/// Feeds what `ubuf` holds to the parser: true when the header is complete or failed (`ec`).
bool parse_buffered(HeaderParser& rp, beast::flat_buffer& ubuf, error_code& ec, bool& got_bytes) {
  if (ubuf.size() == 0) return false;
  got_bytes = true;
  const auto n = rp.put(ubuf.data(), ec);
  ubuf.consume(n);
  if (ec == http::error::need_more) ec = {};
  return ec || rp.is_header_done();
}

/// Stops watching the previous attempt's connection: a retry comes after it was closed, and the
/// watchdog must not cancel that socket any more.
void unwatch(Connection::Watchdog& watch) {
  watch.disarm();
  watch.watch(nullptr, nullptr);
}

/// The stream's backend socket while an attempt uses it: a client's reset cancels it.
struct UpstreamMark {
  UpstreamMark(Exchange& x, tcp::socket& s) : x(x) { x.upstream = &s; }
  ~UpstreamMark() { x.upstream = nullptr; }
  UpstreamMark(const UpstreamMark&) = delete;
  UpstreamMark& operator=(const UpstreamMark&) = delete;
  Exchange& x;
};

/// Interim responses (1xx but 101) are dropped: HTTP/2 clients do not need them.
bool interim(unsigned status) { return status < 200 && status != 101; }

}  // namespace

lb::awaitable<void> Connection::forward_h1(Exchange& x, RequestObservation& obs,
                                           ForwardPlan& plan) {
  const auto& to = cfg_.timeouts;
  Watchdog watch(raw_.get_executor());
  const Backend* avoid = nullptr;
  for (int attempt = 0;; ++attempt) {
    unwatch(watch);
    const auto acquire_start = Clock::now();
    PickContext pc{.hash = plan.hash, .avoid = avoid, .prefer = plan.persistence.prefer()};
    auto conn = attempt == 0 ? take_idle(plan, pc) : std::nullopt;
    const bool reused = conn.has_value();
    // A kept-alive connection the server closed meanwhile fails before any response byte: a
    // request without body is then safe to send once more, on a new connection.
    const bool can_retry = attempt == 0 && !plan.has_body && reused;
    if (!conn) {
      auto got = co_await worker_.connect_upstream(*plan.pool_name, client_.info, pc);
      if (!got) {
        respond_unreachable(x, obs, false, got.error());
        co_return;
      }
      conn.emplace(std::move(*got));
    }
    if (x.gone) co_return;
    const Backend* backend = conn->lease.backend();
    note_backend(obs, plan, backend,
                 reused ? std::nullopt : std::optional<nanoseconds>(Clock::now() - acquire_start));
    const UpstreamMark mark(x, conn->socket);
    watch.watch(&conn->socket, nullptr);
    UpstreamStream upstream(*conn);
    error_code ec;
    watch.arm(to.server_idle);
    co_await asio::async_write(upstream, asio::buffer(plan.head),
                               asio::redirect_error(lb::use_awaitable, ec));
    if (ec) {
      if (x.gone || write_failed(x, obs, watch, can_retry) == Step::done) co_return;
      avoid = backend;
      continue;
    }
    obs.bytes_in += plan.head.size();
    if (plan.has_body) {
      if (!co_await send_body(x, upstream, watch, plan.chunked, obs)) co_return;
    }
    const auto waiting_since = Clock::now();
    watch.arm(to.server_response);
    beast::flat_buffer ubuf;
    state_.take(ubuf);
    std::optional<HeaderParser> rp;
    bool got_bytes = false;
    do {
      start_header(rp, cfg_.limits.max_header_size, plan.is_head);
      while (!ec && !parse_buffered(*rp, ubuf, ec, got_bytes)) {
        const auto got = co_await upstream.async_read_some(
            ubuf.prepare(kHeaderReadChunk), asio::redirect_error(lb::use_awaitable, ec));
        ubuf.commit(got);
      }
    } while (!ec && interim(rp->get().result_int()));
    if (x.gone || ec) {
      if (x.gone ||
          header_failed(x, obs, plan, backend, watch, ec, can_retry && !got_bytes) == Step::done) {
        co_return;
      }
      avoid = backend;
      continue;
    }
    const bool keep_upstream = rp->keep_alive();
    if (!answer_h1_header(x, obs, plan, *rp, backend, waiting_since)) co_return;
    bool complete = rp->is_done();
    if (!complete) {
      complete = co_await relay_response(x, upstream, ubuf, *rp, watch, obs);
      end_relayed(x, complete);
    }
    x.upstream = nullptr;
    unwatch(watch);
    release_h1(plan, *conn, ubuf, complete && keep_upstream);
    co_return;
  }
}

/// Writing the request header failed: a retry on another connection when that is safe, else
/// the answer that says why.
Step Connection::write_failed(Exchange& x, RequestObservation& obs, const Watchdog& watch,
                              bool retry) {
  if (retry && !watch.fired()) return Step::retry;
  respond_error(x, obs, watch.fired() ? 504 : 502, "writing the request to the backend failed");
  return Step::done;
}

/// An idle kept-alive connection to the server the balancer picks; else nullopt, and `pc`
/// prefers that server for the new connection.
std::optional<UpstreamConnection> Connection::take_idle(const ForwardPlan& plan, PickContext& pc) {
  const auto& pool = *plan.pool;
  if (pool.upstream_keepalive == 0 || pool.send_proxy_protocol != ProxyProtocolSend::off) {
    return std::nullopt;
  }
  const Backend* b = worker_.pick(*plan.pool_name, pc);
  if (!b) return std::nullopt;
  const UpstreamTlsContext* tls = pool.tls ? pool.tls->context.get() : nullptr;
  auto c = state_.upstreams.take(b, Clock::now(), cfg_.timeouts.server_idle, plan.has_body, tls);
  if (!c) pc.prefer = b;  // connect to the server just picked
  return c;
}

/// The exchange is over: a connection whose response was read to its end goes back to the idle
/// pool, and the header string and read buffer to the worker's free lists.
void Connection::release_h1(ForwardPlan& plan, UpstreamConnection& conn, beast::flat_buffer& ubuf,
                            bool reusable) {
  if (reusable && ubuf.size() == 0 && plan.pool->send_proxy_protocol == ProxyProtocolSend::off) {
    state_.upstreams.put(std::move(conn), Clock::now(), plan.pool->upstream_keepalive);
  }
  ubuf.clear();
  state_.give(ubuf);
  state_.give(plan.head);
}

/// No usable response header: a timeout, a retry on another connection, or a bad response.
Step Connection::header_failed(Exchange& x, RequestObservation& obs, const ForwardPlan& plan,
                               const Backend* backend, const Watchdog& watch, error_code ec,
                               bool retry) {
  if (watch.fired()) {
    if (backend) worker_.report(*plan.pool_name, *backend, TrafficEvent::timeout);
    respond_error(x, obs, 504, "no response header from the backend in time");
    return Step::done;
  }
  if (retry) return Step::retry;
  respond_error(x, obs, 502, fmt::format("bad response from the backend: {}", ec.message()));
  return Step::done;
}

/// The backend's response header as the client's HTTP/2 response header. False when the
/// stream is answered otherwise or gone.
bool Connection::answer_h1_header(Exchange& x, RequestObservation& obs, ForwardPlan& plan,
                                  HeaderParser& rp, const Backend* backend,
                                  Clock::time_point waiting_since) {
  const auto header_at = Clock::now();
  obs.first_byte = header_at - obs.start;
  note_latency(plan, backend, header_at - waiting_since, header_at);
  auto& res = rp.get();
  const unsigned status = res.result_int();
  if (status == 101) {
    respond_error(x, obs, 502, "101 over HTTP/2");
    return false;
  }
  obs.status = status;
  plan.persistence.finish(worker_, res.base(), backend);
  if (backend) {
    worker_.report(*plan.pool_name, *backend,
                   status >= 500 ? TrafficEvent::http_5xx : TrafficEvent::success);
  }
  std::vector<Header> hs;
  hs.reserve(16);
  for (const auto& f : res.base()) {
    auto name = lower_case(sv(f.name_string()));
    if (hop_by_hop(name)) continue;
    hs.push_back(Header{std::move(name), std::string(sv(f.value()))});
  }
  add_set_cookie(hs, plan);
  if (!session_.submit_response(x.id, status, hs, rp.is_done())) return false;
  kick();
  return true;
}

/// Streams the request body of `x` to the backend (re-chunked when it has no length).
/// False when it failed (answered already, or nobody is left to answer).
lb::awaitable<bool> Connection::send_body(Exchange& x, UpstreamStream& upstream, Watchdog& watch,
                                          bool chunked, RequestObservation& obs) {
  const auto& to = cfg_.timeouts;
  const auto max = cfg_.limits.max_body_size;
  std::uint64_t total = 0;
  std::string chunk;
  error_code ec;
  for (;;) {
    if (!x.body.empty()) {
      chunk.clear();
      chunk.swap(x.body);
      total += chunk.size();
      if (max > 0 && total > max) co_return body_failed(x, obs, 413);
      std::string frame;
      if (chunked) frame = fmt::format("{:x}\r\n", chunk.size());
      std::array<asio::const_buffer, 3> out{asio::buffer(frame), asio::buffer(chunk),
                                            asio::buffer(chunked ? "\r\n" : "", chunked ? 2 : 0)};
      watch.arm(to.server_idle);
      co_await asio::async_write(upstream, out, asio::redirect_error(lb::use_awaitable, ec));
      if (x.gone) co_return false;
      if (ec) co_return body_failed(x, obs, watch.fired() ? 504 : 502);
      session_.consume(x.id, chunk.size());
      obs.bytes_in += chunk.size();
      kick();
      continue;
    }
    if (x.body_done) break;
    if (x.gone) co_return false;
    if (!co_await x.signal.wait_until(Clock::now() + to.client_idle))
      co_return body_failed(x, obs, 408);
  }
  if (chunked) {
    static constexpr std::string_view kLast = "0\r\n\r\n";
    watch.arm(to.server_idle);
    co_await asio::async_write(upstream, asio::buffer(kLast.data(), kLast.size()),
                               asio::redirect_error(lb::use_awaitable, ec));
    if (x.gone) co_return false;
    if (ec) co_return body_failed(x, obs, 502);
  }
  co_return true;
}

bool Connection::body_failed(Exchange& x, RequestObservation& obs, unsigned status) {
  respond_error(x, obs, status, "request body failed");
  return false;
}

/// Decodes the backend's response body (length, chunked or until close) and queues it on the
/// stream as the client's window allows. True when the whole body went out. The body parser
/// lives in this frame, not in the caller's (a frame of the caller's size is not recycled).
lb::awaitable<bool> Connection::relay_response(Exchange& x, UpstreamStream& upstream,
                                               beast::flat_buffer& ubuf, HeaderParser& header,
                                               Watchdog& watch, RequestObservation& obs) {
  const auto& to = cfg_.timeouts;
  BodyParser p(std::move(header));
  p.body_limit(kNoBodyLimit);
  // The decoded body passes through here; a short body known by its length gets a buffer of
  // its size (left uninitialised: the parser writes before anything reads).
  const auto length = p.content_length();
  const std::size_t scratch_size =
      length ? static_cast<std::size_t>(std::clamp<std::uint64_t>(*length, 1, kBodyChunk))
             : kBodyChunk;
  const auto scratch = std::make_unique_for_overwrite<std::uint8_t[]>(scratch_size);
  error_code ec;
  p.eager(true);
  while (!p.is_done()) {
    p.get().body().data = scratch.get();
    p.get().body().size = scratch_size;
    std::size_t used = 0;
    if (ubuf.size() > 0) {
      used = p.put(ubuf.data(), ec);
      ubuf.consume(used);
      if (ec == http::error::need_buffer || ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        co_return false;
      }
    }
    const std::size_t produced = scratch_size - p.get().body().size;
    for (std::size_t off = 0; off < produced;) {
      if (x.gone) co_return false;
      const auto took = session_.write_body(x.id, std::span(scratch.get() + off, produced - off));
      if (took > 0) {
        off += took;
        kick();
        continue;
      }
      if (!co_await x.signal.wait_until(Clock::now() + to.client_idle)) co_return false;
    }
    obs.bytes_out += produced;
    if (p.is_done()) break;
    if (used == 0 && produced == 0) {
      watch.arm(to.server_idle);
      const auto got = co_await upstream.async_read_some(
          ubuf.prepare(kReadChunk), asio::redirect_error(lb::use_awaitable, ec));
      ubuf.commit(got);
      if (x.gone) co_return false;
      if (ec == asio::error::eof) {
        p.put_eof(ec);
        if (ec) co_return false;
        break;
      }
      if (ec) co_return false;
    }
  }
  co_return true;
}

/// The relayed body ended: the stream ends, or is reset when the body broke off (the header is
/// out: resetting the stream is the only honest signal left).
void Connection::end_relayed(Exchange& x, bool complete) {
  if (complete) {
    session_.end_body(x.id);
  } else if (!x.gone) {
    session_.reset(x.id, 2 /* INTERNAL_ERROR */);
  }
  kick();
}

}  // namespace lbd::h2
