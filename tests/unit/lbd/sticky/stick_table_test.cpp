#include "lbd/sticky/stick_table.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using Kind = lbd::StickJournalRecord::Kind;

namespace {

lbd::StickyTableOptions small(std::size_t max_entries = 100) {
  lbd::StickyTableOptions o;
  o.max_entries = max_entries;
  o.ttl = 60s;
  o.refresh_journal_interval = 10s;
  o.journal_capacity = 64;
  o.shards = 1;  // exact LRU order for the tests that check it
  o.node_id = 1;
  o.hash_key = lbd::SipKey{1, 2};  // shard placement is part of what some tests check
  return o;
}

std::vector<Kind> kinds(const lbd::StickyTable::JournalBatch& b) {
  std::vector<Kind> out;
  for (const auto& r : b.records) out.push_back(r.kind);
  return out;
}

}  // namespace

TEST_CASE("stick_table: a stuck key is found, an unknown key is a miss") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  CHECK(t.stick("10.0.0.1", "app1"));
  CHECK(t.lookup("10.0.0.1") == std::optional<std::string_view>("app1"));
  CHECK_FALSE(t.lookup("10.0.0.2").has_value());
  auto c = t.counters();
  CHECK(c.entries == 1);
  CHECK(c.hits == 1);
  CHECK(c.misses == 1);
  CHECK(c.inserts == 1);
}

TEST_CASE("stick_table: sticking again overwrites the server (re-pick after a failure)") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("k", "app1");
  t.stick("k", "app2");
  CHECK(t.lookup("k") == std::optional<std::string_view>("app2"));
  CHECK(t.size() == 1);
}

TEST_CASE("stick_table: an entry expires after the idle TTL with a manual clock") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("k", "app1");
  clock.advance(59s);
  CHECK(t.peek("k").has_value());
  clock.advance(1s);
  CHECK_FALSE(t.peek("k").has_value());
  CHECK(t.expire() == 1);
  CHECK(t.size() == 0);
  CHECK(t.counters().expirations == 1);
}

TEST_CASE("stick_table: a hit refreshes the idle TTL") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("k", "app1");
  clock.advance(50s);
  CHECK(t.lookup("k").has_value());
  clock.advance(50s);  // 100 s after the insert, 50 s after the last use
  CHECK(t.expire() == 0);
  CHECK(t.lookup("k").has_value());
}

TEST_CASE("stick_table: a lookup of an expired entry is a miss and removes it") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("k", "app1");
  clock.advance(61s);
  CHECK_FALSE(t.lookup("k").has_value());
  CHECK(t.size() == 0);
  CHECK(t.counters().expirations == 1);
}

TEST_CASE("stick_table: max_entries evicts the least recently used entry") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(3), clock);
  t.stick("a", "s1");
  t.stick("b", "s1");
  t.stick("c", "s1");
  CHECK(t.lookup("a").has_value());  // b is now the least recently used
  t.stick("d", "s1");
  CHECK(t.size() == 3);
  CHECK_FALSE(t.peek("b").has_value());
  CHECK(t.peek("a").has_value());
  CHECK(t.peek("c").has_value());
  CHECK(t.peek("d").has_value());
  CHECK(t.counters().evictions == 1);
}

TEST_CASE("stick_table: the bound holds with many shards and many keys") {
  lb::ManualClock clock;
  auto o = small(1000);
  o.shards = 8;
  lbd::StickyTable t("app", o, clock);
  for (int i = 0; i < 10000; ++i) t.stick("key-" + std::to_string(i), "s");
  CHECK(t.size() <= 1000);
  CHECK(t.size() >= 900);  // shards fill unevenly, but none overflows its 125
  CHECK(t.counters().evictions == 10000 - t.size());
  // The most recent keys survive.
  CHECK(t.peek("key-9999").has_value());
}

TEST_CASE("stick_table: erase removes and is journaled") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("k", "s1");
  CHECK(t.erase("k"));
  CHECK_FALSE(t.erase("k"));
  CHECK_FALSE(t.peek("k").has_value());
  auto b = t.pull(0, 10);
  CHECK(kinds(b) == std::vector<Kind>{Kind::insert, Kind::erase});
  CHECK(b.records[1].version > b.records[0].version);
}

