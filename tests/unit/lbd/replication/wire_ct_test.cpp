// The conntrack frames of forward mode (CtUpdate, CtErase): round trip, bounds, hostile input.
#include <doctest/doctest.h>

#include "lbd/replication/wire.hpp"

namespace repl = lbd::repl;

namespace {

repl::CtEntry ct_sample(std::uint16_t sport) {
  repl::CtEntry e;
  e.original = {{192, 0, 2, 100}, {192, 0, 2, 10}, sport, 80};
  e.reply = {{198, 51, 100, 11}, {198, 51, 100, 254}, 8080, sport};
  e.tcp_state = 3;  // ESTABLISHED
  e.wscale_original = 7;
  e.wscale_reply = 7;
  e.flags_original = 0x23;
  e.flags_reply = 0x23;
  e.timeout_s = 431999;
  return e;
}

std::vector<std::uint8_t> ct_encoded(const repl::Frame& f) {
  std::vector<std::uint8_t> out;
  REQUIRE(repl::encode(f, out));
  return out;
}

std::string ct_error(const std::vector<std::uint8_t>& bytes) {
  auto r = repl::decode(bytes);
  const auto* e = std::get_if<repl::DecodeError>(&r);
  return e != nullptr ? e->message : std::string();
}

}  // namespace

TEST_CASE("repl wire: conntrack updates and erases round-trip in batches") {
  repl::CtUpdate u{.seq = 7, .entries = {ct_sample(40000), ct_sample(40001)}};
  repl::CtErase e{.seq = 8, .originals = {ct_sample(40000).original}};
  for (const repl::Frame& f : {repl::Frame(u), repl::Frame(e)}) {
    const auto bytes = ct_encoded(f);
    auto r = repl::decode(bytes);
    const auto* d = std::get_if<repl::Decoded>(&r);
    REQUIRE(d != nullptr);
    CHECK(d->consumed == bytes.size());
    CHECK(d->frame == f);
  }
  CHECK(repl::frame_name(u) == "ct_update");
  CHECK(repl::frame_name(e) == "ct_erase");
  // 4 length + 1 type + 8 seq + 2 count + 33 per entry.
  CHECK(ct_encoded(u).size() == 4 + 1 + 8 + 2 + 2 * 33);
}

TEST_CASE("repl wire: a full conntrack batch fits a frame, empty and oversized ones are refused") {
  repl::CtUpdate full;
  for (std::size_t i = 0; i < repl::kMaxCtBatch; ++i) {
    full.entries.push_back(ct_sample(static_cast<std::uint16_t>(1024 + i)));
  }
  std::vector<std::uint8_t> out;
  CHECK(repl::encode(full, out));
  out.clear();
  full.entries.push_back(ct_sample(9));
  CHECK_FALSE(repl::encode(full, out));
  CHECK_FALSE(repl::encode(repl::CtUpdate{}, out));
  CHECK_FALSE(repl::encode(repl::CtErase{}, out));
  CHECK(out.empty());
}

TEST_CASE("repl wire: hostile conntrack frames are errors before any allocation they claim") {
  auto bytes = ct_encoded(repl::CtUpdate{.seq = 1, .entries = {ct_sample(1)}});
  // The count (after length, type and seq) claims 0xffff entries.
  auto big = bytes;
  big[13] = 0xff;
  big[14] = 0xff;
  CHECK(ct_error(big) == "ct_update.count: batch size out of range");
  auto zero = bytes;
  zero[13] = 0;
  zero[14] = 0;
  CHECK(ct_error(zero) == "ct_update.count: batch size out of range");
  // Two entries claimed, one present.
  auto short_batch = bytes;
  short_batch[14] = 2;
  CHECK(ct_error(short_batch) == "ct_update.original: truncated");
  // Unknown TCP state and a window scale above 14.
  auto state = bytes;
  state[15 + 24] = 10;
  CHECK(ct_error(state) == "ct_update.tcp_state: unknown state");
  auto scale = bytes;
  scale[15 + 25] = 15;
  CHECK(ct_error(scale) == "ct_update.wscale: above 14");
}
