// The L7 client session (see http_session.hpp), a template over the client stream: plain TCP
// (instantiated in http_session.cpp) or TLS (https_session.cpp, so the two compile in parallel).
// One coroutine per client connection on its worker's thread: read a request header, check and
// route it, acquire a backend connection, forward the request, relay the response, loop while
// keep-alive holds. This file holds the reads and writes on the client stream and the order of
// the steps; the steps themselves are plain functions of HttpExchange (http_exchange.hpp) and
// the body relays live in body_relay.cpp. Private to those two files.
#pragma once

#include <algorithm>
#include <chrono>
#include <type_traits>

#include "lbd/http/http_exchange.hpp"
#include "lbd/http/http_session.hpp"
#include "lbd/http/stream_relay.hpp"
#include "lbd/l4/relay.hpp"
#include "lbd/session/h2_entry.hpp"
#include "lbd/upstream_conn/upstream_tls_stream.hpp"

namespace lbd::proxy::http_detail {

/// Plain TCP: what the parking lot calls when a parked client sent bytes, closed, timed out or
/// was closed by a drain (defined in http_session.cpp).
void resume_parked(WorkerContext& worker, std::unique_ptr<ParkedClient> parked, error_code ec);

/// `ClientStream`: tcp::socket, or an Asio ssl::stream<tcp::socket> (TLS termination).
template <typename ClientStream>
class HttpSession : HttpExchange {
  static constexpr bool kTls = !std::is_same_v<ClientStream, tcp::socket>;

 public:
  /// `stream_args` follow the client socket into ClientStream's constructor (the TLS context).
  template <typename... StreamArgs>
  HttpSession(WorkerContext& worker, ClientConnection client, StreamArgs&&... stream_args)
      : HttpExchange(worker, std::move(client), kTls),
        stream_(std::move(client_.socket), std::forward<StreamArgs>(stream_args)...) {
    if constexpr (kTls) {
      set_raw_socket(stream_.next_layer());
    } else {
      set_raw_socket(stream_);
    }
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
        close_client();
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
        if (!first) give_buffers();
        if constexpr (!kTls) {
          if (!first && too_many_idle()) {
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
        keep_first_bytes(got);
        if (ec && got == 0) {
          if (first && watchdog_.fired()) {
            obs_ = RequestObservation{.start = Clock::now()};
            co_await send_error(408, "no request header in time");
            end_request();
          }
          break;
        }
      }
      take_buffers();
      if (co_await exchange() == Next::close) break;
    }
    watchdog_.disarm();
    release_buffers();
    if constexpr (kTls) {
      if (raw_socket().is_open()) co_await tls_close();
      watchdog_.disarm();
    }
    close_client();
  }

 private:
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

