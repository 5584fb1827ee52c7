// HTTP/1.1 clients of pools with protocol = "h2". The request, checked, routed and rewritten as
// for an HTTP/1.1 server (request_admission.cpp), goes out as one stream on the worker's shared
// HTTP/2 connections (H2UpstreamPool: the connections, stream limits, health reports and stream
// retries HTTP/2 clients get too, lbd/h2/relay_h2.cpp); its body through the session's own body
// relays (H2RequestSink). The response header goes through the planner of HTTP/1.1 servers'
// responses (plan_response: persistence cookie, forwarding headers, keep-alive), its body with
// Content-Length when the server sent one, else chunked (with the server's trailers when the
// client sent "TE: trailers"), or delimited by the close for an HTTP/1.0 client. Response bytes
// hold the server's window until the client took them: a slow client slows the server's stream,
// and lbd holds at most that window.
#include <array>
#include <cstring>

#include <fmt/format.h>

#include <boost/beast/core/string.hpp>

#include "common/asio_ssl.hpp"
#include "lbd/http/h2_request_sink.hpp"
#include "lbd/http/h2_upstream_request.hpp"
#include "lbd/http/http_exchange.hpp"
#include "lbd/http/replay_policy.hpp"
#include "lbd/upstream_conn/h2_upstream.hpp"
#include "lbd/upstream_conn/wake_signal.hpp"

