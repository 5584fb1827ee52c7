// Exec health check (see exec_checker.hpp).
#include "lbd/upstream/exec_checker.hpp"

#include <algorithm>
#include <chrono>

#include "common/spawn.hpp"

namespace lbd {

lb::awaitable<lb::Result<void>> ExecChecker::probe(const Backend& backend,
                                                   std::chrono::nanoseconds timeout) {
  const auto target = check_target(config_, backend);
  // The spawn helper gives the check its own process group (the timeout kills the whole
  // pipeline), default signals, normal scheduling, no capabilities and none of lbd's sockets.
  auto options =
      lb::shell_command(config_.command, {"LBD_SERVER_NAME=" + backend.name,
                                          "LBD_SERVER_ADDRESS=" + target.address.to_string(),
                                          "LBD_SERVER_PORT=" + std::to_string(target.port)});
  // At least 1 ms: 0 would mean no deadline at all.
  const auto limit =
      std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(timeout));
  auto r = co_await lb::run_process(std::move(options), limit);
  if (!r) co_return std::unexpected(r.error());
  if (r->timed_out) co_return lb::fail(timeout_reason(timeout));
  if (r->success()) co_return lb::Result<void>{};
  co_return lb::fail(lb::describe(*r, limit));
}

}  // namespace lbd
