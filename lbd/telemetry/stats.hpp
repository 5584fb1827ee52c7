// Data-plane counters for /metrics: each worker owns one WorkerStats and is the only writer of
// its counters (no cache line is shared between workers); a scrape sums every worker's values.
// Pure code: no Asio, no Beast.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace lbd::admin {

/// A counter with one writing thread and any number of readers: the writer adds with a relaxed
/// load + store (no locked instruction), readers see a value that is at most a little stale.
class Counter {
 public:
  void add(std::uint64_t n = 1) {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

/// Upper bounds (seconds) of the response latency histogram buckets; +Inf is implicit.
inline constexpr std::array<double, 14> kLatencyBounds{
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

/// Upper bounds (seconds) of the TCP session duration histogram: connections live from
/// milliseconds (a health probe, a single request) to hours (a database or SSH session).
inline constexpr std::array<double, 14> kSessionBounds{0.001, 0.01, 0.1, 0.5, 1,    5,    10,
                                                       30,    60,   300, 600, 1800, 3600, 7200};

/// A duration histogram with one writing thread: non-cumulative bucket counts over `bounds`
/// (the last bucket is +Inf), the sum in nanoseconds and the count.
template <std::size_t N>
struct DurationHistogram {
  std::array<Counter, N + 1> buckets;
  Counter sum_ns;
  Counter count;

  void observe(std::chrono::nanoseconds d, const std::array<double, N>& bounds) {
    const double seconds = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < N && seconds > bounds[i]) ++i;
    buckets[i].add();
    sum_ns.add(static_cast<std::uint64_t>(d.count() > 0 ? d.count() : 0));
    count.add();
  }
};

/// Status classes 1xx..5xx; index = status / 100 - 1. Other codes are not counted.
inline constexpr std::size_t kStatusClasses = 5;

/// The bounds of the HTTP data path a peer can run into; a request or response that passes one is
/// ended (400, 408, or a closed connection once the response header is out) and counted.
enum class HttpLimit : std::size_t {
  chunk_line,         // a chunk-size line with its extensions over kMaxChunkLine
  trailers,           // a trailer section over max_header_size
  request_body_time,  // a request body not received within timeouts.request_body
  header_fields,      // a request header with more fields than kMaxHeaderFields
};
inline constexpr std::array<std::string_view, 4> kHttpLimitNames{
    "chunk_line", "trailers", "request_body_time", "header_fields"};
/// lbd::h2::kDefenceCount (admin does not include the HTTP/2 code).
inline constexpr std::size_t kH2Reasons = 11;

/// One listener's counters on one worker.
struct ListenerCounters {
  Counter connections;  // accepted client connections
  std::array<Counter, kStatusClasses> responses;
  Counter bytes_in;   // from clients
  Counter bytes_out;  // to clients
  /// mode = "tcp" only, relayed connections: the backend connect, retries included (the access
  /// log's connect_ms), and the session from its start (accept, or the ClientHello on an SNI
  /// routing listener) until both directions are done (the access log's total_ms).
  DurationHistogram<kLatencyBounds.size()> tcp_connect;
  DurationHistogram<kSessionBounds.size()> tcp_session;
  std::array<Counter, kHttpLimitNames.size()> http_limits;  // by HttpLimit
  /// HTTP/2: client connections, and the defences that fired by reason (lbd::h2::Defence).
  Counter h2_connections;
  std::array<Counter, kH2Reasons> h2_errors;

  void response(unsigned status) {
    if (status >= 100 && status < 600) responses[status / 100 - 1].add();
  }
  void limit(HttpLimit which) { http_limits[static_cast<std::size_t>(which)].add(); }
};

/// One server's counters on one worker.
struct BackendCounters {
  Counter requests;          // HTTP requests sent / TCP connections relayed
  Counter connect_failures;  // failed connect attempts
  Counter timeouts;          // connect or response timeouts
  Counter responses_5xx;
  std::array<Counter, kLatencyBounds.size() + 1> latency_buckets;  // non-cumulative
  Counter latency_sum_ns;
  Counter latency_count;

  /// Records one response latency (request sent → response header).
  void observe_latency(std::chrono::nanoseconds d);
};

/// A worker's counters by listener and by pool/server. Counters are created on first use and
/// live as long as the WorkerStats (a reload keeps them, so the totals stay monotonic).
/// Threading: listener() and backend() on the owning worker's thread only; the returned
/// reference stays valid for the WorkerStats' lifetime, so a session may keep it. The for_each
/// readers run on any thread.
class WorkerStats {
 public:
  ListenerCounters& listener(std::string_view name);
  BackendCounters& backend(std::string_view pool, std::string_view server);

  /// Any thread: calls `f(name, counters)` for every listener under the registry lock.
  template <typename F>
  void for_each_listener(F&& f) const {
    std::lock_guard lock(mutex_);
    for (const auto& [name, c] : listeners_) f(name, *c);
  }
  /// Any thread: calls `f(pool, server, counters)` for every server under the registry lock.
  template <typename F>
  void for_each_backend(F&& f) const {
    std::lock_guard lock(mutex_);
    for (const auto& [pool, servers] : backends_) {
      for (const auto& [server, c] : servers) f(pool, server, *c);
    }
  }

 private:
  // The owning worker looks up without the lock (it is the only writer of the maps); it takes
  // the lock to insert, and readers on other threads take it to iterate.
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<ListenerCounters>, std::less<>> listeners_;
  std::map<std::string, std::map<std::string, std::unique_ptr<BackendCounters>, std::less<>>,
           std::less<>>
      backends_;
};

// ---- sums over the workers, as plain values -------------------------------------------------

template <std::size_t N>
struct HistogramTotals {
  std::array<std::uint64_t, N + 1> buckets{};  // non-cumulative
  std::uint64_t sum_ns = 0, count = 0;

  void add(const DurationHistogram<N>& h) {
    for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += h.buckets[i].get();
    sum_ns += h.sum_ns.get();
    count += h.count.get();
  }
};

struct ListenerTotals {
  std::uint64_t connections = 0;
  std::array<std::uint64_t, kStatusClasses> responses{};
  std::uint64_t bytes_in = 0, bytes_out = 0;
  HistogramTotals<kLatencyBounds.size()> tcp_connect;
  HistogramTotals<kSessionBounds.size()> tcp_session;
  std::array<std::uint64_t, kHttpLimitNames.size()> http_limits{};
  std::uint64_t h2_connections = 0;
  std::array<std::uint64_t, kH2Reasons> h2_errors{};
};

struct BackendTotals {
  std::uint64_t requests = 0, connect_failures = 0, timeouts = 0, responses_5xx = 0;
  std::array<std::uint64_t, kLatencyBounds.size() + 1> latency_buckets{};
  std::uint64_t latency_sum_ns = 0, latency_count = 0;
};

struct StatsTotals {
  std::map<std::string, ListenerTotals> listeners;
  /// pool → server → totals.
  std::map<std::string, std::map<std::string, BackendTotals>> backends;
};

/// Sums the counters of every worker (any thread).
StatsTotals aggregate(const std::vector<const WorkerStats*>& workers);

}  // namespace lbd::admin
