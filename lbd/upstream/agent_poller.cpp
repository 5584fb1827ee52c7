#include "lbd/upstream/agent_poller.hpp"

#include <string>

#include "common/log.hpp"
#include "lbd/upstream/agent_http.hpp"
#include "lbd/upstream/connect_deadline.hpp"
#include "lbd/upstream/health_checker.hpp"

namespace lbd {

namespace {

constexpr std::size_t kMaxReply = 512;

}  // namespace

lb::awaitable<lb::Result<AgentReport>> query_agent(lb::Endpoint agent,
                                                   std::chrono::nanoseconds timeout) {
  namespace asio = lb::asio;
  auto connected =
      co_await connect_with_deadline(co_await asio::this_coro::executor, agent, timeout);
  if (!connected) co_return std::unexpected(connected.error());
  std::string reply;
  lb::error_code ec;
  const auto n =
      co_await asio::async_read_until(connected->socket(), asio::dynamic_buffer(reply, kMaxReply),
                                      '\n', asio::redirect_error(lb::use_awaitable, ec));
  if (connected->expired()) co_return lb::fail(timeout_reason(timeout));
  connected->finish();
  if (ec == asio::error::not_found) co_return lb::fail("reply longer than 512 bytes");
  if (ec && ec != asio::error::eof) co_return lb::fail(io_reason("read", ec));
  if (!ec) reply.resize(n);  // one line; ignore anything after it
  auto parsed = parse_agent_reply(reply);
  if (!parsed) co_return lb::fail("bad reply: " + parsed.error().message);
  co_return parsed;
}

struct AgentPoller::Shared {
  struct Slot {
    std::shared_ptr<const Backend> backend;
    lb::asio::steady_timer timer;
    bool failing = false;
  };

  lb::asio::any_io_executor executor;
  AgentOptions options;
  Observer observer;
  std::vector<std::unique_ptr<Slot>> slots;
  bool stopped = false;
  std::shared_ptr<spdlog::logger> log = lb::log::get("lbd.agent");
};

lb::awaitable<void> AgentPoller::poll_loop(std::shared_ptr<Shared> shared, std::size_t index) {
  auto& slot = *shared->slots[index];
  const auto& backend = *slot.backend;
  const lb::Endpoint agent{backend.address.address, shared->options.port};
  while (!shared->stopped) {
    lb::Result<AgentReport> result = lb::fail("not polled");
    if (shared->options.type == AgentType::http) {
      result = co_await query_http_agent(agent, shared->options.path, shared->options.timeout);
    } else {
      result = co_await query_agent(agent, shared->options.timeout);
    }
    if (shared->stopped) break;
    if (result) {
      const auto before = agent_status(backend);
      const auto after = apply_agent_report(backend, *result);
      if (before != after || slot.failing) {
        shared->log->info("agent: backend={} weight={}% state={}", backend.name,
                          after.weight_percent,
                          after.state == AgentState::up      ? "up"
                          : after.state == AgentState::drain ? "drain"
                                                             : "down");
      }
      slot.failing = false;
    } else if (!slot.failing) {
      // Logged when it starts failing, not on every poll.
      shared->log->warn("agent: backend={} agent={} error=\"{}\" (keeping the last report)",
                        backend.name, agent.to_string(), result.error().message);
      slot.failing = true;
    }
    if (shared->observer) shared->observer(backend, result);
    if (shared->stopped) break;
    slot.timer.expires_after(shared->options.interval);
    lb::error_code ec;
    co_await slot.timer.async_wait(lb::asio::redirect_error(lb::use_awaitable, ec));
  }
}

AgentPoller::AgentPoller(lb::asio::any_io_executor executor,
                         std::vector<std::shared_ptr<const Backend>> backends, AgentOptions options,
                         Observer observer)
    : shared_(std::make_shared<Shared>()) {
  shared_->executor = executor;
  shared_->options = options;
  shared_->observer = std::move(observer);
  for (auto& b : backends) {
    shared_->slots.push_back(std::make_unique<Shared::Slot>(
        Shared::Slot{std::move(b), lb::asio::steady_timer(executor)}));
  }
}

AgentPoller::~AgentPoller() { stop(); }

void AgentPoller::inherit(const AgentPoller& previous) {
  for (auto& slot : shared_->slots) {
    for (const auto& old : previous.shared_->slots) {
      if (old->backend->name == slot->backend->name) {
        // Through apply_agent_report, which also tells the agent balancers to re-read.
        const auto status = agent_status(*old->backend);
        apply_agent_report(*slot->backend, AgentReport{status.weight_percent, status.state});
        break;
      }
    }
  }
}

void AgentPoller::start() {
  for (std::size_t i = 0; i < shared_->slots.size(); ++i) {
    lb::asio::co_spawn(shared_->executor, poll_loop(shared_, i),
                       lb::log_exceptions(shared_->log, "agent poll loop"));
  }
}

void AgentPoller::stop() {
  if (shared_->stopped) return;
  shared_->stopped = true;
  for (auto& slot : shared_->slots) slot->timer.cancel();
}

}  // namespace lbd
