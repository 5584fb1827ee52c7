#include "lbd/replication/table_sync.hpp"

#include <doctest/doctest.h>

namespace repl = lbd::repl;
using namespace std::chrono_literals;

namespace {

lbd::StickyTableOptions opts(std::uint8_t node) {
  lbd::StickyTableOptions o;
  o.ttl = 60s;
  o.shards = 2;
  o.node_id = node;
  return o;
}

/// Moves every journal record of `from` onto `to` through the wire, as the replicator will.
std::uint64_t ship(const lbd::StickyTable& from, lbd::StickyTable& to, std::uint64_t since,
                   lb::SteadyTime now) {
  auto batch = from.pull(since, 1000);
  REQUIRE_FALSE(batch.overflowed);
  repl::FrameReader reader;
  std::vector<std::uint8_t> bytes;
  for (const auto& r : batch.records) REQUIRE(repl::encode(repl::to_frame(r, "app", now), bytes));
  reader.feed(bytes);
  for (;;) {
    auto d = reader.next();
    auto* frame = std::get_if<repl::Decoded>(&d);
    if (frame == nullptr) break;
    if (auto* u = std::get_if<repl::Update>(&frame->frame)) repl::apply(*u, to);
    if (auto* e = std::get_if<repl::Erase>(&frame->frame)) repl::apply(*e, to);
  }
  return batch.head_seq;
}

}  // namespace

TEST_CASE("table_sync: an entry made on A appears on B with the TTL remaining, and is not echoed") {
  lb::ManualClock clock;
  lbd::StickyTable a("app", opts(1), clock);
  lbd::StickyTable b("app", opts(2), clock);
  a.stick("client-1", "app2");
  clock.advance(15s);  // the replicator sends late: the TTL left is what travels
  ship(a, b, 0, clock.now());
  auto d = b.dump(10);
  REQUIRE(d.size() == 1);
  CHECK(d[0].server == "app2");
  CHECK(d[0].remaining == 45s);
  CHECK(d[0].origin == lbd::StickOrigin::remote);
  CHECK(b.journal_head() == 0);  // B has nothing to send back
}

TEST_CASE("table_sync: deletes and expiry replicate") {
  lb::ManualClock clock;
  lbd::StickyTable a("app", opts(1), clock);
  lbd::StickyTable b("app", opts(2), clock);
  a.stick("x", "app1");
  a.stick("y", "app1");
  auto seq = ship(a, b, 0, clock.now());
  CHECK(b.size() == 2);
  a.erase("x");
  seq = ship(a, b, seq, clock.now());
  CHECK_FALSE(b.peek("x").has_value());
  // y expires on A, which journals the expiry; B drops its copy when it arrives.
  clock.advance(61s);
  a.expire();
  ship(a, b, seq, clock.now());
  CHECK(b.size() == 0);
}

TEST_CASE("table_sync: a record whose entry already expired travels as an Erase") {
  lb::ManualClock clock;
  lbd::StickyTable a("app", opts(1), clock);
  a.stick("k", "app1");
  auto batch = a.pull(0, 1);
  clock.advance(61s);
  auto f = repl::to_frame(batch.records[0], "app", clock.now());
  CHECK(std::holds_alternative<repl::Erase>(f));
}

TEST_CASE("table_sync: a full resync snapshot converges an empty peer") {
  lb::ManualClock clock;
  lbd::StickyTable a("app", opts(1), clock);
  lbd::StickyTable b("app", opts(2), clock);
  for (int i = 0; i < 100; ++i) a.stick("k" + std::to_string(i), "app" + std::to_string(i % 3));
  a.for_each([&](const lbd::StickEntryView& e) { repl::apply(repl::to_update(e, "app"), b); });
  CHECK(b.size() == 100);
  CHECK(b.peek("k7") == std::optional<std::string_view>("app1"));
}

TEST_CASE("table_sync: connection journal records become ConnAdd/ConnRemove on the peer") {
  repl::ConnTable a;
  repl::ConnTable b;
  const auto start = std::chrono::system_clock::time_point(1'700'000'000'123ms);
  const auto id = a.add_local(*lb::Endpoint::parse("192.0.2.5:4000"), "web", "app", "app3", start,
                              repl::ConnMode::l7);
  auto batch = a.pull(0, 10);
  REQUIRE(batch.records.size() == 1);
  auto f = repl::to_frame(batch.records[0]);
  REQUIRE(std::holds_alternative<repl::ConnAdd>(f));
  CHECK(std::get<repl::ConnAdd>(f).start_unix_ms == 1'700'000'000'123ull);
  CHECK(repl::apply(std::get<repl::ConnAdd>(f), b));
  std::vector<repl::ConnEntry> got;
  b.for_each_remote([&](const repl::ConnEntry& e) { got.push_back(e); });
  REQUIRE(got.size() == 1);
  CHECK(got[0] == batch.records[0].entry);
  a.remove_local(id);
  auto rm = repl::to_frame(a.pull(1, 10).records.at(0));
  REQUIRE(std::holds_alternative<repl::ConnRemove>(rm));
  repl::apply(std::get<repl::ConnRemove>(rm), b);
  CHECK(b.remote_size() == 0);
}
