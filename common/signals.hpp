// Process signals as events on an io_context: SIGHUP → reload, SIGTERM/SIGINT → graceful stop.
#pragma once

#include <functional>

#include "common/asio.hpp"

namespace lb {

/// Listens for SIGHUP, SIGTERM and SIGINT on `ctx` and calls the matching callback on that
/// context's thread. Re-arms after each signal until stop() or destruction.
/// Blocks SIGHUP, SIGTERM, SIGINT and SIGUSR1 in the calling thread (and in threads it starts
/// afterwards). Call it first thing in main(): a signal that arrives before the SignalHandler
/// exists then stays pending instead of killing the process with its default action.
void block_daemon_signals();
/// Unblocks them in the calling thread; pending ones are delivered to the SignalHandler.
void unblock_daemon_signals();

class SignalHandler {
 public:
  SignalHandler(asio::io_context& ctx, std::function<void()> on_reload,
                std::function<void(int signal)> on_stop);
  /// Also dispatch SIGUSR1 (e.g. reopen log files).
  void on_user1(std::function<void()> callback);
  void stop();

 private:
  void arm();

  asio::signal_set signals_;
  std::function<void()> on_reload_;
  std::function<void(int)> on_stop_;
  std::function<void()> on_user1_;
};

}  // namespace lb