  /// TLS: the server handshake within the request-header timeout. A failure is counted by reason
  /// on the listener; plain HTTP sent to the TLS port gets a plain-text 400.
  lb::awaitable<bool> tls_handshake() {
    error_code ec;
    // One request_header budget for the wait for the first bytes (serve_https) and this.
    const auto spent = client_.waited_for_first_bytes;
    watchdog_.arm(std::max<std::chrono::nanoseconds>(cfg_.timeouts.request_header - spent,
                                                     std::chrono::milliseconds(1)));
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

  // ---- one request / response exchange ----------------------------------------------------

  /// Reads and checks a request header, routes it, forwards it on a pooled or new backend
  /// connection (once more on another one when a reused connection turns out closed), relays
  /// its body and reads the response header; respond() does the rest. The response header is
  /// read here, not in respond() or a coroutine of its own: Asio keeps one freed frame per
  /// thread for reuse, and a larger frame allocated in between costs the read a malloc.
  lb::awaitable<Next> exchange() {
    const auto& to = cfg_.timeouts;
    error_code ec;
    HeaderMemory fields;  // both headers' fields: in this frame, allocated per request anyway
    RequestHeaderParser hp = request_parser(fields);
    EndOfRequest end_of_request{this};  // after the parser: see EndOfRequest
    begin_request(hp);
    std::optional<Refusal> refusal;
    for (HeaderScan scan; !ec && !(refusal = scan_request_header(hp, scan)) && !scan.done;) {
      const auto got = co_await stream_.async_read_some(
          cbuf_.prepare(kReadChunk), asio::redirect_error(lb::use_awaitable, ec));
      cbuf_.commit(got);
      if (ec && !watchdog_.fired()) co_return Next::close;  // EOF or reset: nobody to answer
    }
    if (ec) refusal = Refusal{408, "request header timeout"};
    RequestFacts req;
    if (!refusal) refusal = admit_request(hp, req);
    if (!refusal && req.pool->protocol == UpstreamProtocol::h2) {  // h2_bridge.cpp
      const Next bridged = co_await bridge_h2(stream_, hp, req, refusal);
      if (!refusal) co_return bridged;
    }
    const Backend* avoid = nullptr;
    Acquired up = std::unexpected(Refusal{});  // out here: open until the error is sent
    std::optional<ResponseHeaderParser> rp;
    for (int attempt = 0; !refusal; ++attempt) {
      up = std::unexpected(Refusal{});  // a retry closes the connection that failed first
      // A request without a body can be replayed once when a reused connection turns out to be
      // closed by the backend before it answered (the keep-alive race, see request_replay()).
      const bool can_retry = attempt == 0 && !req.has_body;
      PooledPick pick = take_pooled(req, attempt, avoid);
      if (pick.pooled) {
        up = std::move(*pick.pooled);
      } else {  // not a ?: with co_await in a branch: g++ 12 miscompiles that (a crash here)
        up = co_await acquire(*req.pool_name, *req.pool, avoid, pick.reuse, pick.picked);
      }
      if (!up) refusal = std::move(up.error());
      if (!up) break;
      start_forwarding(*up, req, pick.start);
      UpstreamStream upstream(up->conn);  // TLS or plain ([pool.tls])
      // Header (and the body bytes already buffered, for Content-Length bodies).
      watchdog_.arm(to.server_idle);
      const auto written = co_await asio::async_write(upstream, asio::buffer(head_),
                                                      asio::redirect_error(lb::use_awaitable, ec));
      if (ec) refusal = request_replay(*up, can_retry, written > 0, avoid);
      if (ec) continue;  // on another connection, or ended by the refusal
      if (req.expect_continue && attempt == 0) {
        co_await write_continue(ec);
        if (ec) co_return Next::close;
      }
      if (req.has_body) {
        const auto r = co_await relay_request_body(hp, upstream, req, attempt);
        if (r != BodyResult::ok && !(refusal = body_refusal(r, true))) co_return Next::close;
        if (refusal) break;
        obs_.bytes_in += req.chunked ? relayed_ : *req.content_length;
      }
      // Response header; 1xx interim responses other than 101 are passed on.
      const auto waiting_since = begin_response(rp);
      bool got_bytes = false;
      for (;;) {
        const auto step = parse_response_header(rp, req.is_head, got_bytes, ec);
        if (step == ResponseStep::more) {
          const auto got = co_await upstream.async_read_some(
              ubuf_.prepare(kReadChunk), asio::redirect_error(lb::use_awaitable, ec));
          ubuf_.commit(got);
          if (ec) break;
        } else if (step != ResponseStep::interim) {
          break;  // complete, or malformed (ec set)
        } else {
          co_await pass_interim(*rp, ec);
          if (ec) co_return Next::close;
        }
      }
      if (ec) refusal = response_header_failure(ec, *up, req, got_bytes, can_retry, avoid);
      if (ec) continue;
      note_response_header(up->conn.lease.backend(), req, waiting_since);
      co_return co_await respond(*rp, *up, upstream, req);
    }
    co_await send_error(refusal->status, refusal->why);
    co_return Next::close;
  }

  // The three helpers below are plain functions that return the awaitable of the operation
  // they start, not coroutines: the exchange awaits it, and no frame is added per request.

  /// Tells a client that sent "Expect: 100-continue" to send its body.
  auto write_continue(error_code& ec) {
    watchdog_.arm(cfg_.timeouts.client_idle);
    return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                             asio::redirect_error(lb::use_awaitable, ec));
  }

