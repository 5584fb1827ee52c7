// Connect under a probe deadline (see connect_deadline.hpp).
#include "lbd/upstream/connect_deadline.hpp"

#include "common/net/asio_endpoint.hpp"
#include "lbd/upstream/health_checker.hpp"

namespace lbd {

void DeadlineSocket::finish(bool reset) {
  deadline_->finish();
  lb::error_code ignored;
  if (reset) socket_->set_option(lb::asio::socket_base::linger(true, 0), ignored);
  socket_->close(ignored);
}

lb::awaitable<lb::Result<DeadlineSocket>> connect_with_deadline(lb::asio::any_io_executor executor,
                                                                lb::Endpoint endpoint,
                                                                std::chrono::nanoseconds timeout) {
  namespace asio = lb::asio;
  auto socket = std::make_shared<lb::tcp::socket>(executor);
  auto deadline = std::make_unique<detail::ProbeDeadline>(executor, timeout, [socket] {
    lb::error_code ignored;
    socket->close(ignored);
  });
  lb::error_code ec;
  co_await socket->async_connect(lb::to_asio(endpoint),
                                 asio::redirect_error(lb::use_awaitable, ec));
  if (deadline->expired()) co_return lb::fail(timeout_reason(timeout));
  if (ec) co_return lb::fail(io_reason("connect", ec));
  co_return DeadlineSocket(std::move(socket), std::move(deadline));
}

}  // namespace lbd
