#include "common/signals.hpp"

#include <pthread.h>

#include <csignal>

namespace lb {
namespace {
sigset_t daemon_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGHUP, SIGTERM, SIGINT, SIGUSR1}) sigaddset(&set, sig);
  return set;
}
}  // namespace

void block_daemon_signals() {
  const sigset_t set = daemon_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void unblock_daemon_signals() {
  const sigset_t set = daemon_signals();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

SignalHandler::SignalHandler(asio::io_context& ctx, std::function<void()> on_reload,
                             std::function<void(int)> on_stop)
    : signals_(ctx, SIGHUP, SIGTERM, SIGINT),
      on_reload_(std::move(on_reload)),
      on_stop_(std::move(on_stop)) {
  arm();
}

void SignalHandler::on_user1(std::function<void()> callback) {
  on_user1_ = std::move(callback);
  signals_.add(SIGUSR1);
}

void SignalHandler::stop() {
  error_code ignored;
  signals_.cancel(ignored);
}

void SignalHandler::arm() {
  signals_.async_wait([this](const error_code& ec, int signal) {
    if (ec) return;  // cancelled
    if (signal == SIGHUP) {
      if (on_reload_) on_reload_();
    } else if (signal == SIGUSR1) {
      if (on_user1_) on_user1_();
    } else if (on_stop_) {
      on_stop_(signal);
    }
    arm();
  });
}

}  // namespace lb
