// The wait for a TLS client's whole first record (see first_record_wait.hpp).
#include "lbd/session/first_record_wait.hpp"

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <span>

#include "lbd/tls/record_header.hpp"

namespace lbd::proxy {

namespace {

/// SO_RCVLOWAT of a client socket while the wait runs: back to 1 (the default) when it ends,
/// however it ends, since the TLS stream and the relay after it wait for any byte.
class LowWatermark {
 public:
  explicit LowWatermark(lb::tcp::socket& socket) : socket_(socket) {}
  LowWatermark(const LowWatermark&) = delete;
  LowWatermark& operator=(const LowWatermark&) = delete;
  ~LowWatermark() {
    if (raised_) set(1);
  }
  /// False when the kernel refused it (the wait then cannot be armed without spinning).
  bool set(std::size_t bytes) {
    lb::error_code ec;
    socket_.set_option(lb::asio::socket_base::receive_low_watermark(static_cast<int>(bytes)), ec);
    raised_ = bytes > 1;
    return !ec;
  }

 private:
  lb::tcp::socket& socket_;
  bool raised_ = false;
};

}  // namespace

lb::awaitable<lb::error_code> wait_for_first_record(lb::tcp::socket& socket) {
  LowWatermark watermark(socket);
  std::size_t seen = 0;  // bytes queued at the previous wake-up
  for (;;) {
    lb::error_code ec;
    co_await socket.async_wait(lb::tcp::socket::wait_read,
                               lb::asio::redirect_error(lb::use_awaitable, ec));
    if (ec) co_return ec;
    std::array<std::uint8_t, kRecordHeaderSize> header{};
    const auto peeked =
        ::recv(socket.native_handle(), header.data(), header.size(), MSG_PEEK | MSG_DONTWAIT);
    if (peeked <= 0) co_return lb::error_code{};  // EOF or an error: the caller's read sees it
    const std::size_t queued = socket.available(ec);
    if (ec) co_return lb::error_code{};
    const auto need = first_record_need(std::span(header).first(static_cast<std::size_t>(peeked)));
    if (!need.tls || queued >= need.bytes) co_return lb::error_code{};
    // Awake with no new bytes: a hang-up with a partial record queued, or memory pressure (the
    // kernel then reports the socket readable below SO_RCVLOWAT). Waiting again would return at
    // once on the same bytes; the caller's read consumes them instead.
    if (queued <= seen) co_return lb::error_code{};
    seen = queued;
    if (!watermark.set(need.bytes)) co_return lb::error_code{};
  }
}

}  // namespace lbd::proxy
