// Stick table and replication wire benchmarks: lookup and insert ns/op with 1M
// entries from 1 and 2 threads, bytes per entry at 1M entries, frame encode/decode throughput.
// Run: build-bench/tests/bench/sticky_bench (Release, -DLBPAIR_BENCH=ON).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.hpp"
#include "lbd/replication/wire.hpp"
#include "lbd/sticky/key_derivation.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace {

constexpr std::size_t kEntries = 1'000'000;
const char* const kServers[] = {"app1", "app2", "app3", "app4", "app5", "app6", "app7", "app8"};

std::string v4_key(std::uint32_t i) {
  return lbd::stick_key::from_address(
      lb::IpAddress::v4({10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
                         static_cast<std::uint8_t>(i)}));
}
std::string v6_key(std::uint32_t i) {
  std::array<std::uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
  b[13] = static_cast<std::uint8_t>(i >> 16);
  b[14] = static_cast<std::uint8_t>(i >> 8);
  b[15] = static_cast<std::uint8_t>(i);
  return lbd::stick_key::from_address(lb::IpAddress::v6(b));
}

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> v;
    v.reserve(2 * kEntries);
    for (std::uint32_t i = 0; i < 2 * kEntries; ++i) v.push_back(v4_key(i));
    return v;
  }();
  return k;
}

lbd::StickyTableOptions options() {
  lbd::StickyTableOptions o;
  o.max_entries = kEntries;
  o.ttl = std::chrono::hours(1);
  return o;
}

/// A table holding keys()[0..1M), built once and shared by the lookup benchmarks.
lbd::StickyTable& full_table() {
  static lbd::StickyTable* t = [] {
    auto* table = new lbd::StickyTable("bench", options(), lb::SteadyClock::instance());
    for (std::size_t i = 0; i < kEntries; ++i) table->stick(keys()[i], kServers[i % 8]);
    return table;
  }();
  return *t;
}

std::uint64_t xorshift(std::uint64_t& s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

void BM_StickyLookupHit(benchmark::State& state) {
  auto& t = full_table();
  const auto& k = keys();
  std::uint64_t seed = 0x9e3779b97f4a7c15ull + static_cast<std::uint64_t>(state.thread_index());
  for (auto _ : state) {
    auto r = t.lookup(k[xorshift(seed) % kEntries]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StickyLookupHit)->Threads(1)->Threads(2)->UseRealTime();

void BM_StickyLookupMiss(benchmark::State& state) {
  auto& t = full_table();
  const auto& k = keys();
  std::uint64_t seed = 0x1234567ull + static_cast<std::uint64_t>(state.thread_index());
  for (auto _ : state) {
    auto r = t.lookup(k[kEntries + xorshift(seed) % kEntries]);
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StickyLookupMiss)->Threads(1)->Threads(2)->UseRealTime();

/// New keys into the full table: every insert evicts an LRU entry and is journaled.
void BM_StickyInsertEvict(benchmark::State& state) {
  auto& t = full_table();
  const auto& k = keys();
  std::uint64_t seed = 0xabcdefull + static_cast<std::uint64_t>(state.thread_index());
  for (auto _ : state) {
    t.stick(k[xorshift(seed) % (2 * kEntries)], kServers[seed % 8]);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StickyInsertEvict)->Threads(1)->Threads(2)->UseRealTime();

/// Heap bytes per entry at 1M entries (malloc accounting, so chunk overhead is included).
void memory_per_entry(benchmark::State& state, bool ipv6, std::size_t journal_capacity) {
  std::vector<std::string> ks;
  ks.reserve(kEntries);
  for (std::uint32_t i = 0; i < kEntries; ++i) ks.push_back(ipv6 ? v6_key(i) : v4_key(i));
  for (auto _ : state) {
    malloc_trim(0);
    const auto before = mallinfo2().uordblks;
    {
      auto o = options();
      o.journal_capacity = journal_capacity;
      lbd::StickyTable t("mem", o, lb::SteadyClock::instance());
      for (std::size_t i = 0; i < kEntries; ++i) t.stick(ks[i], kServers[i % 8]);
      const auto after = mallinfo2().uordblks;
      state.counters["bytes_per_entry"] =
          static_cast<double>(after - before) / static_cast<double>(t.size());
      state.counters["key_bytes"] = static_cast<double>(ks[0].size());
      state.counters["entries"] = static_cast<double>(t.size());
    }
  }
}
void BM_StickyMemoryV4Key(benchmark::State& s) { memory_per_entry(s, false, 1); }
void BM_StickyMemoryV6Key(benchmark::State& s) { memory_per_entry(s, true, 1); }
void BM_StickyMemoryV4KeyWithJournal(benchmark::State& s) { memory_per_entry(s, false, 65536); }
BENCHMARK(BM_StickyMemoryV4Key)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StickyMemoryV6Key)->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StickyMemoryV4KeyWithJournal)->Iterations(1)->Unit(benchmark::kMillisecond);

lbd::repl::Update sample_update(std::uint64_t seq) {
  return lbd::repl::Update{.seq = seq,
                           .table = "app",
                           .key = v4_key(static_cast<std::uint32_t>(seq)),
                           .server = "app3",
                           .ttl_ms = 1'800'000,
                           .version = seq << 8};
}

void BM_WireEncodeUpdate(benchmark::State& state) {
  std::vector<std::uint8_t> out;
  out.reserve(1 << 20);
  std::size_t bytes = 0;
  const auto frame = lbd::repl::Frame(sample_update(1));
  for (auto _ : state) {
    if (out.size() > (1 << 19)) {
      bytes += out.size();
      out.clear();
    }
    lbd::repl::encode(frame, out);
  }
  bytes += out.size();
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WireEncodeUpdate);

void BM_WireDecodeUpdate(benchmark::State& state) {
  std::vector<std::uint8_t> buf;
  for (std::uint64_t i = 0; i < 1000; ++i) lbd::repl::encode(sample_update(i), buf);
  std::size_t pos = 0;
  for (auto _ : state) {
    if (pos == buf.size()) pos = 0;
    auto r = lbd::repl::decode(std::span(buf).subspan(pos));
    pos += std::get<lbd::repl::Decoded>(r).consumed;
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * (buf.size() / 1000)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WireDecodeUpdate);

}  // namespace

BENCHMARK_MAIN();
