#include "lbd/forward/forward_manager.hpp"

#include <doctest/doctest.h>

#include "tests/unit/lbd/balance/pool_fixture.hpp"

namespace {

struct RecordingNft final : lb::nft::NftRunner {
  std::vector<std::string>* calls;
  bool* fail;
  RecordingNft(std::vector<std::string>* c, bool* f) : calls(c), fail(f) {}
  lb::Result<std::string> run(const std::string& commands) override {
    calls->push_back(commands);
    if (*fail) return lb::fail("Error: Could not process rule: Operation not permitted");
    return std::string();
  }
};

std::shared_ptr<const lbd::Config> fm_config() {
  lb::config::Diagnostics diags;
  auto c = std::make_shared<lbd::Config>(lbd::load_config_from_string(R"([[listener]]
name = "web"
bind = "192.0.2.10:80"
mode = "forward"
pool = "p"
forward_slots = 1021
[[pool]]
name = "p"
algorithm = "maglev"
maglev_table_size = 1021
[[pool.server]]
name = "a"
address = "127.0.0.1:9000"
[[pool.server]]
name = "b"
address = "127.0.0.1:9001"
)",
                                                                      "t.toml", diags));
  REQUIRE_MESSAGE(diags.empty(), diags.to_string());
  return c;
}

lbd::PoolSnapshotPtr fm_named(lbtest::TestPool pool) {
  auto s = std::make_shared<lbd::PoolSnapshot>(*pool.snapshot);
  s->pool_name = "p";
  return s;
}

}  // namespace

TEST_CASE("forward manager: apply programs one full transaction, snapshots rewrite the map") {
  std::vector<std::string> calls;
  bool fail = false;
  lbd::forward::ForwardManager m(std::make_unique<RecordingNft>(&calls, &fail));
  const auto both = fm_named(lbtest::TestPool({{"a", 1}, {"b", 1}}));
  REQUIRE(m.apply(fm_config(), {both}));
  REQUIRE(calls.size() == 1);
  CHECK(calls[0].find("delete table ip lbpair") != std::string::npos);
  CHECK(calls[0].find("127.0.0.1 . 9001") != std::string::npos);

  // The same routing again (a new generation after, e.g., a backup's health flip): nothing.
  REQUIRE(m.on_snapshot(fm_named(lbtest::TestPool({{"a", 1}, {"b", 1}}))));
  CHECK(calls.size() == 1);

  // b drained: one map rewrite in which b owns no slot.
  REQUIRE(m.on_snapshot(fm_named(lbtest::TestPool({{"a", 1}, {"b", 0}}))));
  REQUIRE(calls.size() == 2);
  CHECK(calls[1].starts_with("flush map ip lbpair svc0\n"));
  CHECK(calls[1].find("127.0.0.1 . 9001") == std::string::npos);
  CHECK(m.counters().map_updates.load() == 1);

  REQUIRE(m.stop());
  CHECK(calls.back() == lbd::forward::delete_table());
}

TEST_CASE("forward manager: a failed transaction is counted and reported, the state kept") {
  std::vector<std::string> calls;
  bool fail = true;
  lbd::forward::ForwardManager m(std::make_unique<RecordingNft>(&calls, &fail));
  const auto r = m.apply(fm_config(), {fm_named(lbtest::TestPool({{"a", 1}}))});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("Operation not permitted") != std::string::npos);
  CHECK(m.counters().transactions_failed.load() == 1);
  CHECK(m.services().empty());
  // Nothing was installed: a stop does not touch the kernel.
  REQUIRE(m.stop());
  CHECK(calls.size() == 1);
}

TEST_CASE("forward manager: a config without forward listeners never touches the kernel") {
  std::vector<std::string> calls;
  bool fail = false;
  lbd::forward::ForwardManager m(std::make_unique<RecordingNft>(&calls, &fail));
  lb::config::Diagnostics diags;
  auto c = std::make_shared<lbd::Config>(lbd::load_config_from_string(
      "[[listener]]\nname = \"l\"\nbind = \"127.0.0.1:1\"\nmode = \"tcp\"\npool = \"p\"\n"
      "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n",
      "t.toml", diags));
  REQUIRE(m.apply(c, {}));
  REQUIRE(m.stop());
  CHECK(calls.empty());
}

