// The L7 client session (see http_session.hpp), a template over the client stream: plain TCP
// (instantiated in http_session.cpp) or TLS (https_session.cpp, so the two compile in parallel).
// One coroutine per client connection on its worker's thread: read a request header with Beast's
// parser, check it, route it, forward it on a pooled or new backend connection, stream the bodies
// both ways, loop while keep-alive holds. Private to those two files.
#pragma once

#include <type_traits>

#include "lbd/http/http_session.hpp"
#include "lbd/tls/tls_context.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>

#include "lbd/balance/least_time.hpp"
#include "lbd/http/chunked_bounds.hpp"
#include "lbd/http/client_parking.hpp"
#include "lbd/http/fields_lookup.hpp"
#include "lbd/http/http_persistence.hpp"
#include "lbd/http/http_rewrite.hpp"
#include "lbd/http/http_watchdog.hpp"
#include "lbd/http/http_worker_state.hpp"
#include "lbd/http/replay_policy.hpp"
#include "lbd/http/router.hpp"
#include "lbd/http/stream_relay.hpp"
#include "lbd/l4/relay.hpp"
#include "lbd/session/conn_tracking.hpp"
#include "lbd/session/deadline.hpp"
#include "lbd/session/h2_entry.hpp"
#include "lbd/session/persistence.hpp"
#include "lbd/session/pick_hash.hpp"
#include "lbd/session/request_log.hpp"
#include "lbd/upstream_conn/upstream_pool.hpp"
#include "lbd/upstream_conn/upstream_tls.hpp"
#include "lbd/upstream_conn/upstream_tls_stream.hpp"

namespace lbd::proxy {

// Not an anonymous namespace: HttpWorkerState must be one type in both translation units (it
// lives in the worker's extension slot, shared by plain and TLS sessions).
namespace http_detail {
// beast, asio, error_code, tcp, Clock and nanoseconds: declared for this namespace in
// http_worker_state.hpp.

// Header reads start small: most headers fit, and a burst of requests then holds little memory.
constexpr std::size_t kReadChunk = 4 * 1024;
// Body relays read bigger pieces: fewer syscalls per MiB (the buffer comes from the free list).
constexpr std::size_t kBodyChunk = 64 * 1024;
constexpr std::uint32_t kMaxResponseHeader = 64 * 1024;
// Fields in one request header (HAProxy's default is 101 with the start line, Apache's 100):
// Beast allocates a node per field, so 16 KiB of "a:b" lines would cost ~300 KiB.
constexpr std::size_t kMaxHeaderFields = 100;
// Not boost::none: Boost 1.74 compares `len_ > body_limit_` with an empty optional, which is true.
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();
constexpr Clock::time_point kNoDeadline = Clock::time_point::max();

/// Plain TCP: what the parking lot calls when a parked client sent bytes, closed, timed out or
/// was closed by a drain (defined in http_session.cpp).
void resume_parked(WorkerContext& worker, std::unique_ptr<ParkedClient> parked, error_code ec);

inline void append_fields(std::string& out, const http::fields& fields) {
  for (const auto& f : fields) {
    out.append(f.name_string().data(), f.name_string().size());
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  out += "\r\n";
}

inline void append_number(std::string& out, std::uint64_t v, int base = 10) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, base);
  out.append(buf, end);
}

enum class BodyResult {
  ok,
  from_failed,
  to_failed,
  too_large,
  malformed,
  chunk_line_too_long,  // a chunk-size line (with extensions) over kMaxChunkLine
  trailers_too_large,   // a trailer section over the header bound
};

/// How a request exchange ended.
enum class Next { keep_alive, close };

/// `ClientStream`: tcp::socket, or an Asio ssl::stream<tcp::socket> (TLS termination).
template <typename ClientStream>
class HttpSession {
  static constexpr bool kTls = !std::is_same_v<ClientStream, tcp::socket>;

 public:
  /// `stream_args` follow the client socket into ClientStream's constructor (the TLS context).
  template <typename... StreamArgs>
  HttpSession(WorkerContext& worker, ClientConnection client, StreamArgs&&... stream_args)
      : worker_(worker),
        client_(std::move(client)),
        stream_(std::move(client_.socket), std::forward<StreamArgs>(stream_args)...),
        cfg_(*client_.config),
        listener_(*client_.info.listener),
        state_(worker_state(worker)),
        log_(worker.logger()),
        watchdog_(raw_socket().get_executor()),
        lstats_(worker.stats().listener(listener_.name)) {
    watchdog_.watch(&raw_socket(), nullptr);
  }

  /// Plain TCP: the session of a parked client that sent its next request's first bytes.
  HttpSession(WorkerContext& worker, std::unique_ptr<ParkedClient> parked) requires(!kTls)
      : HttpSession(worker, std::move(parked->client)) {
    tracked_ = std::move(parked->tracked);
    tracked_backend_ = parked->tracked_backend;
    tracked_at_s_ = parked->tracked_at_s;
    // The client's next request is readable now: run() reads it as a first request (header
    // timeout, never parked before it arrives).
  }

