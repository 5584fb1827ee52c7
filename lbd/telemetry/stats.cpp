#include "lbd/telemetry/stats.hpp"

#include <algorithm>

namespace lbd::admin {

void BackendCounters::observe_latency(std::chrono::nanoseconds d) {
  const double seconds = std::chrono::duration<double>(d).count();
  const auto it = std::lower_bound(kLatencyBounds.begin(), kLatencyBounds.end(), seconds);
  latency_buckets[static_cast<std::size_t>(it - kLatencyBounds.begin())].add();
  latency_sum_ns.add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, d.count())));
  latency_count.add();
}

ListenerCounters& WorkerStats::listener(std::string_view name) {
  if (auto it = listeners_.find(name); it != listeners_.end()) return *it->second;
  std::lock_guard lock(mutex_);
  auto& slot = listeners_[std::string(name)];
  slot = std::make_unique<ListenerCounters>();
  return *slot;
}

BackendCounters& WorkerStats::backend(std::string_view pool, std::string_view server) {
  if (auto p = backends_.find(pool); p != backends_.end()) {
    if (auto s = p->second.find(server); s != p->second.end()) return *s->second;
  }
  std::lock_guard lock(mutex_);
  auto& slot = backends_[std::string(pool)][std::string(server)];
  slot = std::make_unique<BackendCounters>();
  return *slot;
}

StatsTotals aggregate(const std::vector<const WorkerStats*>& workers) {
  StatsTotals t;
  for (const auto* w : workers) {
    w->for_each_listener([&](const std::string& name, const ListenerCounters& c) {
      auto& l = t.listeners[name];
      l.connections += c.connections.get();
      for (std::size_t i = 0; i < l.responses.size(); ++i) l.responses[i] += c.responses[i].get();
      l.bytes_in += c.bytes_in.get();
      l.bytes_out += c.bytes_out.get();
      l.tcp_connect.add(c.tcp_connect);
      l.tcp_session.add(c.tcp_session);
      for (std::size_t i = 0; i < l.http_limits.size(); ++i) {
        l.http_limits[i] += c.http_limits[i].get();
      }
      l.h2_connections += c.h2_connections.get();
      for (std::size_t i = 0; i < l.h2_errors.size(); ++i) l.h2_errors[i] += c.h2_errors[i].get();
    });
    w->for_each_backend(
        [&](const std::string& pool, const std::string& server, const BackendCounters& c) {
          auto& b = t.backends[pool][server];
          b.requests += c.requests.get();
          b.connect_failures += c.connect_failures.get();
          b.timeouts += c.timeouts.get();
          b.responses_5xx += c.responses_5xx.get();
          for (std::size_t i = 0; i < b.latency_buckets.size(); ++i) {
            b.latency_buckets[i] += c.latency_buckets[i].get();
          }
          b.latency_sum_ns += c.latency_sum_ns.get();
          b.latency_count += c.latency_count.get();
        });
  }
  return t;
}

}  // namespace lbd::admin
