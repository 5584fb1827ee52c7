#include "lbd/replication/secure_channel.hpp"

#include <doctest/doctest.h>

#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace repl = lbd::repl;

namespace {

using WireBytes = std::vector<std::uint8_t>;

repl::TrafficKey key_of(std::uint8_t seed) {
  repl::TrafficKey k{};
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = static_cast<std::uint8_t>(seed + i);
  return k;
}

/// A writer past its Auth and a reader past the peer's Auth, sharing one direction's key.
struct SealedLink {
  repl::SecureChannel writer;
  repl::SecureChannel reader;
  SealedLink() {
    writer.install({key_of(1), key_of(2)});
    reader.install({key_of(2), key_of(1)});
    WireBytes auth;
    REQUIRE(writer.write(repl::Auth{}, auth) == repl::WriteStatus::ok);
    CHECK(writer.sealing());
    reader.open_incoming();
  }
  WireBytes seal(const repl::Frame& f) {
    WireBytes out;
    REQUIRE(writer.write(f, out) == repl::WriteStatus::ok);
    return out;
  }
};

repl::Update update(std::uint64_t seq, std::string key) {
  return repl::Update{seq, "app", std::move(key), "app1", 60'000, (seq << 8) | 1};
}

}  // namespace

TEST_CASE("repl secure channel: sealed frames read back in order and hide their content") {
  SealedLink l;
  const WireBytes one = l.seal(update(1, "session-id-0001"));
  const WireBytes two = l.seal(repl::Heartbeat{});
  CHECK(std::string(one.begin(), one.end()).find("session-id") == std::string::npos);
  CHECK(one.size() > repl::kTagSize + repl::kHeaderSize);
  WireBytes stream = one;
  stream.insert(stream.end(), two.begin(), two.end());
  // Byte by byte: the incremental path.
  std::vector<repl::Frame> got;
  for (auto b : stream) {
    l.reader.feed(std::span<const std::uint8_t>(&b, 1));
    for (;;) {
      auto r = l.reader.next();
      if (auto* d = std::get_if<repl::Decoded>(&r)) {
        got.push_back(d->frame);
        continue;
      }
      REQUIRE(std::holds_alternative<repl::NeedMore>(r));
      break;
    }
  }
  REQUIRE(got.size() == 2);
  CHECK(got[0] == repl::Frame(update(1, "session-id-0001")));
  CHECK(std::holds_alternative<repl::Heartbeat>(got[1]));
  CHECK(l.reader.buffered() == 0);
}

TEST_CASE("repl secure channel: a tampered, replayed, reordered, dropped or cut frame is refused") {
  auto refused = [](const std::function<WireBytes(SealedLink&)>& make) {
    SealedLink l;
    const WireBytes bytes = make(l);
    l.reader.feed(bytes);
    for (int i = 0; i < 10; ++i) {
      auto r = l.reader.next();
      if (std::holds_alternative<repl::IntegrityError>(r)) {
        // Sticky: nothing after it is read either.
        return std::holds_alternative<repl::IntegrityError>(l.reader.next());
      }
      if (!std::holds_alternative<repl::Decoded>(r)) return false;
    }
    return false;
  };
  CHECK(refused([](SealedLink& l) {  // one bit of the ciphertext
    WireBytes b = l.seal(update(1, "k"));
    b[6] ^= 0x20;
    return b;
  }));
  CHECK(refused([](SealedLink& l) {  // one bit of the tag
    WireBytes b = l.seal(update(1, "k"));
    b.back() ^= 0x01;
    return b;
  }));
  CHECK(refused([](SealedLink& l) {  // replayed
    WireBytes b = l.seal(update(1, "k"));
    WireBytes twice = b;
    twice.insert(twice.end(), b.begin(), b.end());
    return twice;
  }));
  CHECK(refused([](SealedLink& l) {  // reordered
    WireBytes a = l.seal(update(1, "k"));
    WireBytes b = l.seal(update(2, "k"));
    b.insert(b.end(), a.begin(), a.end());
    return b;
  }));
  CHECK(refused([](SealedLink& l) {  // the first one dropped
    (void)l.seal(update(1, "k"));
    return l.seal(update(2, "k"));
  }));
  CHECK(refused([](SealedLink& l) {  // cut short, with a length that says so
    WireBytes b = l.seal(update(1, "some-key"));
    b.resize(b.size() - 3);
    b[3] = static_cast<std::uint8_t>(b[3] - 3);
    return b;
  }));
  CHECK(refused([](SealedLink& l) {  // a clear frame where a sealed one is due
    WireBytes b;
    REQUIRE(repl::encode(update(1, "k"), b));
    (void)l;
    return b;
  }));
  CHECK(refused([](SealedLink&) {  // a length beyond the bound is judged before waiting
    return WireBytes{0xff, 0xff, 0xff, 0xff};
  }));
}

TEST_CASE("repl secure channel: nothing but the handshake is written in clear") {
  repl::SecureChannel c;
  WireBytes out;
  CHECK(c.write(update(1, "k"), out) == repl::WriteStatus::not_sealed);
  CHECK(c.write(repl::Heartbeat{}, out) == repl::WriteStatus::not_sealed);
  CHECK(out.empty());
  CHECK(c.write(repl::Hello{repl::kProtocolVersion, "a", 1, {}, 0}, out) == repl::WriteStatus::ok);
  // An Auth without keys (a refusal being said) does not switch the channel.
  CHECK(c.write(repl::Auth{}, out) == repl::WriteStatus::ok);
  CHECK_FALSE(c.sealing());
  c.install({key_of(1), key_of(2)});
  CHECK_FALSE(c.sealing());  // our Auth still goes in clear
  const std::size_t before = out.size();
  CHECK(c.write(repl::Auth{}, out) == repl::WriteStatus::ok);
  CHECK(out.size() - before == repl::kHeaderSize + 1 + 32);
  CHECK(c.sealing());
  const std::size_t sealed_at = out.size();
  CHECK(c.write(repl::Heartbeat{}, out) == repl::WriteStatus::ok);
  CHECK(out.size() - sealed_at == repl::kHeaderSize + 1 + repl::kTagSize);
}

TEST_CASE("repl secure channel: before the peer proved the secret only small frames are read") {
  repl::SecureChannel c;
  repl::Update big{1, "app", std::string(300, 'k'), "app1", 1, 1};
  WireBytes bytes;
  REQUIRE(repl::encode(big, bytes));
  c.feed(std::span<const std::uint8_t>(bytes).first(repl::kHeaderSize));
  CHECK(std::holds_alternative<repl::DecodeError>(c.next()));  // judged on the length alone
}

TEST_CASE("repl secure channel: an authentic frame with a bad body is a decode error") {
  repl::AeadDirection sealer(key_of(1), true);
  repl::SecureChannel reader;
  reader.install({key_of(9), key_of(1)});
  reader.open_incoming();
  // type 6 (heartbeat) with a stray body byte, sealed properly.
  WireBytes b{0, 0, 0, 2 + repl::kTagSize, 6, 0xaa};
  b.resize(b.size() + repl::kTagSize);
  REQUIRE(
      sealer.seal(std::span<const std::uint8_t, 4>(b.data(), 4), b.data() + 4, 2, b.data() + 6));
  reader.feed(b);
  CHECK(std::holds_alternative<repl::DecodeError>(reader.next()));
}

TEST_CASE("repl secure channel: the sequence numbers end before they would wrap") {
  constexpr auto kLast = std::numeric_limits<std::uint64_t>::max();
  repl::AeadDirection sealer(key_of(1), true, kLast - 1);
  repl::AeadDirection opener(key_of(1), false, kLast - 1);
  std::uint8_t hdr[4] = {0, 0, 0, 17};
  std::uint8_t data[1] = {6};
  std::uint8_t tag[repl::kTagSize];
  CHECK(sealer.seal(std::span<const std::uint8_t, 4>(hdr, 4), data, 1, tag));
  CHECK(opener.open(std::span<const std::uint8_t, 4>(hdr, 4), data, 1, tag));
  CHECK(data[0] == 6);
  CHECK(sealer.sequence() == kLast);
  CHECK_FALSE(sealer.seal(std::span<const std::uint8_t, 4>(hdr, 4), data, 1, tag));
  CHECK_FALSE(opener.open(std::span<const std::uint8_t, 4>(hdr, 4), data, 1, tag));
}