TEST_CASE("stick_table: a bound smaller than the shard count is still exact") {
  lb::ManualClock clock;
  auto o = small(3);
  o.shards = 16;
  lbd::StickyTable t("app", o, clock);
  for (int i = 0; i < 100; ++i) t.stick("key-" + std::to_string(i), "s");
  CHECK(t.size() == 3);  // two shards of 2 and 1, both filled by 100 keys
}

TEST_CASE("stick_table: deletion keeps colliding probe chains intact") {
  // Many keys in one small shard force long probe chains; erase every other one and check the
  // rest are still reachable (backward-shift deletion).
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(5000), clock);
  for (int i = 0; i < 3000; ++i) t.stick(std::to_string(i), "s" + std::to_string(i % 7));
  for (int i = 0; i < 3000; i += 2) CHECK(t.erase(std::to_string(i)));
  for (int i = 1; i < 3000; i += 2) {
    REQUIRE(t.peek(std::to_string(i)) ==
            std::optional<std::string_view>("s" + std::to_string(i % 7)));
  }
  for (int i = 0; i < 3000; i += 2) CHECK_FALSE(t.peek(std::to_string(i)).has_value());
  CHECK(t.size() == 1500);
}

TEST_CASE("stick_table: local inserts, refreshes and expiry are journaled in order") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("k", "s1");
  clock.advance(10s);
  t.lookup("k");
  clock.advance(61s);
  t.expire();
  auto b = t.pull(0, 10);
  CHECK(kinds(b) == std::vector<Kind>{Kind::insert, Kind::refresh, Kind::expire});
  CHECK(b.records[0].seq == 1);
  CHECK(b.records[2].seq == 3);
  CHECK(b.records[0].server == "s1");
  CHECK(b.records[0].key == "k");
  CHECK(b.head_seq == 3);
  CHECK(t.pull(2, 10).records.size() == 1);
  CHECK(t.pull(3, 10).records.empty());
}

TEST_CASE("stick_table: a hot key journals at most one refresh per interval") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("hot", "s1");
  for (int i = 0; i < 300; ++i) {  // 30 s of lookups every 100 ms
    clock.advance(100ms);
    t.lookup("hot");
  }
  auto b = t.pull(0, 100);
  // The insert, then a refresh at 10 s, 20 s and 30 s.
  CHECK(kinds(b) == std::vector<Kind>{Kind::insert, Kind::refresh, Kind::refresh, Kind::refresh});
  CHECK(t.counters().hits == 300);
}

TEST_CASE("stick_table: the journal records the expiry so the TTL can be sent as remaining") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  const auto t0 = clock.now();
  t.stick("k", "s1");
  auto b = t.pull(0, 1);
  REQUIRE(b.records.size() == 1);
  CHECK(b.records[0].expiry - t0 == 60s);
}

TEST_CASE("stick_table: remote updates are applied but never journaled (no echo)") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  CHECK(t.apply_remote("k", "s2", 30s, (5u << 8) | 2) == lbd::StickyTable::RemoteResult::applied);
  CHECK(t.peek("k") == std::optional<std::string_view>("s2"));
  CHECK(t.apply_remote_erase("k", (6u << 8) | 2) == lbd::StickyTable::RemoteResult::applied);
  CHECK_FALSE(t.peek("k").has_value());
  CHECK(t.journal_head() == 0);
  CHECK(t.counters().remote_applied == 2);
}

TEST_CASE("stick_table: a remote entry keeps the TTL remaining that the peer sent") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.apply_remote("k", "s2", 5s, 1 << 8);
  auto d = t.dump(10);
  REQUIRE(d.size() == 1);
  CHECK(d[0].remaining == 5s);
  CHECK(d[0].origin == lbd::StickOrigin::remote);
  clock.advance(5s);
  CHECK_FALSE(t.peek("k").has_value());
  CHECK(t.expire() == 1);
  CHECK(t.journal_head() == 0);  // a remote entry's expiry is not ours to announce
}