  lb::awaitable<void> run() {
    if constexpr (kTls) {
      if (!co_await tls_handshake()) {
        watchdog_.disarm();
        error_code ignored;
        raw_socket().close(ignored);
        co_return;
      }
    }
    init_routing();
    bool h2 = false;  // the connection spoke HTTP/2 (ALPN "h2", or h2c): served, now ends
    if constexpr (kTls) {
      if (tls_.alpn == "h2") {
        h2 = true;
        watchdog_.disarm();
        co_await h2::serve_h2_tls(worker_, client_, stream_, tls_);
      }
    }
    const auto& to = cfg_.timeouts;
    for (bool first = true; !h2; first = false) {
      if (worker_.draining() && !first) break;
      // Wait for the next request here, outside exchange(), with only a small inline buffer:
      // an idle keep-alive connection then holds this frame and the socket, no read buffer.
      // (A read, not async_wait: Asio re-arms epoll with EPOLL_CTL_MOD for every wait, while a
      // read after an exhausted read just queues.)
      if (cbuf_.size() == 0) {
        if (!first) {
          state_.give(cbuf_);
          state_.give(ubuf_);
          state_.give(head_);
        }
        if constexpr (!kTls) {
          if (!first && state_.parkable.size() >= kIdleSessionsKept && !worker_.draining()) {
            park(Clock::now() + to.keep_alive);
            co_return;
          }
        }
        watchdog_.arm(first ? to.request_header : to.keep_alive);
        // The first request's header deadline runs from here: exchange() must not restart it
        // when the first bytes arrive (a slow client would get it twice).
        header_armed_ = first;
        IdleNode node(&raw_socket());
        state_.add_idle(node, !kTls && !first);
        error_code ec;
        const auto got = co_await stream_.async_read_some(
            asio::buffer(first_bytes_), asio::redirect_error(lb::use_awaitable, ec));
        node.unlink();
        if constexpr (!kTls) {
          if (got == 0 && node.park && !worker_.draining()) {
            park(node.since + to.keep_alive);
            co_return;
          }
          if (first && got > 0 && listener_.h2c &&
              h2::starts_like_preface(std::string_view(first_bytes_.data(), got))) {
            watchdog_.disarm();
            co_await h2::serve_h2c(worker_, client_, stream_,
                                   std::string_view(first_bytes_.data(), got));
            break;
          }
        }
        if (got > 0) {
          state_.take(cbuf_);
          auto dst = cbuf_.prepare(std::max(got, kReadChunk));
          std::memcpy(dst.data(), first_bytes_.data(), got);
          cbuf_.commit(got);
        }
        if (ec && got == 0) {
          if (first && watchdog_.fired()) {
            obs_ = RequestObservation{.start = Clock::now()};
            co_await send_error(408, "no request header in time");
            end_request();
          }
          break;
        }
      }
      state_.take(cbuf_);
      state_.take(ubuf_);
      state_.take(head_);
      if (co_await exchange() == Next::close) break;
    }
    watchdog_.disarm();
    cbuf_.clear();
    ubuf_.clear();
    state_.give(cbuf_);
    state_.give(ubuf_);
    state_.give(head_);
    if constexpr (kTls) {
      if (raw_socket().is_open()) co_await tls_close();
      watchdog_.disarm();
    }
    // close() alone sends the FIN: a shutdown first would be one more syscall per connection.
    error_code ignored;
    raw_socket().close(ignored);
  }

 private:
  struct Upstream {
    UpstreamConnection conn;
    bool reused = false;
  };
  /// A backend connection, or the status and reason of the error response.
  using Acquired = std::expected<Upstream, std::pair<unsigned, std::string>>;

  /// Plain TCP, idle between two requests for kParkAfter: hands the connection to the worker's
  /// parking lot until `deadline` (its keep-alive end) and ends this session (its frames are
  /// freed); resume_parked() starts a new one when the next request comes.
  void park(Clock::time_point deadline) requires(!kTls) {
    watchdog_.disarm();
    auto parked = std::make_unique<ParkedClient>(ClientConnection{
        std::move(stream_), client_.info, std::move(client_.config), std::move(client_.ticket)});
    parked->tracked = std::move(tracked_);
    parked->tracked_backend = tracked_backend_;
    parked->tracked_at_s = tracked_at_s_;
    state_.parking.park(std::move(parked), deadline, cfg_.timeouts.keep_alive, &resume_parked);
  }

  /// The client's TCP socket under the stream (what the watchdog cancels and the end closes).
  tcp::socket& raw_socket() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  /// TLS: the server handshake within the request-header timeout. A failure is counted by reason
  /// on the listener; plain HTTP sent to the TLS port gets a plain-text 400.
  lb::awaitable<bool> tls_handshake() {
    error_code ec;
    watchdog_.arm(cfg_.timeouts.request_header);
    co_await stream_.async_handshake(ClientStream::server,
                                     asio::redirect_error(lb::use_awaitable, ec));
    if (!ec) {
      tls_ = connection_info(stream_.native_handle());
      tls_up_ = true;
      co_return true;
    }
    const auto reason = handshake_error_reason(ec, watchdog_.fired(), stream_.native_handle());
    if (const auto& runtime = client_.ticket.listener()) runtime->count_tls_error(reason);
    log_->debug("tls: handshake failed listener={} client={} reason={}", listener_.name,
                client_.info.peer.to_string(), reason);
    if (reason == "http request") {
      static constexpr std::string_view k400 =
          "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 37\r\n"
          "Connection: close\r\n\r\nThis port expects HTTPS (TLS), not HTTP\n";
      watchdog_.arm(cfg_.timeouts.client_idle);
      co_await asio::async_write(raw_socket(), asio::buffer(k400.data(), k400.size()),
                                 asio::redirect_error(lb::use_awaitable, ec));
    }
    co_return false;
  }

  /// TLS: sends close_notify without waiting for the client's (as HAProxy and nginx do), bounded.
  lb::awaitable<void> tls_close() {
    mark_tls_shutdown_sent(stream_.native_handle());
    error_code ec;
    watchdog_.watch(&raw_socket(), nullptr);
    watchdog_.arm(std::chrono::seconds(1));
    co_await stream_.async_shutdown(asio::redirect_error(lb::use_awaitable, ec));
  }

  void init_routing() {
    if (state_.config != client_.config) {
      if (client_.config == worker_.config() || !state_.config) {
        state_.config = client_.config;
        state_.routers.clear();
      }
    }
    if (state_.config == client_.config) {
      auto& r = state_.routers[&listener_];
      if (!r) r = std::make_shared<const Routing>(listener_, cfg_);
      routing_ = r;
    } else {
      // A connection accepted under an older config than the cached one: compile privately.
      routing_ = std::make_shared<const Routing>(listener_, cfg_);
    }
  }

  // Whether the client connected to a VIP this node handed over (vrrpd's handover drain).
  bool vip_released() {
    const auto* released = worker_.released_vips();
    return released != nullptr && released->holds_local_address_of(raw_socket());
  }

  // ---- one request / response exchange ----------------------------------------------------

