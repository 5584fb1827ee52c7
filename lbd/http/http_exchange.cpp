// The L7 session's connection-level steps that do not depend on the client stream: routing
// tables, buffers between requests, the end of a request and the error responses.
#include "lbd/http/http_exchange.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include <boost/beast/http/status.hpp>

#include "lbd/http/http_rewrite.hpp"

namespace lbd::proxy::http_detail {

HttpExchange::HttpExchange(WorkerContext& worker, ClientConnection client, bool tls)
    : worker_(worker),
      client_(std::move(client)),
      cfg_(*client_.config),
      listener_(*client_.info.listener),
      state_(worker_state(worker)),
      log_(worker.logger()),
      watchdog_(client_.socket.get_executor()),
      tls_session_(tls),
      lstats_(worker.stats().listener(listener_.name)) {}

void HttpExchange::init_routing() { routing_ = state_.routing_for(client_.config, listener_); }

bool HttpExchange::vip_released() {
  const auto* released = worker_.released_vips();
  return released != nullptr && released->holds_local_address_of(raw_socket());
}

bool HttpExchange::too_many_idle() const {
  return state_.parkable.size() >= kIdleSessionsKept && !worker_.draining();
}

void HttpExchange::keep_first_bytes(std::size_t got) {
  if (got == 0) return;
  state_.take(cbuf_);
  auto dst = cbuf_.prepare(std::max(got, kReadChunk));
  std::memcpy(dst.data(), first_bytes_.data(), got);
  cbuf_.commit(got);
}

void HttpExchange::take_buffers() {
  state_.take(cbuf_);
  state_.take(ubuf_);
  state_.take(head_);
}

void HttpExchange::give_buffers() {
  state_.give(cbuf_);
  state_.give(ubuf_);
  state_.give(head_);
}

void HttpExchange::release_buffers() {
  cbuf_.clear();
  ubuf_.clear();
  give_buffers();
}

void HttpExchange::close_client() {
  error_code ignored;
  raw_socket().close(ignored);
}

void HttpExchange::end_request() {
  if (obs_.status == 0 && method_ == "-") return;  // the client closed before a request
  const bool logging = worker_.access_log() != nullptr;
  if (tls_up_) {
    obs_.tls_version = tls_.version;
    obs_.tls_cipher = tls_.cipher;
  }
  finish_request(worker_, lstats_, listener_.name,
                 logging ? client_.info.peer.to_string() : std::string(), obs_);
}

void HttpExchange::own_request_line() {
  // With the access log on, the copies exist already (same length: assign keeps the buffer, and
  // with it the views obs_ holds).
  if (method_.data() != log_method_.data()) log_method_.assign(method_);
  if (target_.data() != log_target_.data()) log_target_.assign(target_);
  method_ = log_method_;
  target_ = log_target_;
}

std::string HttpExchange::error_response(unsigned status, std::string_view why) {
  obs_.status = status;
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  if (status == 503) {
    // No backend: the health manager logs the pool going down once; not per request.
    log_->debug("http: status=503 listener={} client={} method={} target={} why={}", listener_.name,
                client_.info.peer.to_string(), method_, target_, why);
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
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}"
      "Connection: close\r\n\r\n{}",
      status, sv(reason), body.size(), status == 503 ? "Retry-After: 1\r\n" : "", body);
}

std::optional<Refusal> HttpExchange::body_refusal(BodyResult r, bool request) {
  switch (r) {
    case BodyResult::too_large:
      return Refusal{413, "request body too large"};
    case BodyResult::malformed:
      return Refusal{400, "malformed chunked body"};
    case BodyResult::chunk_line_too_long:
      return Refusal{400, "chunk-size line with its extensions too long"};
    case BodyResult::trailers_too_large:
      return Refusal{400, "trailer section too large"};
    case BodyResult::from_failed:
      if (!watchdog_.fired()) return std::nullopt;  // the client went away: nobody to answer
      if (Clock::now() >= body_deadline_) {
        lstats_.limit(admin::HttpLimit::request_body_time);
        return Refusal{408, "request body not complete within timeouts.request_body"};
      }
      return Refusal{408, "request body timeout"};
    case BodyResult::to_failed:
      return Refusal{watchdog_.fired() ? 504u : 502u,
                     request ? "sending the request body to the backend failed"
                             : "sending the response failed"};
    case BodyResult::ok:
      break;
  }
  return std::nullopt;
}

nanoseconds read_timeout(nanoseconds idle, Clock::time_point deadline) {
  if (deadline == kNoDeadline) return idle;
  const auto left = std::chrono::duration_cast<nanoseconds>(deadline - Clock::now());
  return std::clamp(left, nanoseconds(0), idle);
}

std::string_view response_failure(BodyResult r) {
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

}  // namespace lbd::proxy::http_detail
