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
#include "common/control/server.hpp"
#include "lbd/admin/admin_server.hpp"
#include "lbd/admin/control_target.hpp"
#include "lbd/admin/metrics.hpp"
#include "lbd/admin/role_tracker.hpp"
#include "lbd/admin/runtime_overrides.hpp"
#include "lbd/admin/status_model.hpp"
#include "lbd/forward/ct_stream.hpp"
#include "lbd/forward/forward_manager.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/replication/replicator.hpp"
#include "lbd/session/address_events.hpp"
#include "lbd/session/listen_socket.hpp"
#include "lbd/session/worker_context.hpp"
#include "lbd/telemetry/access_log.hpp"
#include "lbd/upstream/agent_poller.hpp"
#include "lbd/upstream/registry.hpp"
#include "lbd/worker.hpp"

namespace lbd {

class Server final : public admin::ControlTarget {
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
  StickyRegistry& sticky_tables() override { return sticky_; }
  /// The live proxied connections of this node and those the peer reported (thread-safe).
  repl::ConnTable& conn_table() override { return conns_; }
  /// Replication state, or nullopt on a node without [replication] (thread-safe).
  std::optional<repl::ReplicationStatus> replication_status() const override;
  /// Failed TLS handshakes of `listener` by reason (see ListenerRuntime::count_tls_error).
  std::map<std::string, std::uint64_t> tls_handshake_errors(const std::string& listener) const;
  /// The running TLS client context of `pool` ([pool.tls]; its handshake counters), or nullptr.
  std::shared_ptr<const proxy::UpstreamTlsContext> upstream_tls(const std::string& pool) const;
  std::uint64_t reloads_ok() const { return reloads_ok_.load(); }
  std::uint64_t reloads_failed() const { return reloads_failed_.load(); }
  std::uint32_t active_connections() const { return active_.load(); }
  /// Idle keep-alive HTTP clients parked without a session now, over every worker (any thread).
  std::uint64_t parked_clients() const {
    std::uint64_t n = 0;
    for (const auto& w : workers_)
      n += w->counters().parked_clients.load(std::memory_order_relaxed);
    return n;
  }
  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
  /// Thread-safe: where the admin listener is bound (nullopt without [admin]).
  std::optional<lb::Endpoint> admin_endpoint() const;
  /// Control thread: everything /metrics and /status show, gathered now.
  admin::AdminView admin_view();
  /// Thread-safe: the access log re-opens its file (SIGUSR1, after logrotate moved it).
  void reopen_logs();
  /// Thread-safe: the running access log (nullptr when off), e.g. for its counters.
  std::shared_ptr<admin::AccessLog> access_log() const;
  /// A one-line summary of the listeners ("web=127.0.0.1:8080/tcp ...") for the startup log.
  std::string describe() const;

  /// The control thread's context and the pool registry (control thread only), e.g. for the
  /// health checks that publish new pool snapshots.
  lb::asio::io_context& control() { return control_; }
  UpstreamRegistry& registry() { return registry_; }

  /// Thread-safe: one consistent read of pools, servers, replication, roles and health for the
  /// status page and the control socket. Runs on the control thread (posted there and waited
  /// for, at most 2 s, when called from another thread; after shutdown or on a timeout the
  /// health says "unknown" and the rest is empty).
  admin::NodeStatus node_status() override;
  /// Forward mode with the kernel's ruleset (control thread; nullopt without forward listeners).
  std::optional<admin::ForwardView> forward_view() override { return make_forward_view(true); }
  /// The path the control socket listens on ("" when none).
  std::string control_socket_path() const;

