#include "lbd/replication/wire.hpp"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace repl = lbd::repl;

namespace {

std::vector<std::uint8_t> encoded(const repl::Frame& f) {
  std::vector<std::uint8_t> out;
  REQUIRE(repl::encode(f, out));
  return out;
}

repl::Frame round_trip(const repl::Frame& f) {
  auto bytes = encoded(f);
  auto r = repl::decode(bytes);
  auto* d = std::get_if<repl::Decoded>(&r);
  REQUIRE(d != nullptr);
  CHECK(d->consumed == bytes.size());
  return d->frame;
}

std::string error_of(std::span<const std::uint8_t> bytes) {
  auto r = repl::decode(bytes);
  auto* e = std::get_if<repl::DecodeError>(&r);
  return e ? e->message : std::string("<no error>");
}

lb::Endpoint ep(const char* text) { return *lb::Endpoint::parse(text); }

repl::Update sample_update() {
  return repl::Update{.seq = 42,
                      .table = "app",
                      .key = std::string("\x04\xc0\x00\x02\x00", 5),
                      .server = "app1",
                      .ttl_ms = 1800000,
                      .version = (7u << 8) | 1};
}

/// Bytes of a frame with the given type byte and body, with a correct length prefix.
std::vector<std::uint8_t> raw(std::uint8_t type, const std::vector<std::uint8_t>& body) {
  const auto len = static_cast<std::uint32_t>(body.size() + 1);
  std::vector<std::uint8_t> out;
  out.reserve(body.size() + 5);
  for (int shift = 24; shift >= 0; shift -= 8)
    out.push_back(static_cast<std::uint8_t>(len >> shift));
  out.push_back(type);
  for (auto b : body) out.push_back(b);
  return out;
}

}  // namespace

TEST_CASE("repl wire: every frame type round-trips") {
  repl::Hello hello{.version = repl::kProtocolVersion,
                    .node_id = "node-a",
                    .incarnation = 0x1122334455667788ull,
                    .nonce = {},
                    .resume_incarnation = 99};
  hello.nonce[0] = 1;
  hello.nonce[31] = 0xff;
  repl::Auth auth;
  auth.mac.fill(0xab);
  const std::vector<repl::Frame> frames = {
      hello,
      auth,
      sample_update(),
      repl::Erase{.seq = 43, .table = "app", .key = "k", .version = 9},
      repl::Ack{.table = "app", .seq = 0xffffffffffffffffull},
      repl::Ack{.table = std::string(repl::kConnTableName), .seq = 1},
      repl::Heartbeat{},
      repl::ResyncBegin{},
      repl::ResyncEnd{},
      repl::ConnAdd{.seq = 5,
                    .conn_id = 900,
                    .client = ep("192.0.2.7:40000"),
                    .listener = "web",
                    .pool = "app",
                    .backend = "app2",
                    .start_unix_ms = 1700000000123ull,
                    .mode = repl::ConnMode::l7},
      repl::ConnAdd{.seq = 6,
                    .conn_id = 901,
                    .client = ep("[2001:db8::7]:443"),
                    .listener = "tcp",
                    .pool = "app",
                    .backend = "app1",
                    .start_unix_ms = 1,
                    .mode = repl::ConnMode::l4},
      repl::ConnRemove{.seq = 7, .conn_id = 900},
  };
  for (const auto& f : frames) {
    CAPTURE(repl::frame_name(f));
    CHECK(round_trip(f) == f);
  }
}

TEST_CASE("repl wire: the layout is a big-endian length, a type byte and the body") {
  auto bytes = encoded(repl::Ack{.table = "t", .seq = 0x0102030405060708ull});
  CHECK(bytes == std::vector<std::uint8_t>{0, 0, 0, 11, 5, 1, 't', 1, 2, 3, 4, 5, 6, 7, 8});
  CHECK(encoded(repl::Heartbeat{}) == std::vector<std::uint8_t>{0, 0, 0, 1, 6});
}

TEST_CASE("repl wire: a frame split at every byte boundary asks for more, then decodes") {
  auto bytes = encoded(sample_update());
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    auto r = repl::decode(std::span(bytes).first(cut));
    auto* more = std::get_if<repl::NeedMore>(&r);
    REQUIRE(more != nullptr);
    CHECK(more->bytes > 0);
    CHECK(cut + more->bytes <= bytes.size());
  }
}