  lb::awaitable<Next> exchange() {
    const auto& to = cfg_.timeouts;
    const auto& limits = cfg_.limits;
    error_code ec;
    method_ = target_ = backend_name_ = "-";
    if (!header_armed_) watchdog_.arm(to.request_header);
    header_armed_ = false;
    obs_ = RequestObservation{.start = Clock::now()};

    http::request_parser<http::empty_body> hp;
    // Declared after the parser: ends the request (counters, access log) before the parser,
    // which method_ and target_ point into, goes away.
    struct EndOfRequest {
      HttpSession* session;
      ~EndOfRequest() { session->end_request(); }
    } end_of_request{this};
    hp.header_limit(static_cast<std::uint32_t>(limits.max_header_size));
    hp.body_limit(kNoBodyLimit);  // bodies are streamed and limited by the session
    hp.eager(false);
    // Beast consumes the complete lines of an unfinished header (start line, whole fields) and
    // must not see them again; they stay in cbuf_ until the end for the obs-fold check.
    std::size_t parsed = 0;
    std::size_t lines = 0;  // complete lines Beast consumed: the start line and the fields
    for (;;) {
      if (cbuf_.size() > parsed) {
        // Beast throws for a field name or value over 64 KiB (its fields store 16-bit sizes).
        std::size_t n = 0;
        bool field_too_large = false;
        try {
          n = hp.put(cbuf_.data() + parsed, ec);
        } catch (const std::length_error&) {
          field_too_large = true;
        }
        if (field_too_large) {
          co_await send_error(431, "request header field over 64 KiB");
          co_return Next::close;
        }
        lines += std::count(static_cast<const char*>(cbuf_.data().data()) + parsed,
                            static_cast<const char*>(cbuf_.data().data()) + parsed + n, '\n');
        parsed += n;
        if (lines > kMaxHeaderFields + 2) {  // + the start line and the empty line
          lstats_.limit(admin::HttpLimit::header_fields);
          co_await send_error(431, "too many header fields");
          co_return Next::close;
        }
        if (ec == http::error::need_more) {
          ec = {};
        } else if (ec == http::error::header_limit) {
          co_await send_error(431, "request header too large");
          co_return Next::close;
        } else if (ec) {
          co_await send_error(400, fmt::format("malformed request: {}", ec.message()));
          co_return Next::close;
        } else if (hp.is_header_done()) {
          const std::string_view raw(static_cast<const char*>(cbuf_.data().data()), parsed);
          if (has_obs_fold(raw)) {
            co_await send_error(400, "obs-fold in request header");
            co_return Next::close;
          }
          cbuf_.consume(parsed);
          obs_.bytes_in += parsed;
          break;
        }
      }
      if (cbuf_.size() > limits.max_header_size) {
        co_await send_error(431, "request header too large");
        co_return Next::close;
      }
      const auto got = co_await stream_.async_read_some(
          cbuf_.prepare(kReadChunk), asio::redirect_error(lb::use_awaitable, ec));
      cbuf_.commit(got);
      if (ec) {
        if (watchdog_.fired()) co_await send_error(408, "request header timeout");
        // EOF or reset between or inside requests: nothing to answer.
        co_return Next::close;
      }
    }

    auto& req = hp.get();
    method_ = sv(req.method_string());
    target_ = sv(req.target());
    if (worker_.access_log()) {
      // Owned copies: a chunked request moves the parser (and the strings) away mid-request.
      log_method_.assign(method_);
      log_target_.assign(target_);
      obs_.method = log_method_;
      obs_.target = log_target_;
    }
    if (req.version() != 10 && req.version() != 11) {
      co_await send_error(400, "unsupported HTTP version");
      co_return Next::close;
    }
    if (auto why = check_request_framing(req.base(), req.version())) {
      co_await send_error(400, *why);
      co_return Next::close;
    }
    const auto host_count = req.count(http::field::host);
    if ((req.version() == 11 && host_count != 1) || host_count > 1) {
      co_await send_error(400, "a request needs exactly one Host header");
      co_return Next::close;
    }
    bool expect_continue = false;
    if (auto it = req.find(http::field::expect); it != req.end()) {
      if (!beast::iequals(it->value(), "100-continue")) {
        co_await send_error(417, "unsupported Expect");
        co_return Next::close;
      }
      expect_continue = true;
    }
    const auto content_length = hp.content_length();
    const bool chunked = hp.chunked();
    if (limits.max_body_size > 0 && content_length && *content_length > limits.max_body_size) {
      co_await send_error(413, "request body too large");
      co_return Next::close;
    }
    const bool upgrade = hp.upgrade();
    const bool client_keep_alive = hp.keep_alive();
    const bool has_body = chunked || content_length.value_or(0) > 0;
    const unsigned client_version = req.version();
    const bool is_head = req.method() == http::verb::head;

    // Route on the request as the client sent it.
    const auto parts = split_target(target_);
    std::string_view host_raw = parts.authority;
    if (host_raw.empty()) {
      if (auto it = req.find(http::field::host); it != req.end()) host_raw = sv(it->value());
    }
    normalize_host(host_raw, host_);
    forwarded_host_.assign(host_raw);
    FieldsLookup lookup(req.base());
    const auto pool_index =
        routing_->router.route({method_, host_, parts.path, &lookup}, &obs_.route);
    const PoolConfig* pool = routing_->pools[pool_index];
    const std::string& pool_name = routing_->router.pool_names()[pool_index];
    obs_.pool = pool_name;
    if (!pool) {
      co_await send_error(503, fmt::format("unknown pool {}", pool_name));
      co_return Next::close;
    }
    if (pool->protocol == UpstreamProtocol::h2) {
      // HTTP/2 servers are reached from HTTP/2 clients only (no HTTP/1.1 to HTTP/2 bridge).
      co_await send_error(502, fmt::format("pool {} speaks HTTP/2 to its servers; this client "
                                           "speaks HTTP/1.1",
                                           pool_name));
      co_return Next::close;
    }
    pick_hash_.reset();
    if (uses_hash(pool->balance.algorithm)) {
      HashInputs in{.client = &client_.info.peer.address, .path = parts.path};
      if (pool->balance.hash_key.kind == HashKey::Kind::header) {
        if (auto it = req.find(bsv(pool->balance.hash_key.name)); it != req.end()) {
          in.header = sv(it->value());
        }
      }
      if (auto it = req.find(http::field::cookie); it != req.end())
        in.cookie_header = sv(it->value());
      pick_hash_ = pick_hash(pool->balance, in);
    }
    persistence_.prepare(worker_, *pool, pool_name, req.base(), client_.info.peer.address, target_);
    // After a failover, a client of the old master goes back to the backend it was using there.
    if (!persistence_.prefer()) {
      persistence_.prefer_backend(
          peer_connection_target(worker_, pool_name, client_.info.peer.address, listener_.name));
    }

    // Rewrite for the backend and serialise the header once (reused on a retry).
    if (client_text_.empty()) client_text_ = client_.info.peer.address.unmapped().to_string();
    const ForwardInfo forward{.client = client_.info.peer.address,
                              .client_text = client_text_,
                              .proto = kTls ? "https" : "http",
                              .host = forwarded_host_};
    std::array<std::string_view, 2> drop;
    std::size_t dropped = 0;
    std::array<AddedField, 1> added;
    std::size_t adds = 0;
    if (expect_continue) drop[dropped++] = "Expect";  // the proxy answers 100 itself
    if constexpr (kTls) {
      // mTLS: the backend may trust this header, so a client never gets to send it.
      const auto& tls = *listener_.tls;
      if (tls.verify_client != VerifyClient::none) {
        drop[dropped++] = tls.client_subject_header;
        if (!tls_.client_subject.empty()) {
          added[adds++] = {tls.client_subject_header, tls_.client_subject};
        }
      }
    }
    auto& request_head = head_;
    request_head.clear();
    request_head.append(method_);
    request_head += ' ';
    request_head.append(target_);
    request_head += " HTTP/1.1\r\n";
    append_rewritten_fields(request_head, req.base(),
                            FieldRewrite{.keep_upgrade = upgrade,
                                         .forward = &forward,
                                         .headers = listener_.forward_headers,
                                         .via_version = client_version,
                                         .connection = upgrade ? "upgrade" : "",
                                         .drop = std::span(drop.data(), dropped),
                                         .add = std::span(added.data(), adds),
                                         .cookie = persistence_.cookie_rewrite(),
                                         .framing = request_framing(chunked, content_length)});

    const Backend* avoid = nullptr;
    for (int attempt = 0;; ++attempt) {
      // A request without a body can be replayed once when a reused connection turns out to be
      // closed by the backend before it answered (the keep-alive race): an idempotent one
      // always, another only if none of its bytes went out (RFC 9110 §9.2.2).
      const bool can_retry = attempt == 0 && !has_body;
      const auto acquire_start = Clock::now();
      // A pooled connection is taken without a coroutine (acquire() would allocate a frame per
      // request); acquire() connects to the server picked here when none is idle.
      const bool may_reuse = attempt == 0 && pool->upstream_keepalive > 0 &&
                             pool->send_proxy_protocol == ProxyProtocolSend::off;
      const Backend* picked = nullptr;
      std::optional<Upstream> pooled;
      if (may_reuse) {
        picked = worker_.pick(
            pool_name,
            PickContext{.hash = pick_hash_, .avoid = avoid, .prefer = persistence_.prefer()});
        if (picked) pooled = take_pooled(*picked, *pool, has_body);
      }
      Acquired acquired = std::unexpected(std::pair<unsigned, std::string>{});
      if (pooled) {
        acquired = std::move(*pooled);
      } else {  // not a ?: with co_await in a branch: g++ 12 miscompiles that (a crash here)
        acquired = co_await acquire(pool_name, *pool, avoid, may_reuse, picked);
      }
      if (!acquired) {
        co_await send_error(acquired.error().first, acquired.error().second);
        co_return Next::close;
      }
      Upstream up = std::move(*acquired);
      const Backend* backend = up.conn.lease.backend();
      backend_name_ = backend ? std::string_view(backend->name) : std::string_view("-");
      if (backend) {
        obs_.server = backend->name;
        obs_.connect =
            up.reused ? std::nullopt : std::optional<nanoseconds>(Clock::now() - acquire_start);
        obs_.sticky = !persistence_.active()             ? ""
                      : backend == persistence_.prefer() ? "hit"
                                                         : "miss";
      }
      // The client connection is tracked under the backend of its latest request, re-pointed at
      // most once a second: under round robin every request changes backend, and each re-point
      // is a remove and an add in the table and in the journal the peer is sent.
      const auto backend_hash = backend ? std::hash<std::string_view>{}(backend->name) : 0;
      const auto now_s = static_cast<std::uint32_t>(
          std::chrono::duration_cast<std::chrono::seconds>(obs_.start.time_since_epoch()).count());
      if (backend &&
          (tracked_.id() == 0 || (backend_hash != tracked_backend_ && now_s != tracked_at_s_))) {
        tracked_ = TrackedConnection(worker_.conn_table(), client_.info.peer, listener_.name,
                                     pool_name, backend->name, repl::ConnMode::l7);
        tracked_backend_ = backend_hash;
        tracked_at_s_ = now_s;
      }
      watchdog_.watch(&raw_socket(), &up.conn.socket);
      UpstreamStream upstream(up.conn);  // TLS or plain ([pool.tls])

      // Header (and the body bytes already buffered, for Content-Length bodies).
      watchdog_.arm(to.server_idle);
      const auto written = co_await asio::async_write(upstream, asio::buffer(request_head),
                                                      asio::redirect_error(lb::use_awaitable, ec));
      if (ec) {
        if (can_retry && up.reused && !watchdog_.fired() && may_replay(method_, written > 0)) {
          avoid = backend;
          watchdog_.watch(&raw_socket(), nullptr);
          continue;
        }
        co_await send_error(watchdog_.fired() ? 504 : 502,
                            "writing the request to the backend failed");
        co_return Next::close;
      }
      if (expect_continue && attempt == 0) {
        static constexpr std::string_view k100 = "HTTP/1.1 100 Continue\r\n\r\n";
        watchdog_.arm(to.client_idle);
        co_await asio::async_write(stream_, asio::buffer(k100.data(), k100.size()),
                                   asio::redirect_error(lb::use_awaitable, ec));
        if (ec) co_return Next::close;
      }
      if (has_body) {
        BodyResult r;
        relayed_ = 0;
        // The whole body within request_body (a replay keeps the first attempt's deadline).
        if (attempt == 0) body_deadline_ = Clock::now() + to.request_body;
        if (chunked) {
          http::request_parser<http::buffer_body> bp(std::move(hp));
          bp.body_limit(kNoBodyLimit);
          r = co_await relay_chunked(bp, stream_, cbuf_, upstream, true, limits.max_body_size,
                                     to.client_idle, to.server_idle, body_deadline_);
        } else {
          r = co_await relay_length(stream_, cbuf_, upstream, *content_length, to.client_idle,
                                    to.server_idle, nullptr, body_deadline_);
        }
        if (r != BodyResult::ok) {
          co_await body_error(r, true);
          co_return Next::close;
        }
        obs_.bytes_in += chunked ? relayed_ : *content_length;
      }

      // Response header; 1xx interim responses other than 101 are passed on.
      const auto waiting_since = Clock::now();  // least_time: time to the response header
      watchdog_.arm(to.server_response);
      ubuf_.clear();
      std::optional<http::response_parser<http::empty_body>> rp;
      bool got_bytes = false;
      for (;;) {
        rp.emplace();
        rp->header_limit(std::max<std::uint32_t>(
            kMaxResponseHeader, static_cast<std::uint32_t>(limits.max_header_size)));
        rp->body_limit(kNoBodyLimit);
        rp->eager(false);
        if (is_head) rp->skip(true);
        // The header is read here, not in a coroutine of its own: one frame allocation less
        // per request (frames over 1 KB are not recycled by Asio).
        bool ok = false;
        for (;;) {
          if (auto parsed = parse_response_header(*rp, got_bytes, ec)) {
            ok = *parsed;
            break;
          }
          const auto got = co_await upstream.async_read_some(
              ubuf_.prepare(kReadChunk), asio::redirect_error(lb::use_awaitable, ec));
          ubuf_.commit(got);
          if (ec) break;
        }
        if (!ok) break;
        const auto status = rp->get().result_int();
        if (status >= 200 || status == 101) break;
        std::string interim = fmt::format("HTTP/1.1 {} {}\r\n", status, sv(rp->get().reason()));
        append_fields(interim, rp->get().base());
        watchdog_.arm(to.client_idle);
        co_await asio::async_write(stream_, asio::buffer(interim),
                                   asio::redirect_error(lb::use_awaitable, ec));
        if (ec) co_return Next::close;
        watchdog_.arm(to.server_response);
      }
      if (ec) {
        if (watchdog_.fired()) {
          if (backend) worker_.report(pool_name, *backend, TrafficEvent::timeout);
          co_await send_error(504, "no response header from the backend in time");
          co_return Next::close;
        }
        if (!got_bytes && can_retry && up.reused && may_replay(method_, true)) {
          log_->debug("http: backend={} closed a reused connection, retrying", backend_name_);
          avoid = backend;
          watchdog_.watch(&raw_socket(), nullptr);
          continue;
        }
        co_await send_error(502, fmt::format("bad response from the backend: {}", ec.message()));
        co_return Next::close;
      }
      const auto header_at = Clock::now();
      obs_.first_byte = header_at - obs_.start;
      if (backend) {
        worker_.stats()
            .backend(pool_name, backend->name)
            .observe_latency(header_at - waiting_since);
      }
      if (backend && pool->balance.algorithm == Algorithm::least_time) {
        const auto now = Clock::now();
        record_latency(*backend, now - waiting_since, now, pool->balance.least_time_decay);
      }
      co_return co_await respond(*rp, std::move(up), *pool, upgrade, client_keep_alive,
                                 client_version);
    }
  }

