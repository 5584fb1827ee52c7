// Two Replicators on loopback with conntrack tables (stand-ins for lbd/forward's CtStream): the
// journal's records reach the peer as CtUpdate/CtErase in order, batched, acked; a full resync
// carries the snapshot, and the peer is "in sync" only once it has applied all of it.
#include <doctest/doctest.h>

#include <mutex>
#include <vector>

#include "lbd/replication/ct_table.hpp"
#include "tests/integration/repl_fixture.hpp"

using namespace repltest;
using namespace std::chrono_literals;

namespace {

lbd::repl::CtEntry ct_flow(std::uint16_t port) {
  lbd::repl::CtEntry e;
  e.original = {{192, 0, 2, 100}, {192, 0, 2, 10}, port, 80};
  e.reply = {{198, 51, 100, 11}, {198, 51, 100, 254}, 8080, port};
  e.tcp_state = 3;
  e.timeout_s = 432000;
  return e;
}

class FakeCt final : public lbd::repl::CtTable {
 public:
  FakeCt() : journal_(100'000) {}
  void journal(const lbd::repl::CtEntry& e, bool erase = false) {
    journal_.append(lbd::repl::CtJournalRecord{0, erase, e});
  }
  std::vector<lbd::repl::CtEntry> flows;  // what snapshot() returns (set before the session)

  std::uint64_t journal_head() const override { return journal_.head_seq(); }
  lbd::repl::JournalBatch<lbd::repl::CtJournalRecord> pull(std::uint64_t since,
                                                           std::size_t max) const override {
    return journal_.pull(since, max);
  }
  std::vector<lbd::repl::CtEntry> snapshot() override { return flows; }
  std::uint64_t size() const override { return flows.size(); }
  void apply(const lbd::repl::CtUpdate& u) override {
    std::lock_guard lock(mutex_);
    for (const auto& e : u.entries) log_.push_back({false, e.original.sport});
    installed_ += u.entries.size();
  }
  void apply(const lbd::repl::CtErase& e) override {
    std::lock_guard lock(mutex_);
    for (const auto& t : e.originals) log_.push_back({true, t.sport});
  }
  void resync_end() override {
    std::lock_guard lock(mutex_);
    installed_at_resync_end_ = installed_;
  }
  std::uint64_t remote_size() const override {
    std::lock_guard lock(mutex_);
    return installed_;
  }
  std::vector<std::pair<bool, std::uint16_t>> log() const {
    std::lock_guard lock(mutex_);
    return log_;
  }
  std::uint64_t installed_at_resync_end() const {
    std::lock_guard lock(mutex_);
    return installed_at_resync_end_;
  }

 private:
  lbd::repl::Journal<lbd::repl::CtJournalRecord> journal_;
  mutable std::mutex mutex_;
  std::vector<std::pair<bool, std::uint16_t>> log_;  // (erase, client port) in arrival order
  std::uint64_t installed_ = 0;
  std::uint64_t installed_at_resync_end_ = 0;
};

const lbd::repl::TableStatus* ct_status(const lbd::repl::ReplicationStatus& s) {
  for (const auto& t : s.tables) {
    if (t.name == "@conntrack") return &t;
  }
  return nullptr;
}
// The pointer points into `s`: a temporary status would leave it dangling.
const lbd::repl::TableStatus* ct_status(const lbd::repl::ReplicationStatus&& s) = delete;

}  // namespace

TEST_CASE("replication: conntrack records journaled on A reach B in order, batched, and acked") {
  FakeCt ct_a, ct_b;  // outlive the pair (the replicators hold them)
  Pair p;
  p.a.run([&] { p.a.repl->set_ct_table(&ct_a); });
  p.b.run([&] { p.b.repl->set_ct_table(&ct_b); });
  REQUIRE(wait_until([&] { return p.in_sync(); }));
  // More than one frame's worth (kMaxCtBatch) of updates, then ends, then an update again.
  for (std::uint16_t port = 1; port <= 1200; ++port) ct_a.journal(ct_flow(port));
  for (std::uint16_t port = 1; port <= 10; ++port) ct_a.journal(ct_flow(port), true);
  ct_a.journal(ct_flow(5));
  REQUIRE(wait_until([&] { return ct_b.log().size() == 1211; }));
  const auto log = ct_b.log();
  CHECK(log[0] == std::pair<bool, std::uint16_t>{false, 1});
  CHECK(log[1199] == std::pair<bool, std::uint16_t>{false, 1200});
  CHECK(log[1200] == std::pair<bool, std::uint16_t>{true, 1});
  CHECK(log[1210] == std::pair<bool, std::uint16_t>{false, 5});
  REQUIRE(wait_until([&] {
    const auto status = p.a.status();
    const auto* t = ct_status(status);
    return t != nullptr && t->acked_seq == 1211;
  }));
  CHECK(p.a.status().ct_entries_sent == 1211);
  CHECK(p.b.status().ct_entries_received == 1211);
  // Applied on B, never journaled there: nothing goes back to A.
  CHECK(ct_b.journal_head() == 0);
  CHECK(ct_a.log().empty());
}

TEST_CASE(
    "replication: a peer that connects gets the conntrack snapshot in its full resync and "
    "is in sync only once it applied all of it") {
  FakeCt ct_a, ct_b;
  for (std::uint16_t port = 1; port <= 2000; ++port) ct_a.flows.push_back(ct_flow(port));
  Node a("a", "b", 1);
  a.run([&] { a.repl->set_ct_table(&ct_a); });
  Node b("b", "a", 2);
  b.run([&] { b.repl->set_ct_table(&ct_b); });
  b.set_peer(a.endpoint());
  REQUIRE(wait_until([&] { return b.status().we_have_peer_data; }));
  // The ResyncEnd came after the entries: at that point B had them all.
  CHECK(ct_b.installed_at_resync_end() == 2000);
  const auto status = b.status();
  REQUIRE(ct_status(status) != nullptr);
  CHECK(ct_status(status)->remote_entries == 2000);
}
