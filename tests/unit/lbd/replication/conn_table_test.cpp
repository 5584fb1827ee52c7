#include "lbd/replication/conn_table.hpp"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

namespace repl = lbd::repl;
using namespace std::chrono_literals;
using Kind = repl::ConnJournalRecord::Kind;

namespace {

const auto kT0 = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

lb::Endpoint ep(const char* s) { return *lb::Endpoint::parse(s); }
lb::IpAddress ip(const char* s) { return *lb::IpAddress::parse(s); }

repl::ConnEntry remote(std::uint64_t id, const char* client, const char* backend,
                       std::chrono::seconds started_after = 0s, const char* listener = "web") {
  return repl::ConnEntry{id,      ep(client),          listener,          "app",
                         backend, kT0 + started_after, repl::ConnMode::l7};
}

}  // namespace

TEST_CASE("conn_table: local connections are added, removed and journaled") {
  repl::ConnTable t;
  const auto a = t.add_local(ep("192.0.2.1:40000"), "web", "app", "app1", kT0, repl::ConnMode::l7);
  const auto b = t.add_local(ep("192.0.2.2:40001"), "tcp", "app", "app2", kT0, repl::ConnMode::l4);
  CHECK(a != 0);
  CHECK(b != 0);
  CHECK(a != b);
  CHECK(t.local_size() == 2);
  auto batch = t.pull(0, 10);
  REQUIRE(batch.records.size() == 2);
  CHECK(batch.records[0].kind == Kind::add);
  CHECK(batch.records[0].entry.id == a);
  CHECK(batch.records[0].entry.backend == "app1");
  CHECK(batch.records[0].entry.client == ep("192.0.2.1:40000"));
  CHECK(batch.records[1].entry.mode == repl::ConnMode::l4);
  t.remove_local(a);
  t.remove_local(a);  // twice: ignored
  t.remove_local(0);  // untracked: ignored
  CHECK(t.local_size() == 1);
  batch = t.pull(2, 10);
  REQUIRE(batch.records.size() == 1);
  CHECK(batch.records[0].kind == Kind::remove);
  CHECK(batch.records[0].entry.id == a);
  CHECK(batch.records[0].seq == 3);
  // Pulled from the start again, the add of the closed connection comes as a remove: its
  // entry is gone, and the sequence numbers stay in order so the cursor moves on.
  batch = t.pull(0, 10);
  REQUIRE(batch.records.size() == 3);
  CHECK(batch.records[0].kind == Kind::remove);
  CHECK(batch.records[0].entry.id == a);
  CHECK(batch.records[1].kind == Kind::add);
  CHECK(batch.records[1].entry.backend == "app2");
  CHECK(batch.records[2].seq == 3);
  int n = 0;
  t.for_each_local([&](const repl::ConnEntry& e) {
    ++n;
    CHECK(e.id == b);
  });
  CHECK(n == 1);
}

TEST_CASE("conn_table: local entries keep each listener, pool and backend name once") {
  repl::ConnTable t;
  for (int i = 0; i < 1000; ++i) {
    t.add_local(ep("192.0.2.1:40000"), "web", "app", i % 2 ? "app1" : "app2", kT0,
                repl::ConnMode::l7);
  }
  t.add_local(ep("192.0.2.9:40000"), "tcp", "app", "app3", kT0 + 5s, repl::ConnMode::l4);
  CHECK(t.interned_names() == 6);  // web, app, app1, app2, tcp, app3
  int app1 = 0, app2 = 0, app3 = 0;
  t.for_each_local([&](const repl::ConnEntry& e) {
    if (e.backend == "app1") ++app1;
    if (e.backend == "app2") ++app2;
    if (e.backend == "app3") {
      ++app3;
      CHECK(e.listener == "tcp");
      CHECK(e.pool == "app");
      CHECK(e.client == ep("192.0.2.9:40000"));
      CHECK(e.start == kT0 + 5s);
      CHECK(e.mode == repl::ConnMode::l4);
    }
  });
  CHECK(app1 == 500);
  CHECK(app2 == 500);
  CHECK(app3 == 1);
}

TEST_CASE("conn_table: the local side is bounded, extra connections are untracked, not refused") {
  repl::ConnTable t({.max_local = 2});
  CHECK(t.add_local(ep("192.0.2.1:1"), "web", "app", "a", kT0, repl::ConnMode::l4) != 0);
  const auto second = t.add_local(ep("192.0.2.1:2"), "web", "app", "a", kT0, repl::ConnMode::l4);
  CHECK(t.add_local(ep("192.0.2.1:3"), "web", "app", "a", kT0, repl::ConnMode::l4) == 0);
  CHECK(t.counters().local_untracked == 1);
  t.remove_local(second);
  CHECK(t.add_local(ep("192.0.2.1:4"), "web", "app", "a", kT0, repl::ConnMode::l4) != 0);
}