  // ---- control thread only: the operations behind the control socket (lbd/admin/) ----
  /// Every pool (config order), or the one named; nullopt when `pool` names no pool.
  std::optional<std::vector<admin::PoolView>> pool_views(
      std::optional<std::string> pool = {}) override;
  /// Sets a server's admin state / weight at run time: the pool's next snapshot steers traffic
  /// accordingly, and the override is kept across reloads (see admin/runtime_overrides.hpp).
  /// Errors: "no pool P", "no server P/S in pool P", weight out of range.
  lb::Result<void> set_server_admin(const std::string& pool, const std::string& server,
                                    AdminState state) override;
  lb::Result<void> set_server_weight(const std::string& pool, const std::string& server,
                                     std::uint32_t weight) override;
  /// Reloads now; false with the reasons when the new config was refused (the old one stays).
  bool reload_now(std::vector<std::string>& errors) override;
  /// vrrpd's report of one virtual router's transition: logged, kept per instance, and the node
  /// role (master when master of any VRID) passed to the replicator when it changes.
  void on_vrrp_state(admin::VridRole role) override;
  admin::RolesView roles() const override { return roles_.view(); }
  bool draining() const override { return draining_; }
  /// The running configuration (control thread).
  const Config& config() const override { return *config_; }
  /// The forward manager (nullptr when no forward listener was ever configured).
  forward::ForwardManager* forward() { return forward_.get(); }
  /// The conntrack stream of the forward flows (nullptr when no forward listener was ever
  /// configured).
  forward::CtStream* ct_stream() { return ct_stream_.get(); }

 private:
  struct BindGroup {
    std::string listener;
    lb::Endpoint configured;
    lb::Endpoint bound;
  };

  using ListenGroups = std::map<std::string, std::vector<proxy::ListenSocket>>;
  using ListenerRuntimes = std::map<std::string, std::shared_ptr<proxy::ListenerRuntime>>;
  using Agents = std::map<std::string, std::unique_ptr<AgentPoller>>;

  explicit Server(std::string config_path);
  /// Applies `config` (initial or reload). On failure nothing changes and `errors` says why.
  bool apply(ConfigPtr config, std::vector<std::string>& errors);
  // The steps of apply(), in its order.
  /// The bind groups of `config`: running ones kept, new ones opened (one socket per worker,
  /// into `opened`). A bind failure lands in `errors`; nothing running changes.
  std::map<std::string, BindGroup> open_bind_groups(const Config& config, ListenGroups& opened,
                                                    std::vector<std::string>& errors);
  /// One health manager per pool of `config`, inheriting the state of the running one; the
  /// pollers of pools with algorithm = "agent" go into `agents` (not started).
  HealthManagers make_health_managers(const Config& config, Agents& agents);
  /// Stops the running managers and starts `health`; their first snapshots replace the ones in
  /// `pools`, so the workers get both together. `health` becomes the running set.
  void start_health(const Config& config, const HealthManagers& health,
                    std::vector<PoolSnapshotPtr>& pools);
  /// A health manager's new snapshot: collected during start_health, else sent to the workers
  /// and the forward table.
  void on_pool_snapshot(PoolSnapshotPtr snapshot);
  /// Stops the running agent pollers and starts `agents`, which inherit their last reports.
  void replace_agents(Agents agents);
  /// Makes the bind groups, listener runtimes and upstream TLS contexts of `config` the ones the
  /// thread-safe observers read.
  void publish_listeners(const Config& config, std::map<std::string, BindGroup> groups,
                         ListenerRuntimes runtimes);
  void reload();
  /// Applies the runtime overrides to the managers of a freshly applied config.
  void apply_overrides(const Config& config, const HealthManagers& managers);
  admin::NodeStatus collect_status();
  void shutdown();
  void poll_drain();
  void schedule_sticky_expiry();
  /// Re-evaluates lbd's readiness (admin/readiness.hpp) every kReadinessInterval and publishes
  /// every change on the control socket's watch streams (vrrpd's preempt gate waits for it).
  void schedule_readiness();
  /// Checks the running config's TLS files every global.tls_watch_interval and reloads when one
  /// changed (content, rename, symlink swap).
  void schedule_tls_watch();
  /// dev/inode/mtime/size of every TLS file of the running config (symlinks followed).
  std::string tls_files_signature() const;
  /// Programs the forward-mode listeners of `config` into the kernel (creating the manager the
  /// first time a config has one). At start a failure lands in `errors`; on a reload it is logged
  /// and the kernel keeps the previous table.
  void apply_forward(const ConfigPtr& config, const std::vector<PoolSnapshotPtr>& pools,
                     std::vector<std::string>& errors);
  /// Deletes the forwarding table (clean stop); idempotent.
  void stop_forward();
  /// Deletes the conntrack entries of the backends that went down under on_server_down =
  /// "reset" (after a snapshot).
  void reset_forward_flows();
  /// Forward mode for the control socket (`with_ruleset`: asks nftables) and /metrics.
  std::optional<admin::ForwardView> make_forward_view(bool with_ruleset);
  /// Creates and starts the replicator when the config has [replication] (control thread).
  bool start_replication(std::vector<std::string>& errors);
  /// Registers the running stick tables with the replicator: new ones added, gone ones removed.
  void sync_replicated_tables(const StickyTables& tables);
  /// Applies [access_log] and [admin] of `config` (initial or reload): an unchanged section
  /// keeps its running object. False with `errors` when a file cannot be opened or the admin
  /// address cannot be bound; then nothing of the two changed.
  bool apply_operations(const Config& config, std::vector<std::string>& errors);