  /// Feeds the buffered backend bytes (ubuf_) to `rp`: true when its header is complete, false
  /// on a malformed header (`ec` set), nullopt when more bytes are needed.
  std::optional<bool> parse_response_header(http::response_parser<http::empty_body>& rp,
                                            bool& got_bytes, error_code& ec) {
    if (ubuf_.size() == 0) return std::nullopt;
    got_bytes = true;
    // Beast consumes the complete lines of an unfinished header: drop them as it goes.
    std::size_t n = 0;
    try {
      n = rp.put(ubuf_.data(), ec);
    } catch (const std::length_error&) {  // a field over 64 KiB (Beast's fields limit)
      ec = http::error::header_limit;
      return false;
    }
    ubuf_.consume(n);
    if (ec == http::error::need_more) {
      ec = {};
      return std::nullopt;
    }
    if (ec) return false;
    if (rp.is_header_done()) return true;
    return std::nullopt;
  }

  /// Sends the response whose header is in `rp` to the client, its body after it, and decides
  /// what happens to both connections.
  lb::awaitable<Next> respond(http::response_parser<http::empty_body>& rp, Upstream up,
                              const PoolConfig& pool, bool upgrade, bool client_keep_alive,
                              unsigned client_version) {
    const auto& to = cfg_.timeouts;
    error_code ec;
    watchdog_.watch(&raw_socket(), &up.conn.socket);  // `up` moved here
    UpstreamStream upstream(up.conn);
    auto& res = rp.get();
    const unsigned status = res.result_int();
    obs_.status = status;

    if (status == 101) {
      {  // one block for every relay kind (plain splice, or streams when TLS is on a side)
        if (!upgrade) {
          co_await send_error(502, "101 without an upgrade request");
          co_return Next::close;
        }
        persistence_.finish(worker_, res.base(), up.conn.lease.backend());
        std::string head = fmt::format("HTTP/1.1 101 {}\r\n", sv(res.reason()));
        append_rewritten_fields(head, res.base(),
                                FieldRewrite{.keep_upgrade = true,
                                             .headers = listener_.forward_headers,
                                             .via_version = res.version(),
                                             .connection = "upgrade",
                                             .add = persistence_.set_cookie()});
        watchdog_.arm(to.client_idle);
        std::array<asio::const_buffer, 2> out{asio::buffer(head), ubuf_.data()};
        co_await asio::async_write(stream_, out, asio::redirect_error(lb::use_awaitable, ec));
        if (ec) co_return Next::close;
        obs_.bytes_out += head.size() + ubuf_.size();
        ubuf_.clear();
        if (cbuf_.size() > 0) {
          co_await asio::async_write(upstream, cbuf_.data(),
                                     asio::redirect_error(lb::use_awaitable, ec));
          if (ec) co_return Next::close;
          cbuf_.clear();
        }
        watchdog_.disarm();
        watchdog_.watch(nullptr, nullptr);
        log_->debug("http: upgraded listener={} client={} backend={}", listener_.name,
                    client_.info.peer.to_string(), backend_name_);
        RelayOptions options{.client_idle = to.client_idle,
                             .server_idle = to.server_idle,
                             .use_splice = cfg_.global.splice};
        if (kTls || up.conn.tls) {
          // TLS on either side: no splice; this session relays through the streams and ends
          // with the relay (stream_relay.hpp).
          co_await relay_streams(stream_, upstream, raw_socket(), up.conn.socket,
                                 worker_.relay_resources(), options, log_);
          co_return Next::close;
        }
        // The relay takes both sockets over and this session ends, so a long-lived upgraded
        // connection (WebSocket) holds the relay's state only, not the session's frames. The
        // connection slot, the backend lease and the config stay alive until the relay is done.
        start_relay(std::move(raw_socket()), std::move(up.conn.socket), worker_.relay_resources(),
                    options,
                    [config = client_.config, ticket = std::move(client_.ticket),
                     lease = std::move(up.conn.lease)](const RelayResult&) {});
        co_return Next::close;
      }
    }

    const bool no_body = rp.is_done();
    const auto length = rp.content_length();
    bool chunked = !no_body && rp.chunked();
    const bool until_eof = !no_body && !chunked && !length;
    // A client of a VIP this node handed over is asked to reconnect (to the new master) now
    // that its request is answered.
    bool keep_client = client_keep_alive && !until_eof && !worker_.draining() && !vip_released();
    const bool keep_upstream = rp.keep_alive() && !until_eof;
    bool rechunk = true;
    std::array<std::string_view, 1> drop;
    std::size_t dropped = 0;
    if (chunked && client_version < 11) {
      // HTTP/1.0 has no chunked coding: send the decoded body and close to delimit it.
      drop[dropped++] = "Transfer-Encoding";
      rechunk = false;
      keep_client = false;
    }

    persistence_.finish(worker_, res.base(), up.conn.lease.backend());
    if (const Backend* b = up.conn.lease.backend()) {
      worker_.report(pool.name, *b, status >= 500 ? TrafficEvent::http_5xx : TrafficEvent::success);
    }
    auto& head = head_;
    head.clear();
    head += "HTTP/1.1 ";
    append_number(head, status);
    head += ' ';
    auto reason = res.reason();
    if (reason.empty()) reason = http::obsolete_reason(res.result());
    head.append(reason.data(), reason.size());
    head += "\r\n";
    append_rewritten_fields(
        head, res.base(),
        FieldRewrite{.headers = listener_.forward_headers,
                     .via_version = res.version(),
                     .connection = !keep_client          ? "close"
                                   : client_version < 11 ? "keep-alive"
                                                         : "",
                     .drop = std::span(drop.data(), dropped),
                     .add = persistence_.set_cookie(),
                     // A Content-Length the parser accepted ("5, 5", or
                     // twice) goes out once; Transfer-Encoding as received
                     // (it may name codings before chunked).
                     .framing = length ? Framing{Framing::Kind::length, *length} : Framing{}});

    watchdog_.arm(to.client_idle);
    BodyResult r = BodyResult::ok;
    const std::size_t head_size = head.size();
    relayed_ = 0;
    if (no_body) {
      co_await asio::async_write(stream_, asio::buffer(head),
                                 asio::redirect_error(lb::use_awaitable, ec));
      if (ec) r = BodyResult::to_failed;
    } else if (length) {
      r = co_await relay_length(upstream, ubuf_, stream_, *length, to.server_idle, to.client_idle,
                                &head);
    } else if (chunked) {
      co_await asio::async_write(stream_, asio::buffer(head),
                                 asio::redirect_error(lb::use_awaitable, ec));
      if (ec) {
        r = BodyResult::to_failed;
      } else {
        http::response_parser<http::buffer_body> bp(std::move(rp));
        bp.body_limit(kNoBodyLimit);
        r = co_await relay_chunked(bp, upstream, ubuf_, stream_, rechunk, 0, to.server_idle,
                                   to.client_idle);
      }
    } else {
      r = co_await relay_until_eof(upstream, ubuf_, stream_, to.server_idle, to.client_idle, head);
    }
    if (r != BodyResult::ok) {
      // The response header may be out already: the only honest signal left is closing.
      log_->warn("http: response body failed listener={} client={} backend={} status={} why={}",
                 listener_.name, client_.info.peer.to_string(), backend_name_, status,
                 response_failure(r));
      co_return Next::close;
    }
    obs_.bytes_out += head_size + (no_body ? 0 : length ? *length : relayed_);
    log_->debug("http: listener={} client={} method={} target={} backend={} status={}",
                listener_.name, client_.info.peer.to_string(), method_, target_, backend_name_,
                status);
    watchdog_.watch(&raw_socket(), nullptr);
    if (keep_upstream && ubuf_.size() == 0 && pool.send_proxy_protocol == ProxyProtocolSend::off) {
      state_.upstreams.put(std::move(up.conn), Clock::now(), pool.upstream_keepalive);
    }
    ubuf_.clear();
    co_return keep_client ? Next::keep_alive : Next::close;
  }

