#include "lbd/session/proxy_header_reader.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "lbd/session/deadline.hpp"

namespace lbd::proxy {

lb::tcp::endpoint to_asio(const lb::Endpoint& e) {
  sockaddr_storage ss{};
  const auto len = e.to_sockaddr(ss);
  lb::tcp::endpoint out;
  std::memcpy(out.data(), &ss, len);
  out.resize(len);
  return out;
}

lb::Endpoint from_asio(const lb::tcp::endpoint& e) {
  return lb::Endpoint::from_sockaddr(e.data()).value_or(lb::Endpoint{});
}

lb::awaitable<std::expected<ProxyHeader, std::string>> read_proxy_header(
    lb::tcp::socket& socket, std::chrono::nanoseconds timeout) {
  SocketDeadline deadline(socket, timeout);
  std::array<std::uint8_t, kProxyMaxLength> buf;
  lb::error_code ec;
  const int fd = socket.native_handle();
  for (;;) {
    // Peek: the bytes after the header belong to the session, so only the header is consumed.
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) co_return std::unexpected(std::string("connection closed before the PROXY header"));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) co_return std::unexpected(fmt::format("recv: {}", std::strerror(errno)));
    } else {
      auto r = decode_proxy_header(std::span(buf.data(), static_cast<std::size_t>(n)));
      if (r.status == DecodeStatus::invalid) co_return std::unexpected(r.error);
      if (r.status == DecodeStatus::complete) {
        const ssize_t m = ::recv(fd, buf.data(), r.length, MSG_DONTWAIT);
        if (m != static_cast<ssize_t>(r.length)) {
          co_return std::unexpected(std::string("recv of the PROXY header failed"));
        }
        co_return r.header;
      }
      if (static_cast<std::size_t>(n) >= buf.size()) {
        co_return std::unexpected(std::string("PROXY header too long"));
      }
    }
    // Edge-triggered readiness: this wait completes when MORE bytes arrive, not for the ones
    // already peeked, so the loop does not spin.
    co_await socket.async_wait(lb::tcp::socket::wait_read, redirect_error(lb::use_awaitable, ec));
    if (deadline.expired()) co_return std::unexpected(std::string("timeout"));
    if (ec) co_return std::unexpected(ec.message());
  }
}

}  // namespace lbd::proxy
