// Session persistence of one HTTP request (PoolConfig::persistence): on the way in, the server
// the request is bound to (lbd's signed cookie, or the stick-table entry of its source address,
// header or learned session cookie); on the way out, what binds the next request (a Set-Cookie,
// a stick, a learned session). Worker thread only; one per L7 session, reset per request.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/beast/http/fields.hpp>

#include "common/net/ip_address.hpp"
#include "lbd/http/http_rewrite.hpp"
#include "lbd/session/persistence.hpp"
#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

class HttpPersistence {
 public:
  /// Request side: finds the server this request (header `fields`, from `client`, for
  /// `target`) is bound to in `pool` into prefer(); in indirect cookie mode, also the Cookie
  /// header without lbd's cookie (cookie_rewrite()). Counts refused cookies and re-picks.
  /// For http::fields and HeaderFields (instantiated in http_persistence.cpp).
  template <typename Allocator>
  void prepare(WorkerContext& worker, const PoolConfig& pool, const std::string& pool_name,
               const http::basic_fields<Allocator>& fields, const lb::IpAddress& client,
               std::string_view target);

  /// Response side (`backend` answered with header `res`): counts a cookie hit or issues the
  /// cookie (set_cookie()), sticks the request's key after a (re)pick, learns the backend's
  /// session cookie.
  template <typename Allocator>
  void finish(WorkerContext& worker, const http::basic_fields<Allocator>& res,
              const Backend* backend);

  /// The pool persists sessions (prepare() ran for a pool with a persistence mode).
  bool active() const { return pool_ != nullptr; }
  /// The server the request is bound to while it still serves, else nullptr.
  const Backend* prefer() const { return sticky_.prefer; }
  /// Binds the request to `backend` when nothing else did (the connection-table entry a peer
  /// replicated before a failover).
  void prefer_backend(const Backend* backend) { sticky_.prefer = backend; }
  /// Indirect cookie mode: the client's Cookie value without lbd's cookie ("" drops the header).
  std::optional<std::string_view> cookie_rewrite() const {
    if (!cookie_rewrite_) return std::nullopt;
    return *cookie_rewrite_;
  }
  /// The Set-Cookie finish() issued, as a field to add to the response (empty: none).
  std::span<const AddedField> set_cookie();

 private:
  const PoolConfig* pool_ = nullptr;
  StickyChoice sticky_;
  std::string cookie_server_;  // cookie mode: the server a valid cookie named (empty: none)
  std::chrono::system_clock::time_point cookie_issued_;  // and when it was issued
  std::optional<std::string> cookie_rewrite_;
  std::string set_cookie_;  // cookie mode: the Set-Cookie value for the response (empty: none)
  AddedField set_cookie_field_;
};

}  // namespace lbd::proxy