  /// How long the next read may wait: the idle timeout, cut short by a whole-body deadline.
  static nanoseconds read_timeout(nanoseconds idle, Clock::time_point deadline) {
    if (deadline == kNoDeadline) return idle;
    const auto left = std::chrono::duration_cast<nanoseconds>(deadline - Clock::now());
    return std::clamp(left, nanoseconds(0), idle);
  }

  /// The request framing the backend is told: what the parser decided, never the client's text.
  static Framing request_framing(bool chunked, boost::optional<std::uint64_t> content_length) {
    if (chunked) return Framing{Framing::Kind::chunked};
    if (content_length) return Framing{Framing::Kind::length, *content_length};
    return Framing{Framing::Kind::none};
  }

  /// Why a response body relay failed, for the log line.
  static std::string_view response_failure(BodyResult r) {
    switch (r) {
      case BodyResult::from_failed:
      case BodyResult::malformed:
        return "backend";
      case BodyResult::chunk_line_too_long:
        return "backend chunk-size line too long";
      case BodyResult::trailers_too_large:
        return "backend trailer section too large";
      default:
        return "client";
    }
  }

  /// An idle pooled connection to `server`, if one is left.
  std::optional<Upstream> take_pooled(const Backend& server, const PoolConfig& pool,
                                      bool has_body) {
    // Probing costs a syscall; without a body a dead connection is caught by the replay.
    const UpstreamTlsContext* tls = pool.tls ? pool.tls->context.get() : nullptr;
    if (auto c = state_.upstreams.take(&server, Clock::now(), cfg_.timeouts.server_idle, has_body,
                                       tls)) {
      return Upstream{std::move(*c), true};
    }
    return std::nullopt;
  }

