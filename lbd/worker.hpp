// A worker thread: its own io_context, its own SO_REUSEPORT acceptor per bind address, its own
// balancers. The control thread talks to it only by posting immutable snapshots (apply,
// update_pool) and the drain request; everything else happens on the worker's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/asio.hpp"
#include "lbd/l4/relay.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/session/sticky_registry.hpp"
#include "lbd/session/worker_context.hpp"
#include "lbd/upstream/health_manager.hpp"

namespace lbd {

/// A listening socket handed to one worker, identified by `key` (listener name + bind address).
/// Pool name → its health manager (shared with the control thread, which owns and destroys them).
using HealthManagers = std::map<std::string, std::shared_ptr<HealthManager>, std::less<>>;

struct AcceptorSpec {
  std::string key;
  std::string listener;
  int fd = -1;  // ownership passes to the worker
  std::shared_ptr<proxy::ListenerRuntime> runtime;
};

class Worker final : public proxy::WorkerContext {
 public:
  /// `global_active`: the process-wide count of client connections (outlives the worker).
  /// `conns`: the process-wide connection table (outlives the worker).
  Worker(unsigned index, std::atomic<std::uint32_t>& global_active, repl::ConnTable& conns,
         const proxy::ReleasedVips& released_vips);
  ~Worker() override;
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  /// Starts the thread.
  void start();
  /// Stops the io_context (open sessions are destroyed with it) and joins. Control thread.
  void stop_and_join();

  // Posted from the control thread; run on the worker's thread.
  /// New config snapshot, all pool snapshots of it, its stick tables, listening sockets to add and
  /// keys to close.
  void apply(ConfigPtr config, std::vector<PoolSnapshotPtr> pools, StickyTables sticky,
             HealthManagers health, std::vector<AcceptorSpec> added,
             std::vector<std::string> removed);
  /// A new snapshot of one pool (health changes); ignored for a pool the config does not have.
  void update_pool(PoolSnapshotPtr snapshot);
  /// Closes every acceptor and sets draining(); open connections continue.
  void begin_drain();
  /// Replaces the access log (nullptr = off); the old one is released on the worker's thread.
  void set_access_log(std::shared_ptr<admin::AccessLog> log);
  /// `address` was removed from the host: ends the client sessions bound to it, and keeps copies
  /// of their connection-table entries for kOrphanEntryLinger (the peer serves those clients
  /// now and sends each back to its backend).
  void close_sessions_on(const lb::IpAddress& address);
  static constexpr std::chrono::seconds kOrphanEntryLinger{10};

  // WorkerContext (worker thread only).
  lb::asio::io_context& io() override { return io_; }
  unsigned index() const override { return index_; }
  const ConfigPtr& config() const override { return config_; }
  const Backend* pick(std::string_view pool, const PickContext& ctx) override;
  PoolSnapshotPtr pool_snapshot(std::string_view pool) const override;
  lb::awaitable<std::expected<proxy::UpstreamConnection, proxy::UpstreamError>> connect_upstream(
      std::string_view pool, const proxy::ClientInfo& client, PickContext ctx) override;
  std::shared_ptr<StickyTable> sticky_table(std::string_view pool) const override;
  void report(std::string_view pool, const Backend& backend, TrafficEvent event) override;
  repl::ConnTable& conn_table() override { return conns_; }
  proxy::RelayResources& relay_resources() override { return relay_resources_; }
  proxy::WorkerCounters& counters() override { return counters_; }
  const std::shared_ptr<spdlog::logger>& logger() const override { return log_; }
  bool draining() const override { return draining_; }
  const proxy::ReleasedVips* released_vips() const override { return &released_vips_; }
  std::shared_ptr<void>& extension_slot() override { return extension_; }
  admin::WorkerStats& stats() override { return stats_; }
  admin::AccessLog* access_log() override { return access_log_.get(); }
  /// Any thread: the counters for a scrape (read-only use).
  const admin::WorkerStats& stats_for_scrape() const { return stats_; }

 private:
  struct Acceptor {
    Acceptor(lb::asio::io_context& io, std::string l, std::shared_ptr<proxy::ListenerRuntime> r)
        : acceptor(io), listener(std::move(l)), runtime(std::move(r)) {}
    lb::tcp::acceptor acceptor;
    std::string listener;
    std::shared_ptr<proxy::ListenerRuntime> runtime;
  };
  struct PoolState {
    PoolSnapshotPtr snapshot;
    std::unique_ptr<Balancer> balancer;
  };

  void install_pool(PoolSnapshotPtr snapshot);
  void keep_orphan_entries(const std::vector<lb::Endpoint>& clients);
  void add_acceptor(AcceptorSpec spec);
  lb::awaitable<void> accept_loop(std::shared_ptr<Acceptor> acceptor);
  /// `peer`: the client's address as accept(2) returned it (no getpeername per connection).
  lb::awaitable<void> handle_client(lb::tcp::socket socket, lb::tcp::endpoint peer,
                                    std::shared_ptr<proxy::ListenerRuntime> runtime);

  // Declaration order matters for destruction: io_ (and with it every session coroutine) goes
  // before the state sessions use (config, pools, relay resources, counters), and the acceptors
  // and the extension slot go before io_.
  const unsigned index_;
  std::atomic<std::uint32_t>& global_active_;
  std::shared_ptr<spdlog::logger> log_;
  ConfigPtr config_;
  std::map<std::string, PoolState, std::less<>> pools_;
  StickyTables sticky_;
  HealthManagers health_;
  repl::ConnTable& conns_;
  const proxy::ReleasedVips& released_vips_;
  proxy::RelayResources relay_resources_;
  proxy::WorkerCounters counters_;
  proxy::ClientRegistry clients_;  // entries removed by tickets, which die with io_
  admin::WorkerStats stats_;
  std::shared_ptr<admin::AccessLog> access_log_;
  bool draining_ = false;
  lb::asio::io_context io_{1};
  lb::asio::executor_work_guard<lb::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::map<std::string, std::shared_ptr<Acceptor>> acceptors_;
  std::shared_ptr<void> extension_;
};

}  // namespace lbd
