// The lbd server: the control thread (config load and reload, listening sockets, snapshot
// publishing, graceful shutdown) and the N workers that carry the traffic.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/asio.hpp"
#include "lbd/proxy/worker_context.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/replication/replicator.hpp"
#include "lbd/upstream/agent_poller.hpp"
#include "lbd/upstream/registry.hpp"
#include "lbd/worker.hpp"

namespace lbd {

/// Problems that make a loaded (syntactically valid) config unusable by this build, e.g. a
/// mode="http" listener while the L7 session is not linked. Empty when runnable.
std::vector<std::string> runtime_config_errors(const Config& config);

class Server {
 public:
  /// Loads `config_path`, checks it, binds every listener and starts the workers. On failure
  /// returns nullptr and fills `errors` with every problem (config diagnostics, bind errors).
  static std::unique_ptr<Server> create(const std::string& config_path,
                                        std::vector<std::string>& errors);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Runs the control loop on the calling thread until a shutdown completes; returns the exit
  /// code (0). With `handle_signals`, SIGHUP reloads and SIGTERM/SIGINT shut down gracefully.
  int run(bool handle_signals);

  /// Re-reads the config file and applies it (thread-safe; asynchronous). A config with errors
  /// is logged and ignored: the running config stays.
  void request_reload();
  /// Stops accepting, lets open connections finish up to drain_timeout, then run() returns
  /// (thread-safe; asynchronous).
  void request_shutdown();

  /// Thread-safe observers (tests, admin).
  std::vector<lb::Endpoint> bound(const std::string& listener) const;
  /// The stick tables of the running config by pool name (the replicator registers these).
  StickyRegistry& sticky_tables() { return sticky_; }
  /// The live proxied connections of this node and those the peer reported (thread-safe).
  repl::ConnTable& conn_table() { return conns_; }
  /// Replication state, or nullopt on a node without [replication] (thread-safe).
  std::optional<repl::ReplicationStatus> replication_status() const;
  std::uint64_t reloads_ok() const { return reloads_ok_.load(); }
  std::uint64_t reloads_failed() const { return reloads_failed_.load(); }
  std::uint32_t active_connections() const { return active_.load(); }
  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
  /// A one-line summary of the listeners ("web=127.0.0.1:8080/tcp ...") for the startup log.
  std::string describe() const;

  /// The control thread's context and the pool registry (control thread only), e.g. for the
  /// health checks that publish new pool snapshots.
  lb::asio::io_context& control() { return control_; }
  UpstreamRegistry& registry() { return registry_; }

 private:
  struct BindGroup {
    std::string listener;
    lb::Endpoint configured;
    lb::Endpoint bound;
  };

  explicit Server(std::string config_path);
  /// Applies `config` (initial or reload). On failure nothing changes and `errors` says why.
  bool apply(ConfigPtr config, std::vector<std::string>& errors);
  void reload();
  void shutdown();
  void poll_drain();
  void schedule_sticky_expiry();
  /// Creates and starts the replicator when the config has [replication] (control thread).
  bool start_replication(std::vector<std::string>& errors);
  /// Registers the running stick tables with the replicator: new ones added, gone ones removed.
  void sync_replicated_tables(const StickyTables& tables);

  const std::string config_path_;
  lb::asio::io_context control_{1};
  lb::asio::executor_work_guard<lb::asio::io_context::executor_type> work_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<std::uint32_t> active_{0};
  // Declared before the workers and the replicator, which use it: destroyed after them.
  repl::ConnTable conns_;
  std::vector<std::unique_ptr<Worker>> workers_;
  UpstreamRegistry registry_;
  StickyRegistry sticky_{lb::SteadyClock::instance()};
  HealthManagers health_;  // one per pool; replaced (state inherited) on every reload
  // One per pool with algorithm = "agent"; replaced (reports inherited) on every reload.
  std::map<std::string, std::unique_ptr<AgentPoller>> agents_;
  std::map<std::string, PoolSnapshotPtr>* first_snapshots_ = nullptr;  // set inside apply()
  ConfigPtr config_;
  mutable std::mutex groups_mutex_;
  std::map<std::string, BindGroup> groups_;  // key: listener name + " " + configured address
  std::map<std::string, std::shared_ptr<proxy::ListenerRuntime>> runtimes_;
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  lb::asio::steady_timer drain_timer_{control_};
  lb::asio::steady_timer sticky_timer_{control_};
  // The tables registered with the replicator, held so they outlive their registration.
  StickyTables replicated_;
  std::unique_ptr<repl::Replicator> replicator_;
};

}  // namespace lbd