  /// A new connection to a backend of `pool`: with `reuse` (the pool keeps idle connections) to
  /// `picked`, the server the balancer chose for a pooled one that was not there (null: no
  /// server is healthy); else through the worker, which retries other servers. On failure the
  /// status and the reason for the error response.
  lb::awaitable<Acquired> acquire(const std::string& pool_name, const PoolConfig& pool,
                                  const Backend* avoid, bool reuse, const Backend* picked) {
    using Failure = std::pair<unsigned, std::string>;
    if (reuse) {
      const auto* b = picked;
      if (!b) co_return std::unexpected(Failure{503, "no healthy backend"});
      // Connect to the server just picked, not to a second pick: with two picks per request a
      // round robin can fall into a cycle where one server's connections are always parked and
      // never taken again (they pile up and churn).
      if (b->max_connections == 0 ||
          b->active.load(std::memory_order_relaxed) < b->max_connections) {
        BackendLease lease(b, worker_.pool_snapshot(pool_name));
        tcp::socket socket(worker_.io());
        error_code ec;
        watchdog_.watch(&raw_socket(), &socket);
        watchdog_.arm(cfg_.timeouts.connect);
        co_await socket.async_connect(to_asio(b->address),
                                      asio::redirect_error(lb::use_awaitable, ec));
        watchdog_.watch(&raw_socket(), nullptr);
        std::optional<std::string> tls_failed;
        if (!ec) {
          socket.set_option(tcp::no_delay(true), ec);
          UpstreamConnection conn{std::move(socket), std::move(lease)};
          if (!pool.tls) co_return Upstream{std::move(conn), false};
          watchdog_.disarm();  // the handshake has its own connect timeout
          tls_failed = co_await start_upstream_tls(conn, pool.tls->context, b->address,
                                                   cfg_.timeouts.connect);
          if (!tls_failed) co_return Upstream{std::move(conn), false};
        }
        worker_.counters().connect_failures.fetch_add(1, std::memory_order_relaxed);
        worker_.report(pool_name, *b,
                       !tls_failed && watchdog_.fired() ? TrafficEvent::timeout
                                                        : TrafficEvent::connect_failure);
        if (tls_failed) {
          log_->warn("tls: upstream handshake failed pool={} server={} address={} reason={}",
                     pool_name, b->name, b->address.to_string(), *tls_failed);
        } else {
          log_->debug("connect: pool={} server={} error={}", pool_name, b->name,
                      watchdog_.fired() ? "timeout" : ec.message());
        }
      }
      avoid = b;  // the worker's connect below retries the other servers
    }
    watchdog_.disarm();  // connect_upstream applies the connect timeout itself
    auto r = co_await worker_.connect_upstream(
        pool_name, client_.info,
        PickContext{.hash = pick_hash_, .avoid = avoid, .prefer = persistence_.prefer()});
    if (!r) {
      switch (r.error()) {
        case UpstreamError::no_backend:
          co_return std::unexpected(Failure{503, "no healthy backend"});
        case UpstreamError::timeout:
          co_return std::unexpected(Failure{504, "connect to the backend timed out"});
        case UpstreamError::connect_failed:
          break;
      }
      co_return std::unexpected(Failure{502, "connect to the backend failed"});
    }
    co_return Upstream{std::move(*r), false};
  }

