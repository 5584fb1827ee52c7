#include "lbd/session/proxy_header_reader.hpp"

#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "lbd/session/deadline.hpp"

namespace lbd::proxy {

lb::awaitable<std::expected<ProxyHeader, std::string>> read_proxy_header(
    lb::tcp::socket& socket, std::chrono::nanoseconds timeout) {
  SocketDeadline deadline(socket, timeout);
  std::array<std::uint8_t, kProxyMaxLength> buf;
  std::size_t have = 0;  // header bytes consumed so far (all before buf[have])
  lb::error_code ec;
  const int fd = socket.native_handle();
  for (;;) {
    // Peek: the bytes after the header belong to the session, so only header bytes are consumed.
    const ssize_t n = ::recv(fd, buf.data() + have, buf.size() - have, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) co_return std::unexpected(std::string("connection closed before the PROXY header"));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) co_return std::unexpected(fmt::format("recv: {}", std::strerror(errno)));
    } else {
      const auto seen = have + static_cast<std::size_t>(n);
      auto r = decode_proxy_header(std::span(buf.data(), seen));
      if (r.status == DecodeStatus::invalid) co_return std::unexpected(r.error);
      // Complete: consume the rest of the header, exactly. Incomplete: the header is longer
      // than every byte seen, so all of them are header bytes; consuming them empties the
      // receive queue, and the wait below completes only when new bytes arrive. (A readiness
      // wait with peeked bytes still queued completes at once: that loop would spin.)
      const std::size_t take =
          r.status == DecodeStatus::complete ? r.length - have : static_cast<std::size_t>(n);
      const ssize_t m = ::recv(fd, buf.data() + have, take, MSG_DONTWAIT);
      if (m != static_cast<ssize_t>(take)) {
        co_return std::unexpected(std::string("recv of the PROXY header failed"));
      }
      have += take;
      if (r.status == DecodeStatus::complete) co_return r.header;
      if (have >= buf.size()) co_return std::unexpected(std::string("PROXY header too long"));
    }
    co_await socket.async_wait(lb::tcp::socket::wait_read, redirect_error(lb::use_awaitable, ec));
    if (deadline.expired()) co_return std::unexpected(std::string("timeout"));
    if (ec) co_return std::unexpected(ec.message());
  }
}

}  // namespace lbd::proxy