  const std::string config_path_;
  lb::asio::io_context control_{1};
  lb::asio::executor_work_guard<lb::asio::io_context::executor_type> work_;
  std::shared_ptr<spdlog::logger> log_;
  std::atomic<std::uint32_t> active_{0};
  // Declared before the workers and the replicator, which use it: destroyed after them.
  repl::ConnTable conns_;
  proxy::ReleasedVips released_vips_;  // the VIPs of the VRIDs not master here (role reports)
  std::vector<std::unique_ptr<Worker>> workers_;
  UpstreamRegistry registry_;
  StickyRegistry sticky_{lb::SteadyClock::instance()};
  HealthManagers health_;  // one per pool; replaced (state inherited) on every reload
  // One per pool with algorithm = "agent"; replaced (reports inherited) on every reload.
  Agents agents_;
  std::map<std::string, PoolSnapshotPtr>* first_snapshots_ = nullptr;  // set inside apply()
  ConfigPtr config_;
  // [pool.tls] contexts of the running config by pool, under groups_mutex_ (upstream_tls()).
  std::map<std::string, std::shared_ptr<const proxy::UpstreamTlsContext>> upstream_tls_;
  mutable std::mutex groups_mutex_;
  std::map<std::string, BindGroup> groups_;  // key: listener name + " " + configured address
  ListenerRuntimes runtimes_;                // groups_mutex_
  std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
  bool draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_;
  lb::asio::steady_timer drain_timer_{control_};
  lb::asio::steady_timer sticky_timer_{control_};
  lb::asio::steady_timer tls_watch_timer_{control_};
  lb::asio::steady_timer readiness_timer_{control_};
  std::optional<bool> ready_;  // last readiness logged
  std::string tls_signature_;  // tls_files_signature() after the last load or reload attempt
  // The tables registered with the replicator, held so they outlive their registration.
  StickyTables replicated_;
  // Declared before the replicator, which holds it as its conntrack table: destroyed after it.
  std::unique_ptr<forward::CtStream> ct_stream_;
  std::unique_ptr<repl::Replicator> replicator_;
  // Forward mode: the kernel's table for mode = "forward" listeners (null until one is configured).
  std::unique_ptr<forward::ForwardManager> forward_;
  // Operations: the admin listener, the access log, and what outlives a reload for them.
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::unique_ptr<admin::AdminServer> admin_;
  std::optional<lb::Endpoint> admin_bound_;       // guarded by groups_mutex_
  std::shared_ptr<admin::AccessLog> access_log_;  // guarded by groups_mutex_
  /// Health flips and ejections of the health managers a reload replaced, by pool, so that the
  /// counters stay monotonic.
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> retired_health_;
  admin::RuntimeOverrides overrides_;
  admin::RoleTracker roles_;
  // Address removals (the VIP leaving this node) end the client sessions on them.
  std::unique_ptr<proxy::AddressWatch> address_watch_;
  // Last: destroyed first, so no request reaches a half-destroyed server.
  std::unique_ptr<lb::control::Server> control_socket_;
};

}  // namespace lbd
