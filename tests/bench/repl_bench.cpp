// Replication benchmark: lag from a stick on node A to the entry being visible on node
// B at a fixed update rate (p50/p99/max), and a full resync of a 1M-entry table (time, RSS).
// Two Replicators in one process on 127.0.0.1, each on its own io_context thread, real clock.
// A plain program (own main): `repl_bench [seconds_per_rate [all|lag|resync]]`.
#include <fmt/format.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/asio.hpp"
#include "common/log.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/replication/replicator.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

lbd::ReplicationConfig config(std::string id, std::string peer) {
  lbd::ReplicationConfig c;
  c.node_id = std::move(id);
  c.peer_id = std::move(peer);
  c.listen = *lb::Endpoint::parse("127.0.0.1:0");
  c.peer = *lb::Endpoint::parse("127.0.0.1:1");
  c.secret = "0123456789abcdef0123456789abcdef";
  c.reconnect_interval = 10ms;
  c.reconnect_max_interval = 100ms;
  return c;  // every other key at its default (flush_interval 1ms, batch_max 1024)
}

class Node {
 public:
  Node(std::string id, std::string peer, std::uint8_t tag, std::size_t max_entries)
      : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {
    lbd::StickyTableOptions o;
    o.max_entries = max_entries;
    o.ttl = 30min;
    o.node_id = tag;
    table = std::make_unique<lbd::StickyTable>("app", o, lb::SteadyClock::instance());
    run([&] {
      repl = std::make_unique<lbd::repl::Replicator>(io_, config(id, peer));
      repl->add_table(*table);
      if (!repl->start()) std::abort();
    });
  }
  ~Node() {
    run([this] { repl.reset(); });
    guard_.reset();
    io_.stop();
    thread_.join();
  }
  template <typename F>
  void run(F fn) {
    std::promise<void> done;
    lb::asio::post(io_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }
  lb::Endpoint endpoint() {
    lb::Endpoint e;
    run([&] { e = repl->listen_endpoint(); });
    return e;
  }
  void set_peer(lb::Endpoint e) {
    run([&] { repl->set_peer_endpoint(e); });
  }

  std::unique_ptr<lbd::StickyTable> table;
  std::unique_ptr<lbd::repl::Replicator> repl;

 private:
  lb::asio::io_context io_;
  std::optional<lb::asio::executor_work_guard<lb::asio::io_context::executor_type>> guard_;
  std::thread thread_;
};

std::string key_of(std::size_t i) { return fmt::format("c{:012}", i); }

bool wait_for(const std::function<bool()>& pred, std::chrono::seconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return pred();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1));
  return v[i];
}

/// Sticks `rate` keys per second on A for `seconds` (in 1 ms ticks) while a poller on B's side
/// notes when each key becomes visible (keys arrive in order, so it waits for one at a time).
void lag(unsigned rate, unsigned seconds) {
  const std::size_t n = static_cast<std::size_t>(rate) * seconds;
  Node a("a", "b", 1, n + 1000);
  Node b("b", "a", 2, n + 1000);
  a.set_peer(b.endpoint());
  b.set_peer(a.endpoint());
  if (!wait_for([&] { return a.repl->status().connected && b.repl->status().connected; }, 10s)) {
    std::fprintf(stderr, "not connected\n");
    std::exit(1);
  }
  std::this_thread::sleep_for(100ms);  // let the (empty) initial resyncs finish
  std::vector<Clock::time_point> stuck(n), seen(n);
  std::atomic<std::size_t> produced{0};
  std::vector<std::string> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = key_of(i);

  std::thread poller([&] {
    const auto deadline = Clock::now() + std::chrono::seconds(seconds + 30);
    for (std::size_t i = 0; i < n && Clock::now() < deadline;) {
      if (i < produced.load(std::memory_order_acquire) && b.table->peek(keys[i])) {
        seen[i] = Clock::now();
        ++i;
      } else {
        std::this_thread::yield();
      }
    }
  });
  const auto t0 = Clock::now();
  const std::size_t per_ms = rate / 1000;
  for (std::size_t tick = 0, i = 0; i < n; ++tick) {
    std::this_thread::sleep_until(t0 + std::chrono::milliseconds(tick));
    for (std::size_t k = 0; k < per_ms && i < n; ++k, ++i) {
      stuck[i] = Clock::now();
      a.table->stick(keys[i], "app1");
      produced.store(i + 1, std::memory_order_release);
    }
  }
  const double achieved =
      static_cast<double>(n) / std::chrono::duration<double>(Clock::now() - t0).count();
  poller.join();
  std::vector<double> lags;
  lags.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (seen[i] == Clock::time_point{}) continue;
    lags.push_back(std::chrono::duration<double, std::milli>(seen[i] - stuck[i]).count());
  }
  std::printf(
      "| lag @ %6u updates/s | %7zu updates (%.0f/s achieved) | p50 %.3f ms | p99 %.3f ms "
      "| max %.3f ms | %zu/%zu seen |\n",
      rate, n, achieved, percentile(lags, 50), percentile(lags, 99),
      lags.empty() ? 0.0 : *std::max_element(lags.begin(), lags.end()), lags.size(), n);
}

/// A holds `n` entries; B starts empty and connects: time until B holds all of them, and the
/// process RSS growth from B's side (its table plus everything the transfer needed).
void resync(std::size_t n) {
  // Head room: the bound is split over 16 shards, which fill unevenly (a full one evicts).
  const std::size_t capacity = n + n / 4;
  const long rss_start = rss_kib();
  Node a("a", "b", 1, capacity);
  for (std::size_t i = 0; i < n; ++i) a.table->stick(key_of(i), i % 2 ? "app1" : "app2");
  const long rss_before = rss_kib();
  const auto t0 = Clock::now();
  Node b("b", "a", 2, capacity);
  b.set_peer(a.endpoint());
  long rss_peak = rss_kib();
  const bool ok = wait_for(
      [&] {
        rss_peak = std::max(rss_peak, rss_kib());
        return b.repl->status().we_have_peer_data;  // B applied A's ResyncEnd
      },
      60s);
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  const long rss_after = rss_kib();
  const auto s = a.repl->status();
  std::printf(
      "| full resync of %zu entries | %s in %.3f s, B holds %zu | %.1f MB sent in %llu frames | "
      "RSS +%ld MiB after, +%ld MiB peak (B's table included; A's table took +%ld MiB) |\n",
      n, ok ? "complete" : "INCOMPLETE", secs, b.table->size(),
      static_cast<double>(s.bytes_sent) / 1e6, static_cast<unsigned long long>(s.frames_sent),
      (rss_after - rss_before) / 1024, (rss_peak - rss_before) / 1024,
      (rss_before - rss_start) / 1024);
}

}  // namespace

int main(int argc, char** argv) {
  lb::log::init(spdlog::level::warn);
  const unsigned seconds = argc > 1 ? static_cast<unsigned>(std::stoul(argv[1])) : 3;
  const std::string what = argc > 2 ? argv[2] : "all";
  if (what == "all" || what == "lag") {
    lag(10'000, seconds);
    lag(100'000, seconds);
  }
  if (what == "all" || what == "resync") resync(1'000'000);
  return 0;
}
