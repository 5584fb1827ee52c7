// The per-pool health manager on the control thread (see health_manager.hpp).
#include "lbd/upstream/health_manager.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.hpp"
#include "lbd/upstream/snapshot_builder.hpp"

namespace lbd {

using namespace std::chrono_literals;

std::vector<std::shared_ptr<const Backend>> make_backends(const PoolConfig& pool) {
  std::vector<std::shared_ptr<const Backend>> out;
  out.reserve(pool.servers.size());
  for (const auto& s : pool.servers) {
    out.push_back(
        std::make_shared<const Backend>(s.name, s.address, s.weight, s.max_connections, s.backup));
  }
  return out;
}

struct HealthManager::Slot {
  Slot(std::shared_ptr<const Backend> b, const ServerConfig& server, const lb::Clock& clock,
       lb::asio::io_context& io)
      : backend(std::move(b)),
        config(server.health),
        state(HealthState::Options{config.check.rise, config.check.fall, config.check.start_period,
                                   // Without an active check nothing could ever bring a server
                                   // up, so it starts (and stays) up.
                                   config.check.type == HealthCheckType::none ||
                                       config.check.initially_up},
              clock),
        slow_start(config.slow_start, clock),
        admin(config.state),
        weight(server.weight),
        timer(io) {}

  std::shared_ptr<const Backend> backend;
  ServerHealthConfig config;
  std::unique_ptr<HealthChecker> checker;
  HealthState state;
  SlowStart slow_start;
  AdminState admin;
  std::uint32_t weight;
  lb::asio::steady_timer timer;
  std::uint64_t checks = 0;
  std::uint64_t failed_checks = 0;
  std::optional<lb::SteadyTime> last_check;
  bool inherited = false;  // state taken over on a reload: as good as a finished check
  // Rounds count checks that started after the round began: one in flight at start_round()
  // probed the old state of things.
  std::uint64_t probes_started = 0;
  std::uint64_t last_result_probe = 0;  // the probes_started number of the last finished check
  std::uint64_t round_mark = 0;         // probes_started when the current round began
  bool round_started = false;  // a round began after the first one: inheriting is not enough
};

HealthManager::HealthManager(lb::asio::io_context& io, const PoolConfig& pool,
                             std::vector<std::shared_ptr<const Backend>> backends, Publish publish)
    : HealthManager(io, pool, std::move(backends), std::move(publish), Options{}) {}

HealthManager::HealthManager(lb::asio::io_context& io, const PoolConfig& pool,
                             std::vector<std::shared_ptr<const Backend>> backends, Publish publish,
                             Options options)
    : io_(io),
      pool_name_(pool.name),
      publish_(std::move(publish)),
      clock_(options.clock),
      make_checker_(std::move(options.make_checker)),
      rng_(options.seed),
      outlier_(pool.health.outlier, pool.servers.size()),
      log_(lb::log::get("lbd.health")),
      alive_(std::make_shared<char>(0)),
      alive_for_workers_(alive_),
      ramp_timer_(io),
      outlier_timer_(io) {
  const std::size_t n = std::min(backends.size(), pool.servers.size());
  for (std::size_t i = 0; i < n; ++i) {
    auto slot = std::make_shared<Slot>(backends[i], pool.servers[i], *clock_, io_);
    slot->checker = make_checker_(slot->config.check);
    index_.emplace(backends[i].get(), i);
    slots_.push_back(std::move(slot));
  }
}

HealthManager::~HealthManager() { stop(); }

void HealthManager::inherit(const HealthManager& previous) {
  for (auto& slot : slots_) {
    for (const auto& old : previous.slots_) {
      if (old->backend->name == slot->backend->name &&
          old->config.check.type == slot->config.check.type) {
        slot->state.force(old->state.up());
        slot->inherited = old->inherited || old->checks > 0 || !old->checker;
      }
    }
  }
}

void HealthManager::start() {
  rebuild_and_publish();
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i]->checker) continue;
    // Spread the first checks over one interval so that a big pool does not probe in bursts.
    const auto interval = slots_[i]->config.check.interval.count();
    std::uniform_int_distribution<std::int64_t> offset(0, std::max<std::int64_t>(interval - 1, 0));
    const auto first_delay = std::chrono::nanoseconds(offset(rng_));
    lb::asio::co_spawn(io_, check_loop(slots_[i], i, first_delay, alive_),
                       lb::log_exceptions(log_, "health check loop"));
  }
}

bool HealthManager::round_done() const {
  for (const auto& s : slots_) {
    if (!s->checker) continue;
    if (!s->round_started && s->inherited) continue;
    // A finished check since the round began, and no flip half-way (rising or falling): the
    // state is what the server answers now, not what it answered before.
    if (s->last_result_probe <= s->round_mark || s->state.transitioning()) return false;
  }
  return true;
}

