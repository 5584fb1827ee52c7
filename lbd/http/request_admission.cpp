// The request side of an L7 exchange before any backend is involved: the header read step by
// step (bounded in bytes, fields and obs-fold), checked (version, framing, Host, Expect, body
// size), routed (pool, balancer hash, session persistence) and rewritten for the next hop.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

#include "lbd/http/fields_lookup.hpp"
#include "lbd/http/http_exchange.hpp"
#include "lbd/http/http_rewrite.hpp"
#include "lbd/session/pick_hash.hpp"

namespace lbd::proxy::http_detail {

namespace {

/// The request framing the backend is told: what the parser decided, never the client's text.
Framing request_framing(bool chunked, boost::optional<std::uint64_t> content_length) {
  if (chunked) return Framing{Framing::Kind::chunked};
  if (content_length) return Framing{Framing::Kind::length, *content_length};
  return Framing{Framing::Kind::none};
}

}  // namespace

void HttpExchange::begin_request(RequestHeaderParser& hp) {
  hp.header_limit(static_cast<std::uint32_t>(cfg_.limits.max_header_size));
  hp.body_limit(kNoBodyLimit);  // bodies are streamed and limited by the session
  hp.eager(false);
  method_ = target_ = backend_name_ = "-";
  if (!header_armed_) watchdog_.arm(cfg_.timeouts.request_header);
  header_armed_ = false;
  obs_ = RequestObservation{.start = Clock::now()};
}

std::optional<Refusal> HttpExchange::scan_request_header(RequestHeaderParser& hp,
                                                         HeaderScan& scan) {
  const auto& limits = cfg_.limits;
  // Beast consumes the complete lines of an unfinished header (start line, whole fields) and
  // must not see them again; they stay in cbuf_ until the end for the obs-fold check.
  if (cbuf_.size() > scan.parsed) {
    const auto* bytes = static_cast<const char*>(cbuf_.data().data());
    error_code ec;
    std::size_t n = 0;
    try {
      n = hp.put(cbuf_.data() + scan.parsed, ec);
    } catch (const std::length_error&) {
      // Beast throws for a field name or value over 64 KiB (its fields store 16-bit sizes).
      return Refusal{431, "request header field over 64 KiB"};
    }
    scan.lines += std::count(bytes + scan.parsed, bytes + scan.parsed + n, '\n');
    scan.parsed += n;
    if (scan.lines > kMaxHeaderFields + 2) {  // + the start line and the empty line
      lstats_.limit(admin::HttpLimit::header_fields);
      return Refusal{431, "too many header fields"};
    }
    if (ec == http::error::header_limit) return Refusal{431, "request header too large"};
    if (ec && ec != http::error::need_more) {
      return Refusal{400, fmt::format("malformed request: {}", ec.message())};
    }
    if (!ec && hp.is_header_done()) {
      if (has_obs_fold(std::string_view(bytes, scan.parsed))) {
        return Refusal{400, "obs-fold in request header"};
      }
      cbuf_.consume(scan.parsed);
      obs_.bytes_in += scan.parsed;
      scan.done = true;
      return std::nullopt;
    }
  }
  if (cbuf_.size() > limits.max_header_size) return Refusal{431, "request header too large"};
  return std::nullopt;
}

std::optional<Refusal> HttpExchange::admit_request(RequestHeaderParser& hp, RequestFacts& facts) {
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
  if (auto refused = check_request(hp, facts)) return refused;
  if (auto refused = route_request(req, facts)) return refused;
  write_request_head(req, facts);
  return std::nullopt;
}

std::optional<Refusal> HttpExchange::check_request(RequestHeaderParser& hp, RequestFacts& facts) {
  const auto& req = hp.get();
  if (req.version() != 10 && req.version() != 11) return Refusal{400, "unsupported HTTP version"};
  if (auto why = check_request_framing(req.base(), req.version())) {
    return Refusal{400, std::string(*why)};
  }
  const auto host_count = req.count(http::field::host);
  if ((req.version() == 11 && host_count != 1) || host_count > 1) {
    return Refusal{400, "a request needs exactly one Host header"};
  }
  if (auto it = req.find(http::field::expect); it != req.end()) {
    if (!beast::iequals(it->value(), "100-continue")) return Refusal{417, "unsupported Expect"};
    facts.expect_continue = true;
  }
  facts.content_length = hp.content_length();
  facts.chunked = hp.chunked();
  const auto max_body = cfg_.limits.max_body_size;
  if (max_body > 0 && facts.content_length && *facts.content_length > max_body) {
    return Refusal{413, "request body too large"};
  }
  facts.upgrade = hp.upgrade();
  facts.keep_alive = hp.keep_alive();
  facts.has_body = facts.chunked || facts.content_length.value_or(0) > 0;
  facts.version = req.version();
  facts.is_head = req.method() == http::verb::head;
  return std::nullopt;
}

std::optional<Refusal> HttpExchange::route_request(const RequestHeader& req, RequestFacts& facts) {
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
  if (!pool) return Refusal{503, fmt::format("unknown pool {}", pool_name)};
  facts.pool = pool;
  facts.pool_name = &pool_name;
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
  return std::nullopt;
}

void HttpExchange::write_request_head(const RequestHeader& req, const RequestFacts& facts) {
  // Rewrite for the backend and serialise the header once (reused on a retry).
  if (client_text_.empty()) client_text_ = client_.info.peer.address.unmapped().to_string();
  const ForwardInfo forward{.client = client_.info.peer.address,
                            .client_text = client_text_,
                            .proto = tls_session_ ? "https" : "http",
                            .host = forwarded_host_};
  std::array<std::string_view, 2> drop;
  std::size_t dropped = 0;
  std::array<AddedField, 1> added;
  std::size_t adds = 0;
  if (facts.expect_continue) drop[dropped++] = "Expect";  // the proxy answers 100 itself
  if (tls_session_) {
    // mTLS: the backend may trust this header, so a client never gets to send it.
    const auto& tls = *listener_.tls;
    if (tls.verify_client != VerifyClient::none) {
      drop[dropped++] = tls.client_subject_header;
      if (!tls_.client_subject.empty()) {
        added[adds++] = {tls.client_subject_header, tls_.client_subject};
      }
    }
  }
  head_.clear();
  head_.append(method_);
  head_ += ' ';
  head_.append(target_);
  head_ += " HTTP/1.1\r\n";
  append_rewritten_fields(
      head_, req.base(),
      FieldRewrite{.keep_upgrade = facts.upgrade,
                   .forward = &forward,
                   .headers = listener_.forward_headers,
                   .via_version = facts.version,
                   .connection = facts.upgrade ? "upgrade" : "",
                   .drop = std::span(drop.data(), dropped),
                   .add = std::span(added.data(), adds),
                   .cookie = persistence_.cookie_rewrite(),
                   .framing = request_framing(facts.chunked, facts.content_length)});
}

}  // namespace lbd::proxy::http_detail