  /// Relays the request body (its bytes already read first) to the backend, the whole body
  /// within timeouts.request_body (a replay keeps the first attempt's deadline).
  lb::awaitable<BodyResult> relay_request_body(RequestHeaderParser& hp, UpstreamStream& upstream,
                                               const RequestFacts& req, int attempt) {
    const auto& to = cfg_.timeouts;
    if (attempt == 0) body_deadline_ = Clock::now() + to.request_body;
    relayed_ = 0;
    if (req.chunked) {
      return relay_chunked(hp, stream_, cbuf_, upstream, true, cfg_.limits.max_body_size,
                           to.client_idle, to.server_idle, body_deadline_);
    }
    return relay_length(stream_, cbuf_, upstream, *req.content_length, to.client_idle,
                        to.server_idle, nullptr, body_deadline_);
  }

  /// Passes an interim (1xx) response on to the client (in head_: the request was sent, and a
  /// backend that answered is not asked again).
  auto pass_interim(ResponseHeaderParser& rp, error_code& ec) {
    interim_head(head_, rp.get());
    watchdog_.arm(cfg_.timeouts.client_idle);
    return asio::async_write(stream_, asio::buffer(head_),
                             asio::redirect_error(lb::use_awaitable, ec));
  }

  /// Sends the response whose header is in `rp` to the client, its body after it, and decides
  /// what happens to both connections.
  lb::awaitable<Next> respond(ResponseHeaderParser& rp, Upstream& up, UpstreamStream& upstream,
                              const RequestFacts& req) {
    const auto& to = cfg_.timeouts;
    error_code ec;
    obs_.status = rp.get().result_int();
    if (obs_.status == 101) co_return co_await relay_upgraded(rp.get(), up, upstream, req);
    const ResponsePlan plan = plan_response(rp, up.conn.lease.backend(), req);
    watchdog_.arm(to.client_idle);
    BodyResult r = BodyResult::ok;
    relayed_ = 0;
    if (plan.no_body || (plan.length && ubuf_.size() >= *plan.length)) {
      // No body, or all of it came with the header (a small response): one write here, without
      // relay_length's frame (Asio keeps one freed frame per thread; this one was a malloc).
      const auto n = plan.no_body ? 0 : static_cast<std::size_t>(*plan.length);
      std::array<asio::const_buffer, 2> out{asio::buffer(head_),
                                            asio::buffer(ubuf_.data().data(), n)};
      co_await asio::async_write(stream_, out, asio::redirect_error(lb::use_awaitable, ec));
      if (ec) r = BodyResult::to_failed;
      if (!ec) ubuf_.consume(n);
    } else if (plan.length) {
      r = co_await relay_length(upstream, ubuf_, stream_, *plan.length, to.server_idle,
                                to.client_idle, &head_);
    } else if (plan.chunked) {
      co_await asio::async_write(stream_, asio::buffer(head_),
                                 asio::redirect_error(lb::use_awaitable, ec));
      if (ec) {
        r = BodyResult::to_failed;
      } else {
        r = co_await relay_chunked(rp, upstream, ubuf_, stream_, plan.rechunk, 0, to.server_idle,
                                   to.client_idle);
      }
    } else {
      r = co_await relay_until_eof(upstream, ubuf_, stream_, to.server_idle, to.client_idle, head_);
    }
    co_return finish_response(r, plan, up, req);
  }

  /// A 101 response to an Upgrade request: passes it on, then relays bytes both ways until both
  /// sides are done (splice when neither side is TLS); the connection ends with the relay.
  lb::awaitable<Next> relay_upgraded(const ResponseHeader& res, Upstream& up,
                                     UpstreamStream& upstream, const RequestFacts& req) {
    const auto& to = cfg_.timeouts;
    if (!req.upgrade) {
      co_await send_error(502, "101 without an upgrade request");
      co_return Next::close;
    }
    const std::string head = upgrade_head(res, up);
    error_code ec;
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

  // ---- errors -----------------------------------------------------------------------------

  /// Answers `status` with a short text body, logs one line, and leaves the connection ready to
  /// be closed (the caller closes it).
  lb::awaitable<void> send_error(unsigned status, std::string_view why) {
    const std::string msg = error_response(status, why);
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

  ClientStream stream_;
};

}  // namespace lbd::proxy::http_detail