  // ---- body relays ------------------------------------------------------------------------

  /// Moves exactly `n` body bytes from `from` (bytes already in `fbuf` first) to `to`, writing
  /// `head` in front of the first bytes when given.
  template <typename From, typename To>
  lb::awaitable<BodyResult> relay_length(From& from, beast::flat_buffer& fbuf, To& to,
                                         std::uint64_t n, nanoseconds from_idle,
                                         nanoseconds to_idle, std::string* head = nullptr,
                                         Clock::time_point from_deadline = kNoDeadline) {
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

  /// Writes `head`, then everything `from` sends until it closes.
  template <typename From, typename To>
  lb::awaitable<BodyResult> relay_until_eof(From& from, beast::flat_buffer& fbuf, To& to,
                                            nanoseconds from_idle, nanoseconds to_idle,
                                            std::string& head) {
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

  /// Decodes a chunked body with Beast's parser and writes it to `to`, re-chunked when `rechunk`
  /// (so the next hop sees canonical framing, never the sender's), else raw. Trailers are dropped.
  template <bool isRequest, typename From, typename To>
  lb::awaitable<BodyResult> relay_chunked(http::parser<isRequest, http::buffer_body>& p, From& from,
                                          beast::flat_buffer& fbuf, To& to, bool rechunk,
                                          std::uint64_t max_body, nanoseconds from_idle,
                                          nanoseconds to_idle,
                                          Clock::time_point from_deadline = kNoDeadline) {
    auto& pool = worker_.relay_resources();
    auto scratch = pool.acquire_buffer();
    const auto result = co_await relay_chunked_with(p, from, fbuf, to, rechunk, max_body, from_idle,
                                                    to_idle, from_deadline, scratch.get());
    pool.release_buffer(std::move(scratch));
    co_return result;
  }

  template <bool isRequest, typename From, typename To>
  lb::awaitable<BodyResult> relay_chunked_with(http::parser<isRequest, http::buffer_body>& p,
                                               From& from, beast::flat_buffer& fbuf, To& to,
                                               bool rechunk, std::uint64_t max_body,
                                               nanoseconds from_idle, nanoseconds to_idle,
                                               Clock::time_point from_deadline,
                                               std::uint8_t* scratch) {
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
      std::size_t used = 0;
      if (fbuf.size() > 0) {
        used = p.put(fbuf.data(), ec);
        fbuf.consume(used);
        if (ec == http::error::need_buffer || ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          co_return BodyResult::malformed;
        }
      }
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
      if (used == 0 && produced == 0) {
        // The parser holds an unfinished chunk-size line or trailer section whole: bound it
        // before reading more, or one peer's endless chunk extension fills the memory.
        const std::string_view pending(static_cast<const char*>(fbuf.data().data()), fbuf.size());
        switch (pending_chunk_overflow(pending, kMaxChunkLine, max_trailers)) {
          case ChunkOverflow::line:
            lstats_.limit(admin::HttpLimit::chunk_line);
            co_return BodyResult::chunk_line_too_long;
          case ChunkOverflow::trailers:
            lstats_.limit(admin::HttpLimit::trailers);
            co_return BodyResult::trailers_too_large;
          case ChunkOverflow::none:
            break;
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

  /// The error response for a failed request body relay.
  lb::awaitable<void> body_error(BodyResult r, bool request) {
    switch (r) {
      case BodyResult::too_large:
        co_await send_error(413, "request body too large");
        break;
      case BodyResult::malformed:
        co_await send_error(400, "malformed chunked body");
        break;
      case BodyResult::chunk_line_too_long:
        co_await send_error(400, "chunk-size line with its extensions too long");
        break;
      case BodyResult::trailers_too_large:
        co_await send_error(400, "trailer section too large");
        break;
      case BodyResult::from_failed:
        if (!watchdog_.fired()) break;  // the client went away: nobody to answer
        if (Clock::now() >= body_deadline_) {
          lstats_.limit(admin::HttpLimit::request_body_time);
          co_await send_error(408, "request body not complete within timeouts.request_body");
        } else {
          co_await send_error(408, "request body timeout");
        }
        break;
      case BodyResult::to_failed:
        co_await send_error(watchdog_.fired() ? 504 : 502,
                            request ? "sending the request body to the backend failed"
                                    : "sending the response failed");
        break;
      case BodyResult::ok:
        break;
    }
  }

  // ---- errors -----------------------------------------------------------------------------

  /// Answers `status` with a short text body, logs one line, and leaves the connection ready to
  /// be closed (the caller closes it).
  lb::awaitable<void> send_error(unsigned status, std::string_view why) {
    obs_.status = status;
    const auto reason = http::obsolete_reason(static_cast<http::status>(status));
    if (status == 503) {
      // No backend: the health manager logs the pool going down once; not per request.
      log_->debug("http: status=503 listener={} client={} method={} target={} why={}",
                  listener_.name, client_.info.peer.to_string(), method_, target_, why);
    } else if (status >= 500) {
      log_->warn("http: status={} listener={} client={} method={} target={} backend={} why={}",
                 status, listener_.name, client_.info.peer.to_string(), method_, target_,
                 backend_name_, why);
    } else {
      log_->info("http: status={} listener={} client={} method={} target={} why={}", status,
                 listener_.name, client_.info.peer.to_string(), method_, target_, why);
    }
    const std::string body = fmt::format("{} {}\n", status, sv(reason));
    // 503 = no backend can take the request now: tell clients when to come back.
    const std::string msg = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}"
        "Connection: close\r\n\r\n{}",
        status, sv(reason), body.size(), status == 503 ? "Retry-After: 1\r\n" : "", body);
    error_code ec;
    watchdog_.watch(&raw_socket(), nullptr);
    watchdog_.arm(cfg_.timeouts.client_idle);
    co_await asio::async_write(stream_, asio::buffer(msg),
                               asio::redirect_error(lb::use_awaitable, ec));
    if (ec) co_return;
    obs_.bytes_out += msg.size();
    // Half-close, then read (and drop) what the client is still sending for a short while:
    // closing with unread bytes would reset the connection and could destroy the response.
    raw_socket().shutdown(tcp::socket::shutdown_send, ec);
    watchdog_.arm(std::chrono::milliseconds(500));
    std::size_t drained = 0;
    while (!ec && drained < 1024 * 1024) {
      cbuf_.clear();
      drained += co_await raw_socket().async_read_some(cbuf_.prepare(kReadChunk),
                                                       asio::redirect_error(lb::use_awaitable, ec));
    }
    cbuf_.clear();
  }

  /// The end of one request (also a refused or abandoned one): listener counters, access log.
  void end_request() {
    if (obs_.status == 0 && method_ == "-") return;  // the client closed before a request
    const bool logging = worker_.access_log() != nullptr;
    if constexpr (kTls) {
      if (tls_up_) {
        obs_.tls_version = tls_.version;
        obs_.tls_cipher = tls_.cipher;
      }
    }
    finish_request(worker_, lstats_, listener_.name,
                   logging ? client_.info.peer.to_string() : std::string(), obs_);
  }

  WorkerContext& worker_;
  ClientConnection client_;  // its socket moved into stream_
  ClientStream stream_;
  const Config& cfg_;
  const ListenerConfig& listener_;
  HttpWorkerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  Watchdog watchdog_;
  std::shared_ptr<const Routing> routing_;

  beast::flat_buffer cbuf_;  // bytes from the client not yet consumed
  beast::flat_buffer ubuf_;  // bytes from the backend not yet consumed
  std::string host_;
  std::string forwarded_host_;
  std::string head_;         // the serialised header being sent (capacity reused across requests)
  std::string client_text_;  // the client address as forwarding headers write it
  std::array<char, 256> first_bytes_;  // the first read of each request
  std::string_view method_ = "-";
  std::string_view target_ = "-";
  std::string_view backend_name_ = "-";
  std::optional<std::uint64_t> pick_hash_;  // PickContext::hash of the request in flight
  HttpPersistence persistence_;             // session persistence of the request in flight
  TrackedConnection tracked_;        // this client connection in the replicated connection table
  std::size_t tracked_backend_ = 0;  // hash of the backend name it is tracked under
  std::uint32_t tracked_at_s_ = 0;   // steady-clock second of the last re-point
  // Observability: the request in flight as /metrics and the access log see it.
  admin::ListenerCounters& lstats_;
  RequestObservation obs_;
  std::uint64_t relayed_ = 0;  // body bytes the last relay_chunked / relay_until_eof passed on
  Clock::time_point body_deadline_ = kNoDeadline;  // the request body's (timeouts.request_body)
  bool header_armed_ = false;  // run() armed the first request's header deadline already
  std::string log_method_;     // owned copies for the access log (only when it is on)
  std::string log_target_;
  TlsConnectionInfo tls_;  // TLS only: version, cipher, SNI, verified client subject
  bool tls_up_ = false;    // TLS only: the handshake completed
};

}  // namespace http_detail
}  // namespace lbd::proxy
