// Where a stream's request goes: translated to HTTP/1.1 fields, routed to a pool, its balance
// hash and persisted server found, and the request header the backend gets written.
#include <array>

#include <fmt/format.h>

#include "lbd/h2/connection.hpp"
#include "lbd/h2/request_translation.hpp"
#include "lbd/http/fields_lookup.hpp"
#include "lbd/http/http_rewrite.hpp"
#include "lbd/http/router.hpp"
#include "lbd/session/conn_tracking.hpp"
#include "lbd/session/pick_hash.hpp"

namespace lbd::h2 {

using namespace lbd::proxy;
using namespace lbd::proxy::http_detail;
namespace http = boost::beast::http;

namespace {

std::optional<std::uint64_t> balance_hash(const PoolConfig& pool, const TranslatedRequest& t,
                                          const lb::IpAddress& client, std::string_view path) {
  if (!uses_hash(pool.balance.algorithm)) return std::nullopt;
  HashInputs in{.client = &client, .path = path};
  if (pool.balance.hash_key.kind == HashKey::Kind::header) {
    if (auto it = t.fields.find(bsv(pool.balance.hash_key.name)); it != t.fields.end()) {
      in.header = sv(it->value());
    }
  }
  if (!t.cookie.empty()) in.cookie_header = t.cookie;
  return pick_hash(pool.balance, in);
}

}  // namespace

std::optional<ForwardPlan> Connection::plan(Exchange& x, RequestObservation& obs) {
  const auto& r = x.req;
  if (r.method == "CONNECT") {
    respond_error(x, obs, 501, "CONNECT is not supported over HTTP/2");
    return std::nullopt;
  }
  auto t = translate_request(r, cfg_.limits.max_body_size);
  if (!t) {
    respond_error(x, obs, t.error().status, t.error().why);
    return std::nullopt;
  }
  std::optional<ForwardPlan> out(std::in_place);
  auto& p = *out;
  p.authority = t->host;
  p.has_body = !r.end_stream;
  p.chunked = p.has_body && !t->content_length;
  if (p.chunked) t->fields.insert(http::field::transfer_encoding, "chunked");
  p.is_head = r.method == "HEAD";

  const auto parts = split_target(r.path);
  std::string host;
  normalize_host(t->host, host);
  FieldsLookup lookup(t->fields);
  const auto pool_index = routing_->router.route({r.method, host, parts.path, &lookup}, &obs.route);
  p.pool = routing_->pools[pool_index];
  p.pool_name = &routing_->router.pool_names()[pool_index];
  obs.pool = *p.pool_name;
  if (!p.pool) {
    respond_error(x, obs, 503, fmt::format("unknown pool {}", *p.pool_name));
    return std::nullopt;
  }
  const auto& client = client_.info.peer.address;
  p.hash = balance_hash(*p.pool, *t, client, parts.path);
  p.persistence.prepare(worker_, *p.pool, *p.pool_name, t->fields, client, r.path);
  if (!p.persistence.prefer()) {
    p.persistence.prefer_backend(
        peer_connection_target(worker_, *p.pool_name, client, listener_.name));
  }
  write_head(p, r, t->fields);
  return out;
}

void Connection::write_head(ForwardPlan& p, const Request& r, const http::fields& fields) {
  const ForwardInfo forward{.client = client_.info.peer.address,
                            .client_text = client_text_,
                            .proto = tls_ ? "https" : "http",
                            .host = p.authority};
  std::array<std::string_view, 1> drop;
  std::size_t dropped = 0;
  std::array<AddedField, 1> added;
  std::size_t adds = 0;
  if (tls_ && listener_.tls && listener_.tls->verify_client != VerifyClient::none) {
    // mTLS: the backend may trust this header, so a client never gets to send it.
    drop[dropped++] = listener_.tls->client_subject_header;
    if (!tls_->client_subject.empty()) {
      added[adds++] = {listener_.tls->client_subject_header, tls_->client_subject};
    }
  }
  // The header string (and the response buffer) come from the worker's free lists and go back
  // when the exchange ends well: a 16 KiB malloc and free per stream cost more than the
  // HTTP/2 framing of a small response.
  auto& head = p.head;
  state_.take(head);
  head.reserve(512);
  head.append(r.method);
  head += ' ';
  head.append(r.path);
  head += " HTTP/1.1\r\n";
  append_rewritten_fields(head, fields,
                          FieldRewrite{.forward = &forward,
                                       .headers = listener_.forward_headers,
                                       .via_version = 20,
                                       .drop = std::span(drop.data(), dropped),
                                       .add = std::span(added.data(), adds),
                                       .cookie = p.persistence.cookie_rewrite()});
}

}  // namespace lbd::h2
