// The one include of Boost.Asio in the project: pure code never includes this file.
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>; g++ 12 needs it here.
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <string_view>

#include <spdlog/spdlog.h>

namespace lb {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
template <typename T = void>
using awaitable = asio::awaitable<T>;
using asio::use_awaitable;

/// Completion handler for co_spawn that logs an escaped exception instead of dropping it.
/// Usage: `asio::co_spawn(ex, task(), lb::log_exceptions(logger, "accept loop"));`
inline auto log_exceptions(std::shared_ptr<spdlog::logger> logger, std::string_view what) {
  return [logger = std::move(logger), what](std::exception_ptr ep) {
    if (!ep) return;
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      logger->error("{}: coroutine failed: {}", what, e.what());
    } catch (...) {
      logger->error("{}: coroutine failed with a non-standard exception", what);
    }
  };
}

}  // namespace lb
