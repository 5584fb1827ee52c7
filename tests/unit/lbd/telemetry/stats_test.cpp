// Per-worker counters and their sum at scrape time.
#include "lbd/telemetry/stats.hpp"

#include <doctest/doctest.h>

using namespace lbd::admin;
using namespace std::chrono_literals;

TEST_CASE("stats: counters of two workers add up per listener and per server") {
  WorkerStats w1, w2;
  w1.listener("web").connections.add(3);
  w1.listener("web").response(200);
  w1.listener("web").response(404);
  w2.listener("web").connections.add(2);
  w2.listener("web").response(503);
  w2.listener("web").response(99);  // not a status class: ignored
  w2.listener("api").bytes_in.add(10);
  w1.backend("app", "a").requests.add(4);
  w2.backend("app", "a").requests.add(1);
  w2.backend("app", "a").connect_failures.add();
  w2.backend("app", "b").timeouts.add(2);

  const auto t = aggregate({&w1, &w2});
  const auto& web = t.listeners.at("web");
  CHECK(web.connections == 5);
  CHECK(web.responses == std::array<std::uint64_t, 5>{0, 1, 0, 1, 1});
  CHECK(t.listeners.at("api").bytes_in == 10);
  CHECK(t.backends.at("app").at("a").requests == 5);
  CHECK(t.backends.at("app").at("a").connect_failures == 1);
  CHECK(t.backends.at("app").at("b").timeouts == 2);
}

TEST_CASE("stats: a counter reference stays valid and the same while more are created") {
  WorkerStats w;
  auto& a = w.backend("p", "a");
  for (int i = 0; i < 100; ++i) w.backend("p", "s" + std::to_string(i));
  CHECK(&w.backend("p", "a") == &a);
  CHECK(&w.listener("l") == &w.listener("l"));
}

TEST_CASE("stats: latencies land in the bucket whose upper bound includes them") {
  BackendCounters c;
  c.observe_latency(500us);  // exactly the first bound: le="0.0005"
  c.observe_latency(501us);  // next bucket (le="0.001")
  c.observe_latency(20ms);   // le="0.025"
  c.observe_latency(11s);    // past the last bound: +Inf
  CHECK(c.latency_buckets[0].get() == 1);
  CHECK(c.latency_buckets[1].get() == 1);
  CHECK(c.latency_buckets[5].get() == 1);
  CHECK(c.latency_buckets[kLatencyBounds.size()].get() == 1);
  CHECK(c.latency_count.get() == 4);
  CHECK(c.latency_sum_ns.get() == 500'000 + 501'000 + 20'000'000 + 11'000'000'000ULL);
}

TEST_CASE("stats: tcp connect and session histograms bucket by upper bound and add up") {
  WorkerStats w1, w2;
  auto& l1 = w1.listener("l4");
  l1.tcp_connect.observe(500us, kLatencyBounds);  // exactly on the first bound: first bucket
  l1.tcp_connect.observe(3ms, kLatencyBounds);    // (2.5 ms, 5 ms]
  l1.tcp_session.observe(2s, kSessionBounds);     // (1 s, 5 s]
  w2.listener("l4").tcp_connect.observe(20s, kLatencyBounds);  // beyond 10 s: +Inf
  w2.listener("l4").tcp_session.observe(3h, kSessionBounds);   // beyond 2 h: +Inf

  const auto t = aggregate({&w1, &w2}).listeners.at("l4");
  CHECK(t.tcp_connect.count == 3);
  CHECK(t.tcp_connect.buckets[0] == 1);
  CHECK(t.tcp_connect.buckets[3] == 1);
  CHECK(t.tcp_connect.buckets[kLatencyBounds.size()] == 1);
  CHECK(t.tcp_connect.sum_ns == 20'003'500'000);
  CHECK(t.tcp_session.count == 2);
  CHECK(t.tcp_session.buckets[5] == 1);
  CHECK(t.tcp_session.buckets[kSessionBounds.size()] == 1);
}
