// The frames an nghttp2 session has to send, appended to a connection's output string: the one
// loop both sides of HTTP/2 (the client sessions to backends, the server sessions of clients)
// run when their writer asks for bytes.
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace lbd::proxy {

/// Appends what `session` has to send to `out` until it has nothing more or `out` holds
/// `batch` bytes. False when nghttp2 failed the session (the connection must end).
inline bool append_session_output(nghttp2_session* session, std::string& out, std::size_t batch) {
  while (out.size() < batch) {
    const std::uint8_t* data = nullptr;
    const auto n = nghttp2_session_mem_send(session, &data);
    if (n < 0) return false;
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace lbd::proxy