TEST_CASE("repl wire: FrameReader yields frames fed one byte at a time") {
  std::vector<std::uint8_t> stream;
  repl::encode(sample_update(), stream);
  repl::encode(repl::Heartbeat{}, stream);
  repl::encode(repl::Ack{.table = "app", .seq = 3}, stream);
  repl::FrameReader reader;
  std::vector<repl::Frame> got;
  for (auto b : stream) {
    reader.feed(std::span(&b, 1));
    for (;;) {
      auto r = reader.next();
      if (auto* d = std::get_if<repl::Decoded>(&r)) {
        got.push_back(d->frame);
        continue;
      }
      REQUIRE(std::holds_alternative<repl::NeedMore>(r));
      break;
    }
  }
  REQUIRE(got.size() == 3);
  CHECK(got[0] == repl::Frame(sample_update()));
  CHECK(got[2] == repl::Frame(repl::Ack{.table = "app", .seq = 3}));
  CHECK(reader.buffered() == 0);
}

TEST_CASE("repl wire: an oversized length is refused before any body arrives") {
  const std::vector<std::uint8_t> huge{0xff, 0xff, 0xff, 0xff};
  CHECK(error_of(huge).find("exceeds") != std::string::npos);
  const std::vector<std::uint8_t> just_over{0, 1, 0, 1};  // 65537
  CHECK(error_of(just_over).find("exceeds") != std::string::npos);
  auto small_cap = repl::decode(encoded(sample_update()), 10);
  CHECK(std::holds_alternative<repl::DecodeError>(small_cap));
}

TEST_CASE("repl wire: malformed frames are errors, never crashes") {
  CHECK(error_of(std::vector<std::uint8_t>{0, 0, 0, 0}) == "frame length 0");
  CHECK(error_of(raw(0, {})) == "unknown frame type 0");
  CHECK(error_of(raw(13, {})) == "unknown frame type 13");
  CHECK(error_of(raw(5, {1, 't', 2, 3})) == "ack.seq: truncated");
  CHECK(error_of(raw(5, {5, 't'})) == "ack.table: truncated");
  CHECK(error_of(raw(6, {0})) == "trailing bytes after the body");
  CHECK(error_of(raw(2, std::vector<std::uint8_t>(31, 0))) == "auth.mac: truncated");

  // An Update whose key length claims more than the frame holds.
  auto u = encoded(sample_update());
  std::vector<std::uint8_t> body(u.begin() + 5, u.end());
  // seq(8) table(1+3) then the key length u16 at offset 12.
  body[12] = 0x03;
  body[13] = 0xff;
  CHECK(error_of(raw(3, body)) == "update.key: truncated");
  body[12] = 0x7f;  // 32767 > kMaxKeySize
  CHECK(error_of(raw(3, body)) == "update.key: too long");
  body[12] = 0;
  body[13] = 0;
  CHECK(error_of(raw(3, body)) == "update.key: empty");

  // An empty table name.
  std::vector<std::uint8_t> erase_body(8, 0);
  erase_body.push_back(0);
  CHECK(error_of(raw(4, erase_body)) == "erase.table: empty");

  // ConnAdd with an unknown address family and with an unknown mode.
  auto c = encoded(repl::ConnAdd{.seq = 1,
                                 .conn_id = 2,
                                 .client = ep("192.0.2.1:1"),
                                 .listener = "l",
                                 .pool = "p",
                                 .backend = "b",
                                 .start_unix_ms = 3,
                                 .mode = repl::ConnMode::l4});
  std::vector<std::uint8_t> cbody(c.begin() + 5, c.end());
  auto bad_family = cbody;
  bad_family[16] = 5;
  CHECK(error_of(raw(9, bad_family)) == "conn_add.client: unknown address family");
  auto bad_mode = cbody;
  bad_mode.back() = 2;
  CHECK(error_of(raw(9, bad_mode)) == "conn_add.mode: unknown mode");
}

TEST_CASE("repl wire: after an error the reader stays failed") {
  repl::FrameReader reader;
  const std::vector<std::uint8_t> bad{0, 0, 0, 0};
  reader.feed(bad);
  CHECK(std::holds_alternative<repl::DecodeError>(reader.next()));
  auto good = encoded(repl::Heartbeat{});
  reader.feed(good);
  CHECK(std::holds_alternative<repl::DecodeError>(reader.next()));
}

TEST_CASE("repl wire: the encoder refuses out-of-bounds fields and writes nothing") {
  std::vector<std::uint8_t> out{9};
  auto u = sample_update();
  u.key = std::string(repl::kMaxKeySize + 1, 'k');
  CHECK_FALSE(repl::encode(u, out));
  u = sample_update();
  u.server = "";
  CHECK_FALSE(repl::encode(u, out));
  u = sample_update();
  u.table = std::string(256, 't');
  CHECK_FALSE(repl::encode(u, out));
  repl::Hello h;
  h.node_id = std::string(repl::kMaxNodeIdSize + 1, 'n');
  CHECK_FALSE(repl::encode(h, out));
  CHECK(out == std::vector<std::uint8_t>{9});
  u = sample_update();
  u.key = std::string(repl::kMaxKeySize, 'k');
  CHECK(repl::encode(u, out));
}