TEST_CASE("stick_table: remote TTL remaining is capped at the table TTL") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.apply_remote("k", "s2", 10h, 1 << 8);
  CHECK(t.dump(1)[0].remaining == 60s);
}

TEST_CASE("stick_table: last writer wins on the version, both ways") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  using R = lbd::StickyTable::RemoteResult;
  CHECK(t.apply_remote("k", "s2", 30s, (10u << 8) | 2) == R::applied);
  CHECK(t.apply_remote("k", "s3", 30s, (9u << 8) | 2) == R::stale);
  CHECK(t.apply_remote("k", "s3", 30s, (10u << 8) | 2) == R::stale);  // equal is not newer
  CHECK(t.peek("k") == std::optional<std::string_view>("s2"));
  // A local write after seeing version 10 must beat it (Lamport clock).
  t.stick("k", "s1");
  auto b = t.pull(0, 1);
  REQUIRE(b.records.size() == 1);
  CHECK(b.records[0].version > ((10u << 8) | 2));
  CHECK((b.records[0].version & 0xff) == 1);  // node id in the low byte
  CHECK(t.apply_remote("k", "s3", 30s, (10u << 8) | 2) == R::stale);
  CHECK(t.apply_remote_erase("k", (10u << 8) | 2) == R::stale);
  CHECK(t.peek("k") == std::optional<std::string_view>("s1"));
  CHECK(t.counters().remote_stale == 4);
}

TEST_CASE("stick_table: an expired local entry does not make a remote update stale") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("k", "s1");  // version (1 << 8) | 1
  clock.advance(61s);
  CHECK(t.apply_remote("k", "s2", 30s, 1 << 8) == lbd::StickyTable::RemoteResult::applied);
  CHECK(t.peek("k") == std::optional<std::string_view>("s2"));
}

TEST_CASE("stick_table: a local hit on a remote entry becomes a local refresh after the interval") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.apply_remote("k", "s2", 30s, 1 << 8);
  t.lookup("k");  // right after the peer wrote it: not journaled
  CHECK(t.journal_head() == 0);
  clock.advance(10s);
  t.lookup("k");
  auto b = t.pull(0, 10);
  CHECK(kinds(b) == std::vector<Kind>{Kind::refresh});
  CHECK(b.records[0].server == "s2");
  CHECK(t.dump(1)[0].origin == lbd::StickOrigin::local);
}

TEST_CASE("stick_table: journal overflow tells the consumer to resync") {
  lb::ManualClock clock;
  auto o = small();
  o.journal_capacity = 4;
  lbd::StickyTable t("app", o, clock);
  for (int i = 0; i < 10; ++i) t.stick(std::to_string(i), "s");
  auto b = t.pull(0, 100);
  CHECK(b.overflowed);
  CHECK(b.records.empty());
  CHECK(b.head_seq == 10);
  CHECK(b.oldest_seq == 7);
  auto tail = t.pull(6, 100);
  CHECK_FALSE(tail.overflowed);
  CHECK(tail.records.size() == 4);
  CHECK(tail.records.front().seq == 7);
  CHECK(t.counters().journal_dropped == 6);
}

TEST_CASE("stick_table: pull returns at most max records") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  for (int i = 0; i < 10; ++i) t.stick(std::to_string(i), "s");
  auto b = t.pull(2, 3);
  REQUIRE(b.records.size() == 3);
  CHECK(b.records[0].seq == 3);
  CHECK(b.records[2].seq == 5);
}

TEST_CASE("stick_table: too long keys and names are refused, not truncated") {
  lb::ManualClock clock;
  auto o = small();
  o.max_key_size = 8;
  o.max_server_names = 2;
  lbd::StickyTable t("app", o, clock);
  CHECK_FALSE(t.stick("123456789", "s1"));
  CHECK(t.stick("12345678", "s1"));
  CHECK(t.stick("a", "s2"));
  CHECK_FALSE(t.stick("b", "s3"));  // a third distinct name exceeds max_server_names
  CHECK(t.apply_remote("c", "s4", 1s, 1 << 8) == lbd::StickyTable::RemoteResult::rejected);
  CHECK(t.counters().rejected == 3);
}

