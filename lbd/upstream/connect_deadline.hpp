// Connecting a probe's socket under the probe's deadline: the TCP and HTTP health checks and the
// agent polls start this way. The deadline keeps running after the connect and bounds the rest
// of the exchange (closing the socket makes a pending read or write complete).
#pragma once

#include <chrono>
#include <memory>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/upstream/probe_deadline.hpp"

namespace lbd {

/// A connected socket and the deadline of the exchange it serves. Movable; the socket is shared
/// with the deadline's action, which may run after the probe's frame is gone.
class DeadlineSocket {
 public:
  DeadlineSocket(std::shared_ptr<lb::tcp::socket> socket,
                 std::unique_ptr<detail::ProbeDeadline> deadline)
      : socket_(std::move(socket)), deadline_(std::move(deadline)) {}

  lb::tcp::socket& socket() { return *socket_; }
  /// Whether the deadline passed (and closed the socket): check it after every await.
  bool expired() const { return deadline_->expired(); }
  /// The exchange is over: stops the deadline and closes the socket. `reset` closes with an RST
  /// (SO_LINGER 0): no FIN exchange and no TIME_WAIT socket, as HAProxy's checks do.
  void finish(bool reset = false);

 private:
  std::shared_ptr<lb::tcp::socket> socket_;
  std::unique_ptr<detail::ProbeDeadline> deadline_;
};

/// Opens a socket on `executor` and connects it to `endpoint`; `timeout` bounds the connect and
/// whatever the caller then does with the socket. Fails with timeout_reason(timeout) ("timeout
/// after 2s") when the deadline passed, io_reason("connect", ec) ("connect: connection refused")
/// on another error. Single-threaded io_context only (the control thread).
lb::awaitable<lb::Result<DeadlineSocket>> connect_with_deadline(lb::asio::any_io_executor executor,
                                                                lb::Endpoint endpoint,
                                                                std::chrono::nanoseconds timeout);

}  // namespace lbd