TEST_CASE("conn_table: a reconnecting client is sent back to the backend it had on the peer") {
  repl::ConnTable t;
  CHECK(t.apply_remote_add(remote(1, "192.0.2.10:5000", "app2")));
  CHECK(t.apply_remote_add(remote(2, "192.0.2.11:5000", "app1")));
  auto m = t.find_remote(ip("192.0.2.10"), "web");  // new source port: the address is enough
  REQUIRE(m.has_value());
  CHECK(m->pool == "app");
  CHECK(m->backend == "app2");
  CHECK_FALSE(t.find_remote(ip("192.0.2.12"), "web").has_value());
  CHECK_FALSE(t.find_remote(ip("192.0.2.10"), "tcp").has_value());  // other listener
  CHECK(t.counters().remote_matches == 1);
  CHECK(t.journal_head() == 0);  // remote entries are never journaled
}

TEST_CASE("conn_table: with several peer connections from one client the latest wins") {
  repl::ConnTable t;
  t.apply_remote_add(remote(1, "192.0.2.10:5000", "app1", 0s));
  t.apply_remote_add(remote(2, "192.0.2.10:5001", "app3", 20s));
  t.apply_remote_add(remote(3, "192.0.2.10:5002", "app2", 10s));
  CHECK(t.find_remote(ip("192.0.2.10"), "web")->backend == "app3");
  t.apply_remote_remove(2);
  CHECK(t.find_remote(ip("192.0.2.10"), "web")->backend == "app2");
}

TEST_CASE("conn_table: remote removes, re-adds and clear keep the client index right") {
  repl::ConnTable t;
  t.apply_remote_add(remote(1, "[2001:db8::1]:5000", "app1"));
  t.apply_remote_add(remote(1, "[2001:db8::2]:5000", "app2"));  // resent with a new client
  CHECK(t.remote_size() == 1);
  CHECK_FALSE(t.find_remote(ip("2001:db8::1"), "web").has_value());
  CHECK(t.find_remote(ip("2001:db8::2"), "web")->backend == "app2");
  t.apply_remote_remove(99);  // unknown: ignored
  t.clear_remote();
  CHECK(t.remote_size() == 0);
  CHECK_FALSE(t.find_remote(ip("2001:db8::2"), "web").has_value());
}

TEST_CASE("conn_table: the remote side is bounded") {
  repl::ConnTable t({.max_remote = 2});
  CHECK(t.apply_remote_add(remote(1, "192.0.2.1:1", "a")));
  CHECK(t.apply_remote_add(remote(2, "192.0.2.1:2", "a")));
  CHECK_FALSE(t.apply_remote_add(remote(3, "192.0.2.1:3", "a")));
  CHECK(t.apply_remote_add(remote(2, "192.0.2.1:2", "b")));  // replacing is always allowed
  CHECK(t.counters().remote_dropped == 1);
  int n = 0;
  t.for_each_remote([&](const repl::ConnEntry&) { ++n; });
  CHECK(n == 2);
}

TEST_CASE("conn_table: concurrent adds, removes and remote lookups are consistent") {
  repl::ConnTable t(
      {.max_local = 100000, .max_remote = 1000, .journal_capacity = 256, .shards = 4});
  std::vector<std::thread> threads;
  for (int id = 0; id < 3; ++id) {
    threads.emplace_back([&t] {
      std::vector<std::uint64_t> open;
      for (int i = 0; i < 3000; ++i) {
        open.push_back(
            t.add_local(ep("192.0.2.1:1000"), "web", "app", "a", kT0, repl::ConnMode::l4));
        if (open.size() > 10) {
          t.remove_local(open.front());
          open.erase(open.begin());
        }
        (void)t.find_remote(ip("192.0.2.5"), "web");
      }
      for (auto id : open) t.remove_local(id);
    });
  }
  threads.emplace_back([&t] {
    std::uint64_t seq = 0;
    for (std::uint64_t i = 1; i <= 2000; ++i) {
      t.apply_remote_add(remote(i, "192.0.2.5:1", "b"));
      if (i % 3 == 0) t.apply_remote_remove(i - 1);
      if (i % 500 == 0) t.clear_remote();
      seq = t.pull(seq, 64).head_seq;
    }
  });
  for (auto& th : threads) th.join();
  CHECK(t.local_size() == 0);
  CHECK(t.counters().local_untracked == 0);
}