namespace {

std::shared_ptr<const lbd::Config> fm_reset_config(const std::string& on_server_down) {
  lb::config::Diagnostics diags;
  auto c = std::make_shared<lbd::Config>(lbd::load_config_from_string(
      R"([[listener]]
name = "web"
bind = "192.0.2.10:80"
mode = "forward"
pool = "p"
forward_slots = 1021
on_server_down = ")" +
          on_server_down + R"("
[[pool]]
name = "p"
algorithm = "maglev"
maglev_table_size = 1021
[[pool.server]]
name = "a"
address = "127.0.0.1:9000"
[[pool.server]]
name = "b"
address = "127.0.0.1:9001"
)",
      "t.toml", diags));
  REQUIRE_MESSAGE(diags.empty(), diags.to_string());
  return c;
}

// a and b with health state: b as given.
lbd::PoolSnapshotPtr fm_with_b(lbd::BackendState b) {
  auto s = std::make_shared<lbd::PoolSnapshot>(*fm_named(lbtest::TestPool({{"a", 1}, {"b", 1}})));
  s->states = {lbd::BackendState{true, false, lbd::AdminState::ready, 1}, b};
  return s;
}

}  // namespace

TEST_CASE(
    "forward manager: a backend that goes down under on_server_down = reset is handed out once "
    "for its flows to be deleted, and a drained one is not") {
  std::vector<std::string> calls;
  bool fail = false;
  lbd::forward::ForwardManager m(std::make_unique<RecordingNft>(&calls, &fail));
  const lbd::BackendState up{true, false, lbd::AdminState::ready, 1};
  REQUIRE(m.apply(fm_reset_config("reset"), {fm_with_b(up)}));
  REQUIRE(m.on_snapshot(fm_with_b({true, false, lbd::AdminState::drain, 0})));
  CHECK(m.take_resets().empty());  // draining: its flows go on

  REQUIRE(m.on_snapshot(fm_with_b({false, false, lbd::AdminState::ready, 0})));
  const auto resets = m.take_resets();
  REQUIRE(resets.size() == 1);
  CHECK(resets[0].listener == "web");
  CHECK(resets[0].server == "b");
  CHECK(resets[0].backend == *lb::Endpoint::parse("127.0.0.1:9001"));
  CHECK(resets[0].vips == std::vector<lb::Endpoint>{*lb::Endpoint::parse("192.0.2.10:80")});
  // Still down in the next snapshot: nothing new. Back up, then into maintenance: once more.
  REQUIRE(m.on_snapshot(fm_with_b({false, false, lbd::AdminState::ready, 0})));
  CHECK(m.take_resets().empty());
  REQUIRE(m.on_snapshot(fm_with_b(up)));
  REQUIRE(m.on_snapshot(fm_with_b({true, false, lbd::AdminState::maint, 0})));
  CHECK(m.take_resets().size() == 1);
}

TEST_CASE("forward manager: the first snapshot after apply is compared with the applied one") {
  std::vector<std::string> calls;
  bool fail = false;
  lbd::forward::ForwardManager m(std::make_unique<RecordingNft>(&calls, &fail));
  REQUIRE(m.apply(fm_reset_config("reset"), {fm_with_b({true, false, lbd::AdminState::ready, 1})}));
  REQUIRE(m.on_snapshot(fm_with_b({false, false, lbd::AdminState::ready, 0})));
  CHECK(m.take_resets().size() == 1);
}

TEST_CASE("forward manager: on_server_down = keep never resets flows") {
  std::vector<std::string> calls;
  bool fail = false;
  lbd::forward::ForwardManager m(std::make_unique<RecordingNft>(&calls, &fail));
  const lbd::BackendState up{true, false, lbd::AdminState::ready, 1};
  REQUIRE(m.apply(fm_reset_config("keep"), {fm_with_b(up)}));
  REQUIRE(m.on_snapshot(fm_with_b(up)));
  REQUIRE(m.on_snapshot(fm_with_b({false, false, lbd::AdminState::ready, 0})));
  CHECK(m.take_resets().empty());
}