void HealthManager::start_round() {
  for (auto& s : slots_) {
    s->round_mark = s->probes_started;
    s->round_started = true;
  }
}

void HealthManager::stop() {
  alive_.reset();
  for (auto& s : slots_) s->timer.cancel();
  ramp_timer_.cancel();
  outlier_timer_.cancel();
}

std::chrono::nanoseconds HealthManager::next_check_delay(const Slot& slot) {
  const auto& c = slot.config.check;
  const auto base = slot.state.transitioning() ? std::min(c.fast_interval, c.interval) : c.interval;
  if (c.jitter.count() <= 0) return base;
  std::uniform_int_distribution<std::int64_t> spread(-c.jitter.count(), c.jitter.count());
  return std::max<std::chrono::nanoseconds>(base + std::chrono::nanoseconds(spread(rng_)), 1ms);
}

lb::awaitable<void> HealthManager::check_loop(std::shared_ptr<Slot> slot, std::size_t index,
                                              std::chrono::nanoseconds delay,
                                              std::weak_ptr<char> alive) {
  // `this` is used only right after checking `alive`: stop() may let the manager go while this
  // frame still waits for a probe.
  const auto& c = slot->config.check;
  // Check times are rounded up to a grid (1/100 of the interval, 1..10 ms) so that checks due
  // at nearly the same time start in one wake-up of the control thread: with 1,000 servers this
  // saves a large share of the context switches that dominate the cost of the checks.
  const auto grid = std::clamp<std::chrono::nanoseconds>(c.interval / 100, 1ms, 10ms);
  while (true) {
    lb::error_code ec;
    const auto due = std::chrono::steady_clock::now() + delay;
    const auto since_epoch = due.time_since_epoch();
    slot->timer.expires_at(due + (grid - since_epoch % grid) % grid);
    co_await slot->timer.async_wait(lb::asio::redirect_error(lb::use_awaitable, ec));
    if (alive.expired()) co_return;
    const auto probe_number = ++slot->probes_started;
    auto result = co_await slot->checker->probe(*slot->backend, c.timeout);
    if (alive.expired()) co_return;
    slot->last_result_probe = probe_number;
    on_result(index, result);
    delay = next_check_delay(*slot);
  }
}

void HealthManager::on_result(std::size_t index, const lb::Result<void>& result) {
  auto& s = *slots_[index];
  ++s.checks;
  if (!result) ++s.failed_checks;
  s.last_check = clock_->now();
  const bool flipped = s.state.record(result ? CheckOutcome::success : CheckOutcome::failure,
                                      result ? std::string_view() : result.error().message);
  if (!result) {
    log_->debug("check failed: pool={} server={} reason=\"{}\" streak={}", pool_name_,
                s.backend->name, result.error().message, s.state.streak());
  }
  if (!flipped) return;
  ++flips_;
  if (s.state.up()) {
    log_->info("server up: pool={} server={} reason=\"{} consecutive checks passed\"", pool_name_,
               s.backend->name, s.config.check.rise);
    s.slow_start.restart();
  } else {
    log_->info("server down: pool={} server={} reason=\"{}\"", pool_name_, s.backend->name,
               s.state.last_reason());
  }
  rebuild_and_publish();
}

void HealthManager::report(const Backend& backend, TrafficEvent event) {
  const auto it = index_.find(&backend);
  if (it == index_.end()) return;
  if (!outlier_.report(it->second, event)) return;
  // The ejection decision and the snapshot belong to the control thread.
  lb::asio::post(io_, [this, index = it->second, alive = alive_for_workers_] {
    if (alive.expired()) return;
    on_outlier(index);
  });
}

void HealthManager::on_outlier(std::size_t index) {
  auto& s = *slots_[index];
  const auto now = clock_->now();
  const auto until = outlier_.try_eject(index, now);
  if (!until) {
    if (!outlier_.ejected(index)) {
      log_->warn("server not ejected: pool={} server={} reason=\"max_ejection_percent {} reached\"",
                 pool_name_, s.backend->name, outlier_.config().max_ejection_percent);
    }
    return;
  }
  ++ejection_count_;
  log_->info(
      "server ejected: pool={} server={} reason=\"{} consecutive errors\" for={} ejections={}",
      pool_name_, s.backend->name, outlier_.config().consecutive_errors,
      describe_duration(*until - now), outlier_.ejections(index));
  rebuild_and_publish();
}

void HealthManager::refresh() {
  if (!alive_) return;
  for (std::size_t i : outlier_.readmit_due(clock_->now())) {
    auto& s = *slots_[i];
    log_->info("server readmitted: pool={} server={} reason=\"ejection time over\"", pool_name_,
               s.backend->name);
    s.slow_start.restart();
  }
  rebuild_and_publish();
}