namespace lbd::proxy::http_detail {

namespace {

constexpr std::uint32_t kRefusedStream = 7;  // RFC 9113 §7

/// What no HTTP/2 stream carries here: CONNECT (RFC 9113 §8.5) and protocol upgrades other
/// than h2c (which an HTTP/1.1 server may ignore, RFC 9110 §7.8: the request goes on as is).
std::optional<Refusal> unbridgeable(std::string_view method, const RequestHeaderParser& hp,
                                    const RequestFacts& facts) {
  if (method == "CONNECT") return Refusal{501, "CONNECT to a pool with protocol = \"h2\""};
  const auto& req = hp.get();
  if (facts.upgrade && !beast::iequals(req[http::field::upgrade], "h2c")) {
    return Refusal{501, "Upgrade to a pool with protocol = \"h2\""};
  }
  return std::nullopt;
}

}  // namespace

template <typename ClientStream>
lb::awaitable<Next> HttpExchange::bridge_h2(ClientStream& client, RequestHeaderParser& hp,
                                            const RequestFacts& facts,
                                            std::optional<Refusal>& refusal) {
  auto bridged = co_await bridge_stream(client, hp, facts);
  if (bridged) co_return *bridged;
  refusal = std::move(bridged.error());
  co_return Next::close;
}

template <typename ClientStream>
lb::awaitable<std::expected<Next, Refusal>> HttpExchange::bridge_stream(ClientStream& client,
                                                                        RequestHeaderParser& hp,
                                                                        const RequestFacts& facts) {
  const auto& to = cfg_.timeouts;
  if (auto refused = unbridgeable(method_, hp, facts)) co_return std::unexpected(*refused);
  // Before the body relay: a chunked body moves the parser away.
  const bool trailers = te_has_trailers(sv(hp.get()[http::field::te]));
  const std::string path = origin_form(target_);
  const auto fields = upstream_h2_request({.method = method_,
                                           .scheme = facts.pool->tls ? "https" : "http",
                                           .authority = forwarded_host_,
                                           .path = path,
                                           .te_trailers = trailers},
                                          head_);
  WakeSignal wake(client.get_executor());
  watchdog_.watch(&raw_socket(), nullptr);
  for (int attempt = 0;; ++attempt) {
    const auto acquire_start = Clock::now();
    watchdog_.disarm();  // open() applies the connect timeout itself
    auto opened = co_await state_.h2_upstreams.open(
        *facts.pool, to.server_idle, to.connect, client_.info,
        PickContext{.hash = pick_hash_, .prefer = persistence_.prefer()}, fields, facts.has_body,
        [&wake] { wake.notify(); });
    if (!opened) co_return std::unexpected(unreachable_refusal(opened.error()));
    auto& up = **opened;
    note_backend(up.backend(), facts, Clock::now() - acquire_start);
    H2RequestSink sink(up, wake, client.get_executor(), to.server_idle);
    BodyResult r = BodyResult::ok;
    if (facts.has_body) {
      r = co_await bridge_body(client, hp, sink, facts, attempt);
      if (r == BodyResult::ok) {
        up.end_body({});
        obs_.bytes_in += sink.sent();
      } else if (r != BodyResult::to_failed) {  // the client's side failed
        auto refusal = body_refusal(r, true);
        if (!refusal) co_return Next::close;
        co_return std::unexpected(std::move(*refusal));
      } else if (sink.timed_out() && up.status == 0) {
        if (up.backend()) worker_.report(*facts.pool_name, *up.backend(), TrafficEvent::timeout);
        co_return std::unexpected(Refusal{504, "the backend does not take the request body"});
      }
    }
    // The response header (a server may answer before it read the whole request body).
    const auto waiting_since = Clock::now();
    const auto deadline = waiting_since + to.server_response;
    while (up.status == 0 && !up.closed) {
      if (!co_await wake.wait_until(deadline) && Clock::now() >= deadline) break;
    }
    if (up.status != 0) {
      note_response_header(up.backend(), facts, waiting_since);
      RequestFacts f = facts;
      f.keep_alive = facts.keep_alive && r == BodyResult::ok;  // else the body's rest is unread
      co_return co_await bridge_response(client, up, wake, f, trailers);
    }
    const Backend* backend = up.backend();
    if (!up.closed) {
      if (backend) worker_.report(*facts.pool_name, *backend, TrafficEvent::timeout);
      co_return std::unexpected(Refusal{504, "no response header from the backend in time"});
    }
    // Not processed by the server (a GOAWAY race), or safe to repeat: once more, elsewhere.
    if (may_reopen_h2_stream(up.error == kRefusedStream, up.error == kH2ConnectionFailed, method_,
                             facts.has_body, attempt == 0, sink.sent() > 0 || facts.chunked)) {
      continue;
    }
    if (backend) worker_.report(*facts.pool_name, *backend, TrafficEvent::connect_failure);
    co_return std::unexpected(
        Refusal{502, up.error == kH2ConnectionFailed
                         ? std::string("the connection to the backend failed")
                         : fmt::format("the backend reset the stream (code {})", up.error)});
  }
}

/// The request body into the stream (after a 100 Continue when the client asked for one), the
/// whole body within timeouts.request_body (a second attempt keeps the first one's deadline).
template <typename ClientStream>
lb::awaitable<BodyResult> HttpExchange::bridge_body(ClientStream& client, RequestHeaderParser& hp,
                                                    H2RequestSink& sink, const RequestFacts& facts,
                                                    int attempt) {
  const auto& to = cfg_.timeouts;
  if (facts.expect_continue && attempt == 0) {
    error_code ec;
    watchdog_.arm(to.client_idle);
    co_await asio::async_write(client, asio::buffer(kContinue.data(), kContinue.size()),
                               asio::redirect_error(lb::use_awaitable, ec));
    if (ec) co_return BodyResult::from_failed;
  }
  if (attempt == 0) body_deadline_ = Clock::now() + to.request_body;
  relayed_ = 0;
  BodyResult r = BodyResult::ok;
  if (facts.chunked) {
    r = co_await relay_chunked(hp, client, cbuf_, sink, false, cfg_.limits.max_body_size,
                               to.client_idle, to.server_idle, body_deadline_);
  } else {
    r = co_await relay_length(client, cbuf_, sink, *facts.content_length, to.client_idle,
                              to.server_idle, nullptr, body_deadline_);
  }
  watchdog_.disarm();
  co_return r;
}

/// The response whose header arrived on `up`, written to the client as HTTP/1.1; its body as
/// the client takes it (each piece gives the server's window back only once written).
template <typename ClientStream>
lb::awaitable<std::expected<Next, Refusal>> HttpExchange::bridge_response(ClientStream& client,
                                                                          H2UpstreamStream& up,
                                                                          WakeSignal& wake,
                                                                          const RequestFacts& facts,
                                                                          bool trailers) {
  const auto& to = cfg_.timeouts;
  obs_.status = up.status;
  std::optional<ResponseHeaderParser> rp;
  ResponsePlan plan;
  if (!bridge_plan(up, facts, trailers, rp, plan)) {
    co_return std::unexpected(Refusal{502, "the backend's response header is not valid HTTP/1.1"});
  }
  const bool rechunk = plan.chunked && plan.rechunk;
  std::string out;    // the body bytes being written (swapped with the stream's buffer)
  std::string frame;  // the chunk-size line in front of them
  std::string tail;   // the chunk's end, and the last chunk with the trailers
  bool head_out = false;
  std::uint64_t total = 0;
  error_code ec;
  for (;;) {
    out.clear();
    out.swap(up.body);
    const bool last = up.ended;  // every body byte is in `out` now
    if (plan.no_body) {
      up.consume(out.size());
      out.clear();
    }
    if (plan.length && total + out.size() > *plan.length) {
      log_->warn("http: h2 response over its content-length listener={} backend={}", listener_.name,
                 backend_name_);
      co_return Next::close;
    }
    frame.clear();
    tail.clear();
    if (rechunk && !out.empty()) {
      append_number(frame, out.size(), 16);
      frame += "\r\n";
      tail = "\r\n";
    }
    if (rechunk && last) {
      tail += "0\r\n";
      for (const auto& t : trailers ? up.trailers : std::vector<H2Field>{}) {
        tail += t.name + ": " + t.value + "\r\n";
      }
      tail += "\r\n";
    }
    if (!head_out || !out.empty() || !tail.empty()) {
      std::array<asio::const_buffer, 4> bufs{head_out ? asio::const_buffer{} : asio::buffer(head_),
                                             asio::buffer(frame), asio::buffer(out),
                                             asio::buffer(tail)};
      watchdog_.arm(to.client_idle);
      const auto wrote =
          co_await asio::async_write(client, bufs, asio::redirect_error(lb::use_awaitable, ec));
      watchdog_.disarm();
      obs_.bytes_out += wrote;
      if (ec) break;
      head_out = true;
      total += out.size();
      up.consume(out.size());
    }
    if (last) co_return bridge_end(plan, total);
    if (up.closed && !up.ended) break;  // ended: the last bytes came during the write
    if (out.empty() && !co_await wake.wait_until(Clock::now() + to.server_idle) &&
        up.body.empty() && !up.ended && !up.closed) {
      break;  // server_idle without a byte
    }
  }
  // The header is out: the only honest signal left is closing (never a truncated body passed
  // as complete).
  log_->warn("http: response body failed listener={} client={} backend={} status={} why={}",
             listener_.name, client_.info.peer.to_string(), backend_name_, plan.status,
             ec          ? "client"
             : up.closed ? fmt::format("the backend reset the stream (code {})", up.error)
                         : std::string("no response bytes from the backend for server_idle"));
  up.cancel();
  co_return Next::close;
}

/// Writes the server's response header as an HTTP/1.1 server would send it and runs it through
/// the parser and planner of HTTP/1.1 responses (which also validates a content-length): false
/// when that fails. Without a content-length the body is chunked (or, when the whole response
/// is here already and carries no trailers the client wants, given a content-length).
bool HttpExchange::bridge_plan(H2UpstreamStream& up, const RequestFacts& facts, bool trailers,
                               std::optional<ResponseHeaderParser>& rp, ResponsePlan& plan) {
  std::string text = fmt::format("HTTP/1.1 {} \r\n", up.status);
  bool has_length = false;
  for (const auto& f : up.fields) {
    has_length = has_length || f.name == "content-length";
    text += f.name + ": " + f.value + "\r\n";
  }
  const bool bodiless = up.status < 200 || up.status == 204 || up.status == 304 || facts.is_head;
  if (!has_length && !bodiless) {
    if (up.ended && (up.trailers.empty() || !trailers)) {
      text += fmt::format("Content-Length: {}\r\n", up.body.size());
    } else {
      text += "Transfer-Encoding: chunked\r\n";
    }
  }
  text += "\r\n";
  ubuf_.clear();
  std::memcpy(ubuf_.prepare(text.size()).data(), text.data(), text.size());
  ubuf_.commit(text.size());
  bool got_bytes = false;
  error_code ec;
  const auto step = parse_response_header(rp, facts.is_head, got_bytes, ec);
  ubuf_.clear();
  if (step != ResponseStep::complete) return false;
  rp->get().version(20);  // what Via names: the protocol the response came in
  plan = plan_response(*rp, up.backend(), facts);
  return true;
}

/// A bridged response is complete: counters and log (as finish_response for HTTP/1.1 servers).
Next HttpExchange::bridge_end(const ResponsePlan& plan, std::uint64_t body_bytes) {
  if (plan.length && !plan.no_body && body_bytes != *plan.length) {
    log_->warn("http: h2 response shorter than its content-length listener={} backend={}",
               listener_.name, backend_name_);
    return Next::close;
  }
  log_->debug("http: listener={} client={} method={} target={} backend={} status={} (h2)",
              listener_.name, client_.info.peer.to_string(), method_, target_, backend_name_,
              plan.status);
  return plan.keep_client ? Next::keep_alive : Next::close;
}

using TlsClient = asio::ssl::stream<tcp::socket>;
template lb::awaitable<Next> HttpExchange::bridge_h2(tcp::socket&, RequestHeaderParser&,
                                                     const RequestFacts&, std::optional<Refusal>&);
template lb::awaitable<Next> HttpExchange::bridge_h2(TlsClient&, RequestHeaderParser&,
                                                     const RequestFacts&, std::optional<Refusal>&);

}  // namespace lbd::proxy::http_detail
