// Which requests the proxy may send a second time, to another connection, after the first one
// failed before any response byte came back (a reused keep-alive connection the backend had
// just closed). RFC 9110 §9.2.2: only idempotent methods, unless no byte of the request was
// written anywhere.
#pragma once

#include <string_view>

namespace lbd::proxy {

/// True for the idempotent methods of RFC 9110 §9.2.2: GET, HEAD, OPTIONS, TRACE, PUT, DELETE
/// (methods are case-sensitive). POST, PATCH, CONNECT and unknown methods are not.
constexpr bool is_idempotent(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

/// May a request without a body be sent again after its first connection failed?
/// `written`: some of its bytes went out on that connection (the backend may have acted on it).
constexpr bool may_replay(std::string_view method, bool written) {
  return !written || is_idempotent(method);
}

/// May a stream to an HTTP/2 server (pool protocol = "h2") that closed before its response
/// header be opened once more, on another connection? Only on the first attempt and before any
/// request body byte went out; then when the server did not process it (`refused`:
/// REFUSED_STREAM, a GOAWAY race), or when its connection failed and the request is idempotent
/// and has no body.
constexpr bool may_reopen_h2_stream(bool refused, bool connection_failed, std::string_view method,
                                    bool has_body, bool first_attempt, bool body_sent) {
  if (!first_attempt || body_sent) return false;
  return refused || (connection_failed && !has_body && is_idempotent(method));
}

}  // namespace lbd::proxy
