// The health subsystem of one pool on the control thread: it runs the active checks, applies
// passive ejections reported by the workers, ramps weights after slow start, holds the admin
// state, and publishes a new immutable PoolSnapshot (one per change) through a callback.
//
// Plugging it in (server, control thread), one manager per pool:
//   auto backends = make_backends(pool_config);
//   auto m = std::make_unique<HealthManager>(control_io, pool_config, backends,
//       [&](PoolSnapshotPtr s) { for (auto& w : workers) post(w.io, [s, &w] { w.set(s); }); });
//   m->inherit(*old_manager);  // on reload only
//   m->start();                // publishes generation 1 synchronously
// Workers call m->report(backend, TrafficEvent::...) after each use of a backend.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/asio.hpp"
#include "common/clock.hpp"
#include "common/error.hpp"
#include "lbd/balance/pool_snapshot.hpp"
#include "lbd/config.hpp"
#include "lbd/upstream/health_checker.hpp"
#include "lbd/upstream/health_state.hpp"
#include "lbd/upstream/outlier_detector.hpp"
#include "lbd/upstream/slow_start.hpp"

namespace lbd {

/// One Backend per server of `pool`, in config order (what HealthManager expects).
std::vector<std::shared_ptr<const Backend>> make_backends(const PoolConfig& pool);

/// What the control socket shows for one server.
struct ServerHealthStatus {
  std::string name;
  bool up = true;
  bool ejected = false;
  AdminState admin = AdminState::ready;
  std::uint32_t weight = 0;            // configured (or set through set_weight)
  std::uint32_t effective_weight = 0;  // after slow start
  std::string last_reason;             // last failure reason ("" when the last check passed)
  std::uint64_t checks = 0;
  std::uint64_t failed_checks = 0;
  std::optional<lb::SteadyTime> last_check;  // when the last active check ended (clock time)
};

/// Threading: everything runs on the io_context given to the constructor (the control thread,
/// run by exactly one thread), except report(), which any worker may call. The publish callback
/// runs on the control thread; it should post the snapshot to every worker. The manager must
/// outlive every worker that calls report(); after stop() it may be destroyed while probes are
/// still in flight (they notice and touch nothing). The io_context must outlive the manager.
/// start() and stop() are one-shot: a reload makes a new manager (see inherit()).
class HealthManager {
 public:
  using Publish = std::function<void(PoolSnapshotPtr)>;
  using CheckerFactory =
      std::function<std::unique_ptr<HealthChecker>(const HealthCheckConfig& config)>;

  struct Options {
    /// Time for health counters, slow start and ejections (timers still use real time).
    const lb::Clock* clock = &lb::SteadyClock::instance();
    /// Seed of the check jitter.
    std::uint64_t seed = std::random_device{}();
    /// Makes the checker of each server (tests may substitute one).
    CheckerFactory make_checker = make_health_checker;
  };

  /// `backends` must be index-aligned with `pool.servers` (see make_backends).
  HealthManager(lb::asio::io_context& io, const PoolConfig& pool,
                std::vector<std::shared_ptr<const Backend>> backends, Publish publish,
                Options options);
  HealthManager(lb::asio::io_context& io, const PoolConfig& pool,
                std::vector<std::shared_ptr<const Backend>> backends, Publish publish);
  ~HealthManager();
  HealthManager(const HealthManager&) = delete;
  HealthManager& operator=(const HealthManager&) = delete;

  /// Control thread, before start(): on a config reload, takes over the up/down state of the
  /// servers `previous` also has (same name and same check type), so a reload does not make
  /// servers flap back to their initial_state. Ejections, ramps and admin changes made through
  /// the control socket are not carried over: the new config is the authority for those.
  void inherit(const HealthManager& previous);
  /// Control thread. Publishes the initial snapshot (generation 1) and starts the check loops.
  void start();
  /// Control thread. Stops checks and timers; no publish afterwards.
  void stop();

  /// Any thread (lock-free): what the proxy saw when it used `backend`. Enough consecutive
  /// errors post an ejection decision to the control thread. Unknown backends are ignored.
  void report(const Backend& backend, TrafficEvent event);

  /// Control thread. Admin state by server name; an error for an unknown name.
  lb::Result<void> set_admin_state(std::string_view server, AdminState state);
  /// Control thread. Replaces the configured weight (0..256) of a server.
  lb::Result<void> set_weight(std::string_view server, std::uint32_t weight);
  /// Control thread. Re-reads the clock: readmits expired ejections, advances slow-start ramps,
  /// publishes if routing changed. Timers call it; tests with a manual clock call it too.
  void refresh();

  /// Control thread. The last published snapshot (nullptr before start()).
  PoolSnapshotPtr snapshot() const { return current_; }
  /// Control thread. Up/down flips of active checks since start (the "flips" counter).
  std::uint64_t flips() const { return flips_; }
  /// Control thread. Passive ejections since start.
  std::uint64_t ejections() const { return ejection_count_; }
  /// Control thread. Snapshots published since start.
  std::uint64_t publishes() const { return publishes_; }
  std::vector<ServerHealthStatus> status() const;
  /// Control thread. Whether every server with an active check has finished one since the round
  /// began (at construction, or start_round()) and is not half-way through a flip (rising or
  /// falling): until then its up/down state is the configured initial one, or what it answered
  /// before, not what it answers now. A state taken over on a reload counts for the first round.
  bool round_done() const;
  /// Control thread. Begins a new round: the node comes back from a fault (its link was down), so
  /// the states it holds are what its checks saw while it could reach nothing.
  void start_round();
  const std::string& pool_name() const { return pool_name_; }

 private:
  struct Slot;

  lb::awaitable<void> check_loop(std::shared_ptr<Slot> slot, std::size_t index,
                                 std::chrono::nanoseconds first_delay, std::weak_ptr<char> alive);
  void on_result(std::size_t index, const lb::Result<void>& result);
  void on_outlier(std::size_t index);
  void rebuild_and_publish();
  void arm_timers();
  std::chrono::nanoseconds next_check_delay(const Slot& slot);
  Slot* find(std::string_view name);

  lb::asio::io_context& io_;
  std::string pool_name_;
  Publish publish_;
  const lb::Clock* clock_;
  CheckerFactory make_checker_;
  std::mt19937_64 rng_;
  std::vector<std::shared_ptr<Slot>> slots_;
  std::unordered_map<const Backend*, std::size_t> index_;  // immutable after construction
  OutlierDetector outlier_;
  std::shared_ptr<spdlog::logger> log_;
  std::shared_ptr<char> alive_;  // reset by stop(): handlers hold weak_ptrs to it
  // A weak copy made once at construction and never written again, for report() on worker
  // threads: reading alive_ there would race with stop() resetting it on the control thread.
  const std::weak_ptr<char> alive_for_workers_;
  lb::asio::steady_timer ramp_timer_;
  lb::asio::steady_timer outlier_timer_;
  bool ramp_armed_ = false;
  bool outlier_armed_ = false;
  PoolSnapshotPtr current_;
  std::uint64_t generation_ = 0;
  std::uint64_t flips_ = 0;
  std::uint64_t ejection_count_ = 0;
  std::uint64_t publishes_ = 0;
  bool all_down_ = false;
  bool using_backups_ = false;
};

}  // namespace lbd
