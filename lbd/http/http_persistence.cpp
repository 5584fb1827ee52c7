// See http_persistence.hpp.
#include "lbd/http/http_persistence.hpp"

#include <chrono>
#include <optional>

#include "lbd/sticky/cookie_codec.hpp"
#include "lbd/sticky/cookie_header.hpp"
#include "lbd/sticky/key_derivation.hpp"

namespace lbd::proxy {

template <typename Allocator>
void HttpPersistence::prepare(WorkerContext& worker, const PoolConfig& pool,
                              const std::string& pool_name,
                              const http::basic_fields<Allocator>& fields,
                              const lb::IpAddress& client, std::string_view target) {
  sticky_ = StickyChoice{};
  cookie_server_.clear();
  cookie_rewrite_.reset();
  set_cookie_.clear();
  pool_ = &pool;
  const auto& p = pool.persistence;
  switch (p.mode) {
    case PersistenceMode::none:
      pool_ = nullptr;
      return;
    case PersistenceMode::cookie: {
      // Every Cookie header, as one list (RFC 6265 §5.4 sends one; HTTP/2 gateways split it).
      std::string header;
      for (auto [it, end] = fields.equal_range(http::field::cookie); it != end; ++it) {
        if (!header.empty()) header += "; ";
        header += sv(it->value());
      }
      if (header.empty()) return;
      const auto value = stick_key::cookie_value(header, p.cookie.name);
      if (!value) return;
      // Indirect: the backend gets every other cookie, never lbd's.
      if (p.cookie.indirect) cookie_rewrite_ = remove_cookie(header, p.cookie.name);
      const auto verified = CookieCodec(p.cookie.keys, pool.name, cookie_lifetime(p.cookie))
                                .verify(*value, std::chrono::system_clock::now());
      if (verified.claims) {
        auto snapshot = worker.pool_snapshot(pool_name);
        sticky_.prefer = sticky_target(snapshot.get(), verified.claims->server);
        if (sticky_.prefer) {
          cookie_server_ = verified.claims->server;
          cookie_issued_ = verified.claims->issued;
        } else {
          worker.counters().sticky_repicks.fetch_add(1, std::memory_order_relaxed);
        }
      } else {
        worker.counters().sticky_cookie_rejected.fetch_add(1, std::memory_order_relaxed);
        worker.logger()->debug("persistence: pool={} client={} cookie refused", pool_name,
                               client.to_string());
      }
      return;
    }
    case PersistenceMode::source_ip:
      sticky_ = lookup_sticky(worker, pool_name,
                              stick_key::from_address(client, p.ipv4_mask, p.ipv6_mask));
      return;
    case PersistenceMode::header: {
      std::string key;
      if (auto it = fields.find(bsv(p.header)); it != fields.end()) {
        key = stick_key::from_header_value(sv(it->value())).value_or("");
      }
      sticky_ = lookup_sticky(worker, pool_name, std::move(key));
      return;
    }
    case PersistenceMode::learned_cookie: {
      std::optional<std::string> key;
      if (auto it = fields.find(http::field::cookie); it != fields.end()) {
        if (auto v = stick_key::cookie_value(sv(it->value()), p.learn_cookie)) {
          key = stick_key::from_session_value(*v);
        }
      }
      if (!key && !p.url_parameter.empty()) {
        if (auto v = stick_key::url_parameter(target, p.url_parameter)) {
          key = stick_key::from_session_value(*v);
        }
      }
      sticky_ = lookup_sticky(worker, pool_name, key.value_or(""));
      return;
    }
  }
}

template <typename Allocator>
void HttpPersistence::finish(WorkerContext& worker, const http::basic_fields<Allocator>& res,
                             const Backend* backend) {
  set_cookie_.clear();
  if (!pool_ || !backend) return;
  const auto& p = pool_->persistence;
  switch (p.mode) {
    case PersistenceMode::none:
      return;
    case PersistenceMode::cookie: {
      const auto now = std::chrono::system_clock::now();
      if (cookie_server_ == backend->name) {
        worker.counters().sticky_hits.fetch_add(1, std::memory_order_relaxed);
        if (now - cookie_issued_ < cookie_refresh_after(p.cookie)) return;
      }
      const CookieCodec codec(p.cookie.keys, pool_->name, cookie_lifetime(p.cookie));
      set_cookie_ = set_cookie_header(p.cookie, codec.encode(backend->name, now));
      return;
    }
    case PersistenceMode::source_ip:
    case PersistenceMode::header:
      commit_sticky(worker, sticky_, backend, true);
      return;
    case PersistenceMode::learned_cookie:
      // A known session whose server went away is re-stuck; unknown values are learned below
      // when the backend issues them.
      commit_sticky(worker, sticky_, backend, false);
      if (!sticky_.table) return;
      for (auto [it, end] = res.equal_range(http::field::set_cookie); it != end; ++it) {
        const auto parsed = stick_key::parse_set_cookie(sv(it->value()));
        if (!parsed || parsed->name != p.learn_cookie) continue;
        if (auto key = stick_key::from_session_value(parsed->value)) {
          sticky_.table->stick(*key, backend->name);
        }
      }
      return;
  }
}

// Beast's default container (HTTP/2 streams) and the L7 session's.
template void HttpPersistence::prepare(WorkerContext&, const PoolConfig&, const std::string&,
                                       const http::fields&, const lb::IpAddress&, std::string_view);
template void HttpPersistence::prepare(WorkerContext&, const PoolConfig&, const std::string&,
                                       const HeaderFields&, const lb::IpAddress&, std::string_view);
template void HttpPersistence::finish(WorkerContext&, const http::fields&, const Backend*);
template void HttpPersistence::finish(WorkerContext&, const HeaderFields&, const Backend*);

std::span<const AddedField> HttpPersistence::set_cookie() {
  if (set_cookie_.empty()) return {};
  set_cookie_field_ = {"Set-Cookie", set_cookie_};
  return {&set_cookie_field_, 1};
}

}  // namespace lbd::proxy
