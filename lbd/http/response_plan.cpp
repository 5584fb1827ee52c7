// The response side of an L7 exchange without its I/O: the backend's header parsed step by step,
// what a missing header means (error response or replay), the header rewritten for the client,
// the decisions about the body relay and both connections, and the bookkeeping at the end.
#include <iterator>
#include <stdexcept>
#include <tuple>
#include <utility>

#include <fmt/format.h>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include "lbd/balance/least_time.hpp"
#include "lbd/http/http_exchange.hpp"
#include "lbd/http/http_rewrite.hpp"
#include "lbd/http/replay_policy.hpp"

namespace lbd::proxy::http_detail {

Clock::time_point HttpExchange::begin_response(std::optional<ResponseHeaderParser>& rp) {
  rp.reset();
  ubuf_.clear();
  watchdog_.arm(cfg_.timeouts.server_response);
  return Clock::now();
}

ResponseStep HttpExchange::parse_response_header(std::optional<ResponseHeaderParser>& rp,
                                                 bool is_head, bool& got_bytes, error_code& ec) {
  if (!rp || rp->is_header_done()) {  // the first header, or the one after an interim response
    if (rp) watchdog_.arm(cfg_.timeouts.server_response);
    rp.emplace(std::piecewise_construct, std::make_tuple(), std::make_tuple(header_alloc_));
    rp->header_limit(std::max<std::uint32_t>(
        kMaxResponseHeader, static_cast<std::uint32_t>(cfg_.limits.max_header_size)));
    rp->body_limit(kNoBodyLimit);
    rp->eager(false);
    if (is_head) rp->skip(true);
  }
  if (ubuf_.size() == 0) return ResponseStep::more;
  got_bytes = true;
  // Beast consumes the complete lines of an unfinished header: drop them as it goes.
  std::size_t n = 0;
  try {
    n = rp->put(ubuf_.data(), ec);
  } catch (const std::length_error&) {  // a field over 64 KiB (Beast's fields limit)
    ec = http::error::header_limit;
    return ResponseStep::malformed;
  }
  ubuf_.consume(n);
  if (ec == http::error::need_more) {
    ec = {};
    return ResponseStep::more;
  }
  if (ec) return ResponseStep::malformed;
  if (!rp->is_header_done()) return ResponseStep::more;
  return is_final(rp->get()) ? ResponseStep::complete : ResponseStep::interim;
}

void HttpExchange::interim_head(std::string& out, const ResponseHeader& res) {
  out.clear();
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\n", res.result_int(), sv(res.reason()));
  for (const auto& f : res.base()) {
    out.append(f.name_string().data(), f.name_string().size());
    out += ": ";
    out.append(f.value().data(), f.value().size());
    out += "\r\n";
  }
  out += "\r\n";
}

std::optional<Refusal> HttpExchange::response_header_failure(const error_code& ec,
                                                             const Upstream& up,
                                                             const RequestFacts& facts,
                                                             bool got_bytes, bool can_retry,
                                                             const Backend*& avoid) {
  const Backend* backend = up.conn.lease.backend();
  if (watchdog_.fired()) {
    if (backend) worker_.report(*facts.pool_name, *backend, TrafficEvent::timeout);
    return Refusal{504, "no response header from the backend in time"};
  }
  if (!got_bytes && can_retry && up.reused && may_replay(method_, true)) {
    log_->debug("http: backend={} closed a reused connection, retrying", backend_name_);
    retry_elsewhere(up, avoid);
    return std::nullopt;
  }
  return Refusal{502, fmt::format("bad response from the backend: {}", ec.message())};
}

void HttpExchange::note_response_header(const Backend* backend, const RequestFacts& facts,
                                        Clock::time_point waiting_since) {
  const auto header_at = Clock::now();
  obs_.first_byte = header_at - obs_.start;
  if (backend) {
    worker_.stats()
        .backend(*facts.pool_name, backend->name)
        .observe_latency(header_at - waiting_since);
  }
  const auto& balance = facts.pool->balance;
  if (backend && balance.algorithm == Algorithm::least_time) {
    const auto now = Clock::now();
    record_latency(*backend, now - waiting_since, now, balance.least_time_decay);
  }
}

std::string HttpExchange::upgrade_head(const ResponseHeader& res, const Upstream& up) {
  persistence_.finish(worker_, res.base(), up.conn.lease.backend());
  std::string head = fmt::format("HTTP/1.1 101 {}\r\n", sv(res.reason()));
  append_rewritten_fields(head, res.base(),
                          FieldRewrite{.keep_upgrade = true,
                                       .headers = listener_.forward_headers,
                                       .via_version = res.version(),
                                       .connection = "upgrade",
                                       .add = persistence_.set_cookie()});
  return head;
}

ResponsePlan HttpExchange::plan_response(ResponseHeaderParser& rp, const Backend* backend,
                                         const RequestFacts& facts) {
  const auto& res = rp.get();
  ResponsePlan plan;
  plan.status = res.result_int();
  plan.no_body = rp.is_done();
  plan.length = rp.content_length();
  plan.chunked = !plan.no_body && rp.chunked();
  plan.until_eof = !plan.no_body && !plan.chunked && !plan.length;
  // A client of a VIP this node handed over is asked to reconnect (to the new master) now
  // that its request is answered.
  plan.keep_client = facts.keep_alive && !plan.until_eof && !worker_.draining() && !vip_released();
  plan.keep_upstream = rp.keep_alive() && !plan.until_eof;
  std::array<std::string_view, 1> drop;
  std::size_t dropped = 0;
  if (plan.chunked && facts.version < 11) {
    // HTTP/1.0 has no chunked coding: send the decoded body and close to delimit it.
    drop[dropped++] = "Transfer-Encoding";
    plan.rechunk = false;
    plan.keep_client = false;
  }
  persistence_.finish(worker_, res.base(), backend);
  if (const Backend* b = backend) {
    worker_.report(facts.pool->name, *b,
                   plan.status >= 500 ? TrafficEvent::http_5xx : TrafficEvent::success);
  }
  head_.clear();
  head_ += "HTTP/1.1 ";
  append_number(head_, plan.status);
  head_ += ' ';
  auto reason = res.reason();
  if (reason.empty()) reason = http::obsolete_reason(res.result());
  head_.append(reason.data(), reason.size());
  head_ += "\r\n";
  append_rewritten_fields(
      head_, res.base(),
      FieldRewrite{
          .headers = listener_.forward_headers,
          .via_version = res.version(),
          .connection = !plan.keep_client    ? "close"
                        : facts.version < 11 ? "keep-alive"
                                             : "",
          .drop = std::span(drop.data(), dropped),
          .add = persistence_.set_cookie(),
          // A Content-Length the parser accepted ("5, 5", or twice) goes out once;
          // Transfer-Encoding as received (it may name codings before chunked).
          .framing = plan.length ? Framing{Framing::Kind::length, *plan.length} : Framing{}});
  plan.head_size = head_.size();
  return plan;
}

Next HttpExchange::finish_response(BodyResult r, const ResponsePlan& plan, Upstream& up,
                                   const RequestFacts& facts) {
  if (r != BodyResult::ok) {
    // The response header may be out already: the only honest signal left is closing.
    log_->warn("http: response body failed listener={} client={} backend={} status={} why={}",
               listener_.name, client_.info.peer.to_string(), backend_name_, plan.status,
               response_failure(r));
    return Next::close;
  }
  obs_.bytes_out += plan.head_size + (plan.no_body ? 0 : plan.length ? *plan.length : relayed_);
  // Only when logged: the client's address as text can be a heap string per request.
  if (log_->should_log(spdlog::level::debug)) {
    log_->debug("http: listener={} client={} method={} target={} backend={} status={}",
                listener_.name, client_.info.peer.to_string(), method_, target_, backend_name_,
                plan.status);
  }
  watchdog_.watch(&raw_socket(), nullptr);
  const auto& pool = *facts.pool;
  if (plan.keep_upstream && ubuf_.size() == 0 &&
      pool.send_proxy_protocol == ProxyProtocolSend::off) {
    state_.upstreams.put(std::move(up.conn), Clock::now(), pool.upstream_keepalive);
  }
  ubuf_.clear();
  return plan.keep_client ? Next::keep_alive : Next::close;
}

}  // namespace lbd::proxy::http_detail