TEST_CASE("stick_table: expiry finds a short-lived remote entry behind long-lived ones") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("old", "s1");                       // LRU tail, lives 60 s
  t.apply_remote("short", "s2", 1s, 1 << 8);  // LRU head, lives 1 s
  clock.advance(2s);
  CHECK(t.expire() == 1);
  CHECK(t.peek("old").has_value());
  CHECK(t.size() == 1);
}

TEST_CASE("stick_table: dump and for_each list live entries with remaining TTL and origin") {
  lb::ManualClock clock;
  lbd::StickyTable t("app", small(), clock);
  t.stick("a", "s1");
  clock.advance(10s);
  t.apply_remote("b", "s2", 20s, 1 << 8);
  auto d = t.dump(10);
  REQUIRE(d.size() == 2);
  CHECK(d[0].key == "b");  // most recently used first
  CHECK(d[0].origin == lbd::StickOrigin::remote);
  CHECK(d[1].key == "a");
  CHECK(d[1].server == "s1");
  CHECK(d[1].remaining == 50s);
  CHECK(t.dump(1).size() == 1);
  int n = 0;
  t.for_each([&](const lbd::StickEntryView&) { ++n; });
  CHECK(n == 2);
}

TEST_CASE("stick_table: walking every shard one at a time visits each live entry once") {
  lb::ManualClock clock;
  auto o = small(1000);
  o.shards = 8;
  lbd::StickyTable t("app", o, clock);
  for (int i = 0; i < 500; ++i) t.stick("k" + std::to_string(i), "s1");
  REQUIRE(t.shard_count() == 8);
  std::vector<std::string> seen;
  for (std::size_t i = 0; i < t.shard_count(); ++i) {
    t.for_each_in_shard(i, [&](const lbd::StickEntryView& e) { seen.push_back(e.key); });
  }
  t.for_each_in_shard(t.shard_count(), [&](const lbd::StickEntryView&) { FAIL("no such shard"); });
  std::sort(seen.begin(), seen.end());
  CHECK(seen.size() == 500);
  CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
}

TEST_CASE("stick_table: concurrent lookups, sticks, remote updates and expiry are consistent") {
  // Run under ThreadSanitizer by scripts/test (the `concurrent` pattern); bounded iterations.
  lb::ManualClock clock;
  lbd::StickyTableOptions o;
  o.hash_key = lbd::SipKey{3, 4};
  o.max_entries = 2000;
  o.ttl = 60s;
  o.shards = 4;
  o.journal_capacity = 1024;
  lbd::StickyTable t("app", o, clock);
  constexpr int kThreads = 4;
  constexpr int kIterations = 5000;
  std::vector<std::thread> threads;
  for (int id = 0; id < kThreads; ++id) {
    threads.emplace_back([&t, &clock, id] {
      std::uint64_t seq = 0;
      for (int i = 0; i < kIterations; ++i) {
        const std::string key = "k" + std::to_string((i * 7 + id * 13) % 3000);
        switch (i % 5) {
          case 0:
            t.stick(key, "s" + std::to_string(id));
            break;
          case 1:
            t.apply_remote(key, "r" + std::to_string(id), 30s, (std::uint64_t(i) << 8) | 2);
            break;
          case 2:
            if (i % 50 == 2)
              t.erase(key);
            else
              t.lookup(key);
            break;
          case 3:
            seq = t.pull(seq, 64).head_seq;
            break;
          default:
            t.lookup(key);
            if (id == 0 && i % 500 == 4) {
              clock.advance(1s);
              t.expire(64);
              (void)t.dump(5);
            }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(t.size() <= 2000);
  std::size_t n = 0;
  t.for_each([&](const lbd::StickEntryView& v) {
    ++n;
    CHECK(!v.server.empty());
  });
  CHECK(n == t.size());
}
