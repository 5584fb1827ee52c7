// Polls each backend's agent (HAProxy agent-check style): over TCP, connect to the server's
// address on the agent port and read one line; over HTTP (agent_http.hpp), GET a path there and
// read the body. The parsed reply goes to Backend::agent_status, where the `agent` balancer reads
// it. Runs on the control thread's executor.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "lbd/balance/agent_report.hpp"
#include "lbd/balance/backend.hpp"
#include "lbd/balance/options.hpp"

namespace lbd {

/// One poll: connects to `agent` (TCP), reads one line (at most 512 bytes, up to '\n' or the end
/// of the stream) and parses it; the whole exchange is bounded by `timeout`. Fails on connect or
/// read errors, timeout, an over-long or unparsable reply.
lb::awaitable<lb::Result<AgentReport>> query_agent(lb::Endpoint agent,
                                                   std::chrono::nanoseconds timeout);

class AgentPoller {
 public:
  /// Called on the executor after every poll with the backend and the reply or the failure
  /// (tests and metrics use it; the poller stores good replies itself).
  using Observer = std::function<void(const Backend&, const lb::Result<AgentReport>&)>;

  /// Polls every backend of `backends` at `options.interval` (first poll at once) on its
  /// address with port `options.port`, over `options.type` (HTTP: GET `options.path`). A failed
  /// poll (unreachable agent, timeout, non-2xx status, unparsable reply) keeps the last reported
  /// status: as in HAProxy, reachability is the health checker's business, not the agent's.
  /// Nothing runs before `start()`.
  AgentPoller(lb::asio::any_io_executor executor,
              std::vector<std::shared_ptr<const Backend>> backends, AgentOptions options,
              Observer observer = {});
  /// Stops polling (see stop()).
  ~AgentPoller();
  AgentPoller(const AgentPoller&) = delete;
  AgentPoller& operator=(const AgentPoller&) = delete;

  /// On a config reload, before start(): every backend of this poller takes the agent status of
  /// the same-named backend of `previous`, so that a reload does not reset agent weights to 100 %
  /// until the first poll answers. Call from the executor's thread.
  void inherit(const AgentPoller& previous);
  /// Starts one polling loop per backend. Call once, from the executor's thread.
  void start();
  /// Stops every loop: no poll starts and no status is written after this returns; a poll in
  /// flight ends within its timeout. Call from the executor's thread; idempotent.
  void stop();

 private:
  struct Shared;
  static lb::awaitable<void> poll_loop(std::shared_ptr<Shared> shared, std::size_t index);

  std::shared_ptr<Shared> shared_;
};

}  // namespace lbd
