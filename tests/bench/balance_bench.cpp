// pick() cost of every balancing algorithm at 3, 100 and 1,000 servers, and the build cost of
// the hash ring and the Maglev table. Goals: every pick < 100 ns at 100 servers;
// Maglev build at 1,000 servers < 50 ms. Run: build-bench/tests/bench/balance_bench
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "lbd/balance/balancer.hpp"
#include "lbd/balance/least_time.hpp"
#include "lbd/balance/stable_hash.hpp"

namespace {

using lbd::Algorithm;

// A pool of `n` servers "app-0".."app-{n-1}" with weights 1..3, 127.0.0.1:10000+i.
lbd::PoolSnapshotPtr make_pool(std::size_t n) {
  auto s = std::make_shared<lbd::PoolSnapshot>();
  s->pool_name = "bench";
  for (std::size_t i = 0; i < n; ++i) {
    auto b = std::make_shared<const lbd::Backend>(
        "app-" + std::to_string(i),
        lb::Endpoint{*lb::IpAddress::parse("127.0.0.1"), static_cast<std::uint16_t>(10000 + i)},
        static_cast<std::uint32_t>(1 + i % 3));
    s->backends.push_back(b);
    s->candidates.push_back({b.get(), b->weight});
  }
  // Steady-state load: about 4 connections per unit of weight, ±1, so least_* compare real
  // values and bounded loads admit at the first step (as they keep it in steady state).
  lb::ManualClock clock;
  for (std::size_t i = 0; i < n; ++i) {
    s->backends[i]->active = static_cast<std::uint32_t>(4 * s->backends[i]->weight + i % 2);
    lbd::record_latency(*s->backends[i], std::chrono::microseconds(200 + (i * 37) % 500),
                        clock.now(), std::chrono::seconds(10));
  }
  return s;
}

lbd::BalanceOptions options_for(Algorithm a, std::size_t servers, double factor = 0) {
  lbd::BalanceOptions o;
  o.algorithm = a;
  o.hash_balance_factor = factor;
  // The config requires a prime ≥ 100 × servers: 65537 up to 655 servers, then 100003.
  o.maglev_table_size = servers * 100 > 65537 ? 100003 : 65537;
  return o;
}

// 4096 precomputed key hashes (client addresses), cycled through by the hashing algorithms.
const std::vector<std::uint64_t>& key_hashes() {
  static const std::vector<std::uint64_t> hashes = [] {
    std::vector<std::uint64_t> h;
    for (std::uint32_t i = 0; i < 4096; ++i) {
      const auto a = lb::IpAddress::v4(
          {198, 51, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)});
      h.push_back(lbd::hash_address(a));
    }
    return h;
  }();
  return hashes;
}

void pick(benchmark::State& state, Algorithm a, double factor) {
  const auto servers = static_cast<std::size_t>(state.range(0));
  auto pool = make_pool(servers);
  auto balancer = lbd::make_balancer(options_for(a, servers, factor), pool, 1);
  const auto& hashes = key_hashes();
  std::size_t i = 0;
  for (auto _ : state) {
    lbd::PickContext ctx{.hash = hashes[i++ & 4095], .avoid = nullptr};
    benchmark::DoNotOptimize(balancer->pick(ctx));
  }
}

void build(benchmark::State& state, Algorithm a) {
  const auto servers = static_cast<std::size_t>(state.range(0));
  auto pool = make_pool(servers);
  for (auto _ : state) {
    auto balancer = lbd::make_balancer(options_for(a, servers), pool, 1);
    benchmark::DoNotOptimize(balancer.get());
  }
}

void hash_key(benchmark::State& state) {
  const std::string cookie = "3f2a9c1e-5b7d-4e8f-a1c2-9d0e6b4f7a21";  // 36 bytes
  for (auto _ : state) benchmark::DoNotOptimize(lbd::stable_hash(cookie));
}

#define LBPAIR_PICK(name, algorithm, factor) \
  BENCHMARK_CAPTURE(pick, name, algorithm, factor)->Arg(3)->Arg(100)->Arg(1000)

LBPAIR_PICK(round_robin, Algorithm::round_robin, 0);
LBPAIR_PICK(least_conn, Algorithm::least_conn, 0);
LBPAIR_PICK(p2c, Algorithm::p2c, 0);
LBPAIR_PICK(random, Algorithm::random, 0);
LBPAIR_PICK(least_time, Algorithm::least_time, 0);
LBPAIR_PICK(source_hash, Algorithm::source_hash, 0);
LBPAIR_PICK(ring_hash, Algorithm::ring_hash, 0);
LBPAIR_PICK(ring_hash_bounded_1_25, Algorithm::ring_hash, 1.25);
LBPAIR_PICK(maglev, Algorithm::maglev, 0);
LBPAIR_PICK(maglev_bounded_1_25, Algorithm::maglev, 1.25);
LBPAIR_PICK(agent, Algorithm::agent, 0);

BENCHMARK_CAPTURE(build, ring_hash, Algorithm::ring_hash)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(build, maglev, Algorithm::maglev)->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK(hash_key);

}  // namespace
