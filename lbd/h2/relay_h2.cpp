// A stream forwarded to an HTTP/2 server (pool protocol "h2"): the request header, then request
// and response bodies both ways at once (full duplex: gRPC streaming), trailers both ways. Each
// side holds at most its window: the client's request bytes wait in x.body until the server's
// stream takes them (then the client's window opens), the server's response bytes wait in the
// upstream stream until the client's stream takes them (then the server's window opens).
#include <algorithm>

#include <fmt/format.h>

#include "lbd/h2/connection.hpp"
#include "lbd/http/h2_upstream_request.hpp"
#include "lbd/http/http_rewrite.hpp"
#include "lbd/http/replay_policy.hpp"

namespace lbd::h2 {

using namespace lbd::proxy;
using namespace lbd::proxy::http_detail;
namespace http = boost::beast::http;

struct H2Relay {
  ForwardPlan& plan;
  H2UpstreamStream& up;
  const Backend* backend = nullptr;
  bool grpc = false;
  int attempt = 0;
  std::uint64_t sent = 0;  // request body bytes the server's stream took
  bool request_done = false;
  bool header_out = false;
  Clock::time_point request_done_at{};
  Clock::time_point last_progress{};
};

namespace {

constexpr std::uint32_t kCancel = 8;
constexpr std::uint32_t kInternalError = 2;
constexpr std::uint32_t kRefusedStream = 7;

/// When the stream gives up waiting: server_response for the response header once the request
/// went out, server_idle between response bytes, client_idle while the request body is awaited.
/// Response bytes waiting for the client's window mean a slow client, not a slow server: the
/// session's stall defence (client_idle) resets such a stream, this is a backstop.
Clock::time_point deadline_of(const H2Relay& r, const TimeoutsConfig& to, bool client_window) {
  if (client_window) return r.last_progress + 2 * to.client_idle;
  if (!r.header_out && r.request_done) return r.request_done_at + to.server_response;
  if (r.header_out) return r.last_progress + to.server_idle;
  return r.last_progress + std::max(to.client_idle, to.server_response);
}

}  // namespace

lb::awaitable<void> Connection::forward_h2(Exchange& x, RequestObservation& obs,
                                           ForwardPlan& plan) {
  const auto& to = cfg_.timeouts;
  const bool grpc = is_grpc(x.req.headers);
  const auto fields =
      upstream_h2_request(UpstreamRequestLine{.method = x.req.method,
                                              .scheme = plan.pool->tls ? "https" : "http",
                                              .authority = plan.authority,
                                              .path = x.req.path,
                                              .te_trailers = wants_trailers(x.req.headers)},
                          plan.head);
  for (int attempt = 0;; ++attempt) {
    const auto acquire_start = Clock::now();
    PickContext pc{.hash = plan.hash, .prefer = plan.persistence.prefer()};
    auto opened =
        co_await state_.h2_upstreams.open(*plan.pool, to.server_idle, to.connect, client_.info, pc,
                                          fields, plan.has_body, [&x] { x.signal.notify(); });
    if (!opened) {
      respond_unreachable(x, obs, grpc, opened.error());
      co_return;
    }
    auto up = std::move(*opened);
    if (x.gone) co_return;  // destroying `up` resets the upstream stream
    note_backend(obs, plan, up->backend(), Clock::now() - acquire_start);
    H2Relay r{.plan = plan,
              .up = *up,
              .backend = up->backend(),
              .grpc = grpc,
              .attempt = attempt,
              .request_done = !plan.has_body,
              .request_done_at = Clock::now(),
              .last_progress = Clock::now()};
    for (;;) {
      const auto step = pump_h2(x, obs, r);
      if (step == Step::done) co_return;
      if (step == Step::retry) break;
      if (step == Step::progress) {
        r.last_progress = Clock::now();
        kick();
        continue;
      }
      const bool client_window = r.header_out && !up->body.empty();
      const auto deadline = deadline_of(r, to, client_window);
      if (co_await x.signal.wait_until(deadline)) continue;
      if (Clock::now() < deadline) continue;
      h2_timed_out(x, obs, r, client_window);
      co_return;
    }
  }
}

/// One turn: request body toward the server, the response header, response body toward the
/// client as its window allows, then the end of either side.
Step Connection::pump_h2(Exchange& x, RequestObservation& obs, H2Relay& r) {
  auto& up = r.up;
  bool progress = false;
  if (!r.request_done && !x.gone) {
    const auto s = pump_request_body(x, obs, r);
    if (s == Step::done) return s;
    progress = s == Step::progress;
  }
  if (!r.header_out && up.status != 0) {
    if (answer_h2_header(x, obs, r) == Step::done) return Step::done;
    progress = true;
  }
  if (r.header_out && !up.body.empty() && !x.gone) {
    const auto took = session_.write_body(
        x.id, std::span(reinterpret_cast<const std::uint8_t*>(up.body.data()), up.body.size()));
    if (took > 0) {
      up.body.erase(0, took);
      up.consume(took);
      obs.bytes_out += took;
      progress = true;
    }
  }
  if (r.header_out && up.ended && up.body.empty()) {
    session_.end_body(x.id, up.trailers);
    if (!r.request_done) drop_request_body(x);  // answered before the request ended
    kick();
    return Step::done;
  }
  if (x.gone) return Step::done;
  if (up.closed && !up.ended) return h2_stream_closed(x, obs, r);
  return progress ? Step::progress : Step::idle;
}

/// Request body (and trailers) toward the server, as its stream takes them.
Step Connection::pump_request_body(Exchange& x, RequestObservation& obs, H2Relay& r) {
  const auto max_body = cfg_.limits.max_body_size;
  bool progress = false;
  if (!x.body.empty()) {
    const auto n = r.up.write_body(
        std::span(reinterpret_cast<const std::uint8_t*>(x.body.data()), x.body.size()));
    if (n > 0) {
      r.sent += n;
      if (max_body > 0 && r.sent > max_body) {
        r.up.cancel();
        if (!r.header_out) {
          respond_h2_error(x, obs, r.grpc, 413, "request body too large");
        } else {
          session_.reset(x.id, kCancel);
          kick();
        }
        return Step::done;
      }
      x.body.erase(0, n);
      session_.consume(x.id, n);
      obs.bytes_in += n;
      progress = true;
    }
  }
  if (x.body.empty() && x.body_done) {
    r.up.end_body(x.trailers);
    r.request_done = true;
    r.request_done_at = Clock::now();
    progress = true;
  }
  return progress ? Step::progress : Step::idle;
}

/// The server's response header to the client; done when it ends the response too.
Step Connection::answer_h2_header(Exchange& x, RequestObservation& obs, H2Relay& r) {
  auto& up = r.up;
  r.header_out = true;
  const auto now = Clock::now();
  obs.first_byte = now - obs.start;
  obs.status = up.status;
  http::fields res;
  std::vector<Header> hs;
  hs.reserve(up.fields.size() + 1);
  for (auto& f : up.fields) {
    res.insert(bsv(f.name), bsv(f.value));
    hs.push_back(std::move(f));
  }
  r.plan.persistence.finish(worker_, res, r.backend);
  add_set_cookie(hs, r.plan);
  if (r.backend) {
    note_latency(r.plan, r.backend, now - r.request_done_at, now);
    worker_.report(*r.plan.pool_name, *r.backend,
                   up.status >= 500 ? TrafficEvent::http_5xx : TrafficEvent::success);
  }
  const bool end_now = up.ended && up.body.empty() && up.trailers.empty();
  if (!session_.submit_response(x.id, up.status, hs, end_now)) return Step::done;
  kick();
  if (end_now) {
    if (!r.request_done) drop_request_body(x);
    return Step::done;
  }
  return Step::progress;
}

/// The server's stream closed before the response ended.
Step Connection::h2_stream_closed(Exchange& x, RequestObservation& obs, H2Relay& r) {
  const auto error = r.up.error;
  if (r.header_out) {
    // The header is out: pass the reset on (a gRPC client maps its code to a status).
    session_.reset(x.id, error < 0x100 ? error : kInternalError);
    kick();
    return Step::done;
  }
  // Not processed by the server (refused: a GOAWAY race), or safe to repeat (an idempotent
  // request without body whose connection failed before the response header): one more
  // attempt, on another connection.
  if (may_reopen_h2_stream(error == kRefusedStream, error == kH2ConnectionFailed, x.req.method,
                           r.plan.has_body, r.attempt == 0, r.sent > 0)) {
    return Step::retry;
  }
  if (r.backend) worker_.report(*r.plan.pool_name, *r.backend, TrafficEvent::connect_failure);
  if (error == kH2ConnectionFailed) {
    respond_h2_error(x, obs, r.grpc, 502, "the connection to the backend failed");
  } else {
    respond_h2_error(x, obs, r.grpc, 502,
                     fmt::format("the backend reset the stream (code {})", error),
                     grpc_code_for_reset(error));
  }
  return Step::done;
}

/// A deadline passed with nothing moving: the upstream stream is cancelled, the client's
/// stream reset (header out) or answered with the status that says who stalled.
void Connection::h2_timed_out(Exchange& x, RequestObservation& obs, H2Relay& r,
                              bool client_window) {
  r.up.cancel();
  if (x.gone) return;
  if (r.header_out) {
    log_->warn("h2: stream reset listener={} client={} path={} why={}", listener_.name, peer_text_,
               x.req.path,
               client_window ? "the client does not read the response"
                             : "no response bytes from the backend for server_idle");
    session_.reset(x.id, kInternalError);
    kick();
  } else if (r.request_done) {
    if (r.backend) worker_.report(*r.plan.pool_name, *r.backend, TrafficEvent::timeout);
    respond_h2_error(x, obs, r.grpc, 504, "no response header from the backend in time");
  } else if (!x.body.empty()) {
    // The client's bytes wait for the server's window: the server stopped reading.
    if (r.backend) worker_.report(*r.plan.pool_name, *r.backend, TrafficEvent::timeout);
    respond_h2_error(x, obs, r.grpc, 504, "the backend does not take the request body");
  } else {
    respond_h2_error(x, obs, r.grpc, 408, "request body timeout");
  }
}

}  // namespace lbd::h2