lb::Result<void> HealthManager::set_admin_state(std::string_view server, AdminState state) {
  auto* s = find(server);
  if (s == nullptr) {
    return lb::fail(fmt::format("pool {} has no server \"{}\"", pool_name_, server));
  }
  if (s->admin == state) return {};
  log_->info("server admin state: pool={} server={} from={} to={}", pool_name_, s->backend->name,
             admin_state_name(s->admin), admin_state_name(state));
  // Coming out of maintenance is "coming back": ramp up like after a recovery.
  if (s->admin == AdminState::maint && state == AdminState::ready) s->slow_start.restart();
  s->admin = state;
  rebuild_and_publish();
  return {};
}

lb::Result<void> HealthManager::set_weight(std::string_view server, std::uint32_t weight) {
  auto* s = find(server);
  if (s == nullptr) {
    return lb::fail(fmt::format("pool {} has no server \"{}\"", pool_name_, server));
  }
  if (weight > 256) return lb::fail(fmt::format("weight {} is out of range [0, 256]", weight));
  if (s->weight == weight) return {};
  log_->info("server weight: pool={} server={} from={} to={}", pool_name_, s->backend->name,
             s->weight, weight);
  s->weight = weight;
  rebuild_and_publish();
  return {};
}

HealthManager::Slot* HealthManager::find(std::string_view name) {
  for (auto& s : slots_) {
    if (s->backend->name == name) return s.get();
  }
  return nullptr;
}

std::vector<ServerHealthStatus> HealthManager::status() const {
  std::vector<ServerHealthStatus> out;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const auto& s = *slots_[i];
    out.push_back(ServerHealthStatus{s.backend->name, s.state.up(), outlier_.ejected(i), s.admin,
                                     s.weight, s.slow_start.weight(s.weight), s.state.last_reason(),
                                     s.checks, s.failed_checks, s.last_check});
  }
  return out;
}

void HealthManager::rebuild_and_publish() {
  if (!alive_) return;
  std::vector<ServerView> views;
  views.reserve(slots_.size());
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const auto& s = *slots_[i];
    views.push_back(ServerView{s.backend, BackendState{s.state.up(), outlier_.ejected(i), s.admin,
                                                       s.slow_start.weight(s.weight)}});
  }
  auto snapshot = build_pool_snapshot(pool_name_, generation_ + 1, views);
  arm_timers();
  if (current_ && same_routing(*current_, *snapshot)) return;
  ++generation_;
  ++publishes_;
  current_ = snapshot;

  // Pool-level changes are logged once per change, never per request.
  const bool all_down = snapshot->candidates.empty();
  if (all_down != all_down_) {
    if (all_down) {
      log_->warn(
          "pool down: pool={} reason=\"no server can take new connections\" "
          "http=503 tcp=refused",
          pool_name_);
    } else {
      log_->info("pool up: pool={} candidates={}", pool_name_, snapshot->candidates.size());
    }
    all_down_ = all_down;
  }
  if (snapshot->using_backups != using_backups_) {
    log_->info("pool backups: pool={} active={}", pool_name_,
               snapshot->using_backups ? "true" : "false");
    using_backups_ = snapshot->using_backups;
  }
  publish_(std::move(snapshot));
}

void HealthManager::arm_timers() {
  std::weak_ptr<char> alive = alive_;
  // Slow start: re-publish in steps while any ramp runs (same_routing drops steps that change
  // nothing, so tiny weights do not publish more often than their integer value moves).
  std::chrono::nanoseconds step = 0ns;
  for (const auto& s : slots_) {
    if (s->slow_start.active()) {
      const auto w = std::clamp<std::chrono::nanoseconds>(s->slow_start.window() / 20, 50ms, 1s);
      step = step == 0ns ? w : std::min(step, w);
    }
  }
  if (step > 0ns && !ramp_armed_) {
    ramp_armed_ = true;
    ramp_timer_.expires_after(step);
    ramp_timer_.async_wait([this, alive](lb::error_code ec) {
      if (alive.expired()) return;
      ramp_armed_ = false;
      if (!ec) refresh();
    });
  }
  // Ejections: wake up at the earliest readmission (timers run on real time; refresh() reads the
  // injected clock, so a manual clock in tests needs its own refresh() calls).
  if (auto next = outlier_.next_readmission()) {
    const auto delay = std::max<std::chrono::nanoseconds>(*next - clock_->now(), 1ms);
    outlier_timer_.expires_after(delay);
    outlier_armed_ = true;
    outlier_timer_.async_wait([this, alive](lb::error_code ec) {
      if (ec || alive.expired()) return;
      outlier_armed_ = false;
      refresh();
    });
  }
}

}  // namespace lbd
