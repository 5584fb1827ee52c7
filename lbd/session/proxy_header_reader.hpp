// Reads a PROXY v1/v2 header off an accepted socket without consuming a byte past it: peek,
// decode, and consume what is known to be header (all of a valid prefix, then exactly the rest),
// so that a stalled sender costs a wait, not a wake-up loop. Bounded in size (kProxyMaxLength)
// and time.
#pragma once

#include <chrono>
#include <expected>
#include <string>

#include "common/asio.hpp"
#include "lbd/session/proxy_protocol.hpp"

namespace lbd::proxy {

/// Waits up to `timeout` for a complete header. Errors: malformed header, EOF, timeout (message
/// says which). Threading: the socket's executor.
lb::awaitable<std::expected<ProxyHeader, std::string>> read_proxy_header(
    lb::tcp::socket& socket, std::chrono::nanoseconds timeout);

}  // namespace lbd::proxy
