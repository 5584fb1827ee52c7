// The watch stream on lbd's control socket: see lbd_watch.hpp.
#include "vrrpd/lbd_watch.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/control/protocol.hpp"
#include "common/log.hpp"

namespace vrrp {

std::chrono::milliseconds watch_backoff(int failures) {
  auto d = kWatchRetryMin;
  for (int i = 0; i < failures && d < kWatchRetryMax; ++i) d *= 2;
  return std::min(d, kWatchRetryMax);
}

bool watch_readiness(const nlohmann::json& message, std::string& reason) {
  reason.clear();
  if (!message.is_object()) return true;
  const auto it = message.find("ready");
  if (it == message.end() || !it->is_boolean()) return true;
  if (auto r = message.find("reasons"); r != message.end() && r->is_array()) {
    for (const auto& x : *r) {
      if (x.is_string()) reason += (reason.empty() ? "" : "; ") + x.get<std::string>();
    }
  }
  return it->get<bool>();
}

LbdWatch::LbdWatch(lb::asio::io_context& ctx, std::string socket,
                   std::function<void(const std::string&)> on_gone,
                   std::function<void(bool, const std::string&)> on_ready)
    : ctx_(ctx),
      socket_path_(std::move(socket)),
      on_gone_(std::move(on_gone)),
      on_ready_(std::move(on_ready)),
      socket_(ctx),
      timer_(ctx) {}

LbdWatch::~LbdWatch() {
  *alive_ = false;
  lb::error_code ec;
  socket_.close(ec);
  timer_.cancel();
}

void LbdWatch::start() {
  lb::asio::co_spawn(ctx_, run(alive_),
                     lb::log_exceptions(lb::log::get("vrrpd.track"), "lbd watch"));
}

lb::awaitable<std::size_t> LbdWatch::open_stream(std::shared_ptr<bool> alive, std::string& reply,
                                                 lb::error_code& ec) {
  namespace asio = lb::asio;
  using stream = asio::local::stream_protocol;
  socket_ = stream::socket(ctx_);
  co_await socket_.async_connect(stream::endpoint(socket_path_),
                                 asio::redirect_error(lb::use_awaitable, ec));
  if (!*alive || ec) co_return 0;
  // lbd answers at once; a hung lbd must not hold the attempt forever.
  timer_.expires_after(kWatchAnswerTimeout);
  timer_.async_wait([this, alive](const lb::error_code& e) {
    if (e || !*alive) return;
    lb::error_code ignored;
    socket_.close(ignored);
  });
  std::size_t n = 0;
  const std::string line = lb::control::to_line({{"cmd", "watch"}});
  co_await asio::async_write(socket_, asio::buffer(line),
                             asio::redirect_error(lb::use_awaitable, ec));
  if (!*alive) co_return 0;
  if (!ec) {
    n = co_await asio::async_read_until(socket_,
                                        asio::dynamic_buffer(reply, lb::control::kMaxLineBytes + 1),
                                        '\n', asio::redirect_error(lb::use_awaitable, ec));
    if (!*alive) co_return 0;
  }
  timer_.cancel();
  co_return n;
}

void LbdWatch::report_readiness(const nlohmann::json& message, spdlog::logger& log) {
  std::string why;
  const bool ready = watch_readiness(message, why);
  if (ready == ready_) return;
  ready_ = ready;
  log.info("lbd: watch: {}{}{}", ready ? "ready" : "not ready", why.empty() ? "" : ": ", why);
  if (on_ready_) on_ready_(ready, why);
}

lb::awaitable<void> LbdWatch::run(std::shared_ptr<bool> alive) {
  namespace asio = lb::asio;
  auto log = lb::log::get("vrrpd.track");
  int failures = 0;
  bool said_unreachable = false;
  // Every resumption checks `alive` first: the destructor closes the socket and cancels the
  // timer, and the aborted operation resumes this frame after `this` is gone.
  while (*alive) {
    lb::error_code ec;
    std::string reply;
    std::size_t n = co_await open_stream(alive, reply, ec);
    if (!*alive) co_return;
    if (ec) {
      if (!said_unreachable) {
        log->debug("lbd: watch: cannot open a stream on {}: {}", socket_path_, ec.message());
        said_unreachable = true;
      }
      timer_.expires_after(watch_backoff(failures++));
      co_await timer_.async_wait(asio::redirect_error(lb::use_awaitable, ec));
      continue;
    }
    const auto j = nlohmann::json::parse(reply.substr(0, n - 1), nullptr, false);
    if (!j.is_object() || !j.value("ok", false) || !j.value("watch", false)) {
      // An lbd without `watch` (older), or one with too many watchers: the polls still work;
      // retry slowly rather than hold a session it did not grant.
      log->warn("lbd: watch refused: {}; only polls detect a dead lbd until it is accepted",
                j.is_discarded() ? std::string("reply is not JSON") : j.dump());
      failures = std::max(failures, 6);
      timer_.expires_after(watch_backoff(failures++));
      co_await timer_.async_wait(asio::redirect_error(lb::use_awaitable, ec));
      continue;
    }
    pid_ = j.value("pid", pid_t{1});
    failures = 0;
    said_unreachable = false;
    log->info("lbd: watch: stream open: socket={} pid={}", socket_path_, pid_);
    report_readiness(j, *log);
    if (!*alive) co_return;
    // Then one line per readiness change. The buffer is bounded: a longer line ends the stream
    // (as a protocol error), and the next attempt starts afresh.
    reply.erase(0, n);
    while (!ec) {
      n = co_await asio::async_read_until(
          socket_, asio::dynamic_buffer(reply, lb::control::kMaxLineBytes + 1), '\n',
          asio::redirect_error(lb::use_awaitable, ec));
      if (!*alive) co_return;
      if (ec) break;
      const auto event = nlohmann::json::parse(reply.substr(0, n - 1), nullptr, false);
      reply.erase(0, n);
      if (event.is_object() && event.value("event", std::string()) == "ready") {
        report_readiness(event, *log);
      }
      if (!*alive) co_return;
    }
    const auto reason = fmt::format("control stream closed ({}), lbd pid {} gone",
                                    ec == asio::error::eof ? "end of file" : ec.message(), pid_);
    log->info("lbd: watch: {}", reason);
    pid_ = 0;
    if (ready_) {
      ready_ = false;
      if (on_ready_) on_ready_(false, "lbd gone");
      if (!*alive) co_return;
    }
    on_gone_(reason);
    if (!*alive) co_return;  // on_gone may have destroyed us (a reload)
    timer_.expires_after(kWatchRetryMin);
    co_await timer_.async_wait(asio::redirect_error(lb::use_awaitable, ec));
  }
}

}  // namespace vrrp
