// Replication frame encoder and bounds-checked decoder.
#include "lbd/replication/wire.hpp"

#include <cstring>
#include <optional>
#include <type_traits>

namespace lbd::repl {

namespace {

constexpr std::size_t kMaxName = 255;

class Writer {
 public:
  explicit Writer(std::vector<std::uint8_t>& out) : out_(out) {}
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) { be(v, 2); }
  void u32(std::uint32_t v) { be(v, 4); }
  void u64(std::uint64_t v) { be(v, 8); }
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  /// Names: 1..max bytes, u8 length. Sets ok_ = false when out of bounds.
  void str8(std::string_view s, std::size_t max = kMaxName) {
    if (s.empty() || s.size() > max) ok_ = false;
    u8(static_cast<std::uint8_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void str16(std::string_view s, std::size_t max) {
    if (s.empty() || s.size() > max) ok_ = false;
    u16(static_cast<std::uint16_t>(s.size()));
    bytes(s.data(), s.size());
  }
  void endpoint(const lb::Endpoint& e) {
    u8(static_cast<std::uint8_t>(e.address.family()));
    bytes(e.address.data(), e.address.size());
    u16(e.port);
  }
  bool ok() const { return ok_; }
  void invalid() { ok_ = false; }

 private:
  void be(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  std::vector<std::uint8_t>& out_;
  bool ok_ = true;
};

/// Reads a body. Every read checks the remaining length first; the first failure sticks and
/// names the field, so the error says what was wrong.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
  std::uint8_t u8(const char* field) { return static_cast<std::uint8_t>(be(1, field)); }
  std::uint16_t u16(const char* field) { return static_cast<std::uint16_t>(be(2, field)); }
  std::uint32_t u32(const char* field) { return static_cast<std::uint32_t>(be(4, field)); }
  std::uint64_t u64(const char* field) { return be(8, field); }
  template <std::size_t N>
  std::array<std::uint8_t, N> array(const char* field) {
    std::array<std::uint8_t, N> a{};
    if (take(N, field)) std::memcpy(a.data(), in_.data() + pos_ - N, N);
    return a;
  }
  std::string str8(const char* field, std::size_t max = kMaxName) {
    return str(u8(field), max, field);
  }
  std::string str16(const char* field, std::size_t max) { return str(u16(field), max, field); }
  lb::Endpoint endpoint(const char* field) {
    lb::Endpoint e;
    const std::uint8_t family = u8(field);
    if (family == 4) {
      e.address = lb::IpAddress::v4(array<4>(field));
    } else if (family == 6) {
      e.address = lb::IpAddress::v6(array<16>(field));
    } else {
      fail(field, "unknown address family");
    }
    e.port = u16(field);
    return e;
  }
  void fail(const char* field, const char* what) {
    if (error_.empty()) error_ = std::string(field) + ": " + what;
  }
  /// The error, or "" when the body was read exactly.
  std::string finish() {
    if (error_.empty() && pos_ != in_.size()) error_ = "trailing bytes after the body";
    return error_;
  }

 private:
  bool take(std::size_t n, const char* field) {
    if (!error_.empty()) return false;
    if (in_.size() - pos_ < n) {
      fail(field, "truncated");
      return false;
    }
    pos_ += n;
    return true;
  }
  std::uint64_t be(std::size_t n, const char* field) {
    if (!take(n, field)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = pos_ - n; i < pos_; ++i) v = (v << 8) | in_[i];
    return v;
  }
  std::string str(std::size_t len, std::size_t max, const char* field) {
    if (!error_.empty()) return {};
    if (len == 0) {
      fail(field, "empty");
      return {};
    }
    if (len > max) {
      fail(field, "too long");
      return {};
    }
    if (!take(len, field)) return {};
    return std::string(reinterpret_cast<const char*>(in_.data() + pos_ - len), len);
  }

  std::span<const std::uint8_t> in_;
  std::size_t pos_ = 0;
  std::string error_;
};

void write_body(Writer& w, const Hello& f) {
  w.u16(f.version);
  w.str8(f.node_id, kMaxNodeIdSize);
  w.u64(f.incarnation);
  w.bytes(f.nonce.data(), f.nonce.size());
  w.u64(f.resume_incarnation);
}
void write_body(Writer& w, const Auth& f) { w.bytes(f.mac.data(), f.mac.size()); }
void write_body(Writer& w, const Update& f) {
  w.u64(f.seq);
  w.str8(f.table);
  w.str16(f.key, kMaxKeySize);
  w.str8(f.server);
  w.u32(f.ttl_ms);
  w.u64(f.version);
}
void write_body(Writer& w, const Erase& f) {
  w.u64(f.seq);
  w.str8(f.table);
  w.str16(f.key, kMaxKeySize);
  w.u64(f.version);
}
void write_body(Writer& w, const Ack& f) {
  w.str8(f.table);
  w.u64(f.seq);
}
void write_body(Writer&, const Heartbeat&) {}
void write_body(Writer&, const ResyncBegin&) {}
void write_body(Writer&, const ResyncEnd&) {}
void write_body(Writer& w, const ConnAdd& f) {
  w.u64(f.seq);
  w.u64(f.conn_id);
  w.endpoint(f.client);
  w.str8(f.listener);
  w.str8(f.pool);
  w.str8(f.backend);
  w.u64(f.start_unix_ms);
  w.u8(static_cast<std::uint8_t>(f.mode));
}
void write_body(Writer& w, const ConnRemove& f) {
  w.u64(f.seq);
  w.u64(f.conn_id);
}
void write_tuple(Writer& w, const CtTuple& t) {
  w.bytes(t.src.data(), t.src.size());
  w.bytes(t.dst.data(), t.dst.size());
  w.u16(t.sport);
  w.u16(t.dport);
}
// A batch of 1..kMaxCtBatch items; an empty or oversized one is refused (Writer::ok).
template <typename T>
bool ct_batch_ok(const std::vector<T>& items) {
  return !items.empty() && items.size() <= kMaxCtBatch;
}
void write_body(Writer& w, const CtUpdate& f) {
  if (!ct_batch_ok(f.entries)) w.invalid();
  w.u64(f.seq);
  w.u16(static_cast<std::uint16_t>(f.entries.size()));
  for (const auto& e : f.entries) {
    write_tuple(w, e.original);
    write_tuple(w, e.reply);
    w.u8(e.tcp_state);
    w.u8(e.wscale_original);
    w.u8(e.wscale_reply);
    w.u8(e.flags_original);
    w.u8(e.flags_reply);
    w.u32(e.timeout_s);
  }
}
void write_body(Writer& w, const CtErase& f) {
  if (!ct_batch_ok(f.originals)) w.invalid();
  w.u64(f.seq);
  w.u16(static_cast<std::uint16_t>(f.originals.size()));
  for (const auto& t : f.originals) write_tuple(w, t);
}

template <typename T>
constexpr FrameType type_of() {
  if constexpr (std::is_same_v<T, Hello>) return FrameType::hello;
  if constexpr (std::is_same_v<T, Auth>) return FrameType::auth;
  if constexpr (std::is_same_v<T, Update>) return FrameType::update;
  if constexpr (std::is_same_v<T, Erase>) return FrameType::erase;
  if constexpr (std::is_same_v<T, Ack>) return FrameType::ack;
  if constexpr (std::is_same_v<T, Heartbeat>) return FrameType::heartbeat;
  if constexpr (std::is_same_v<T, ResyncBegin>) return FrameType::resync_begin;
  if constexpr (std::is_same_v<T, ResyncEnd>) return FrameType::resync_end;
  if constexpr (std::is_same_v<T, ConnAdd>) return FrameType::conn_add;
  if constexpr (std::is_same_v<T, ConnRemove>) return FrameType::conn_remove;
  if constexpr (std::is_same_v<T, CtUpdate>) return FrameType::ct_update;
  if constexpr (std::is_same_v<T, CtErase>) return FrameType::ct_erase;
}

CtTuple read_tuple(Reader& r, const char* field) {
  CtTuple t;
  t.src = r.array<4>(field);
  t.dst = r.array<4>(field);
  t.sport = r.u16(field);
  t.dport = r.u16(field);
  return t;
}

// The count of a batch, checked before anything is allocated for it.
std::size_t read_ct_count(Reader& r, const char* field) {
  const std::size_t n = r.u16(field);
  if (n == 0 || n > kMaxCtBatch) {
    r.fail(field, "batch size out of range");
    return 0;
  }
  return n;
}

// One reader per frame type, in the order of write_body: each field named for the error.
Hello read_hello(Reader& r) {
  Hello f;
  f.version = r.u16("hello.version");
  f.node_id = r.str8("hello.node_id", kMaxNodeIdSize);
  f.incarnation = r.u64("hello.incarnation");
  f.nonce = r.array<32>("hello.nonce");
  f.resume_incarnation = r.u64("hello.resume_incarnation");
  return f;
}

Update read_update(Reader& r) {
  Update f;
  f.seq = r.u64("update.seq");
  f.table = r.str8("update.table");
  f.key = r.str16("update.key", kMaxKeySize);
  f.server = r.str8("update.server");
  f.ttl_ms = r.u32("update.ttl_ms");
  f.version = r.u64("update.version");
  return f;
}

Erase read_erase(Reader& r) {
  Erase f;
  f.seq = r.u64("erase.seq");
  f.table = r.str8("erase.table");
  f.key = r.str16("erase.key", kMaxKeySize);
  f.version = r.u64("erase.version");
  return f;
}

Ack read_ack(Reader& r) {
  Ack f;
  f.table = r.str8("ack.table");
  f.seq = r.u64("ack.seq");
  return f;
}

ConnAdd read_conn_add(Reader& r) {
  ConnAdd f;
  f.seq = r.u64("conn_add.seq");
  f.conn_id = r.u64("conn_add.conn_id");
  f.client = r.endpoint("conn_add.client");
  f.listener = r.str8("conn_add.listener");
  f.pool = r.str8("conn_add.pool");
  f.backend = r.str8("conn_add.backend");
  f.start_unix_ms = r.u64("conn_add.start_unix_ms");
  const std::uint8_t mode = r.u8("conn_add.mode");
  if (mode > 1) r.fail("conn_add.mode", "unknown mode");
  f.mode = static_cast<ConnMode>(mode);
  return f;
}

ConnRemove read_conn_remove(Reader& r) {
  ConnRemove f;
  f.seq = r.u64("conn_remove.seq");
  f.conn_id = r.u64("conn_remove.conn_id");
  return f;
}

CtEntry read_ct_entry(Reader& r) {
  CtEntry e;
  e.original = read_tuple(r, "ct_update.original");
  e.reply = read_tuple(r, "ct_update.reply");
  e.tcp_state = r.u8("ct_update.tcp_state");
  e.wscale_original = r.u8("ct_update.wscale");
  e.wscale_reply = r.u8("ct_update.wscale");
  e.flags_original = r.u8("ct_update.flags");
  e.flags_reply = r.u8("ct_update.flags");
  e.timeout_s = r.u32("ct_update.timeout");
  if (e.tcp_state > kMaxCtTcpState) r.fail("ct_update.tcp_state", "unknown state");
  if (e.wscale_original > kMaxWindowScale || e.wscale_reply > kMaxWindowScale) {
    r.fail("ct_update.wscale", "above 14");
  }
  return e;
}

CtUpdate read_ct_update(Reader& r) {
  CtUpdate f;
  f.seq = r.u64("ct_update.seq");
  const auto n = read_ct_count(r, "ct_update.count");
  f.entries.reserve(n);
  for (std::size_t i = 0; i < n; ++i) f.entries.push_back(read_ct_entry(r));
  return f;
}

CtErase read_ct_erase(Reader& r) {
  CtErase f;
  f.seq = r.u64("ct_erase.seq");
  const auto n = read_ct_count(r, "ct_erase.count");
  f.originals.reserve(n);
  for (std::size_t i = 0; i < n; ++i) f.originals.push_back(read_tuple(r, "ct_erase.tuple"));
  return f;
}

std::optional<Frame> read_body(FrameType type, Reader& r) {
  switch (type) {
    case FrameType::hello:
      return read_hello(r);
    case FrameType::auth:
      return Auth{r.array<32>("auth.mac")};
    case FrameType::update:
      return read_update(r);
    case FrameType::erase:
      return read_erase(r);
    case FrameType::ack:
      return read_ack(r);
    case FrameType::heartbeat:
      return Heartbeat{};
    case FrameType::resync_begin:
      return ResyncBegin{};
    case FrameType::resync_end:
      return ResyncEnd{};
    case FrameType::conn_add:
      return read_conn_add(r);
    case FrameType::conn_remove:
      return read_conn_remove(r);
    case FrameType::ct_update:
      return read_ct_update(r);
    case FrameType::ct_erase:
      return read_ct_erase(r);
  }
  return std::nullopt;
}

}  // namespace

bool encode(const Frame& frame, std::vector<std::uint8_t>& out) {
  const std::size_t start = out.size();
  Writer w(out);
  w.u32(0);  // length, patched below
  std::visit(
      [&](const auto& f) {
        w.u8(static_cast<std::uint8_t>(type_of<std::decay_t<decltype(f)>>()));
        write_body(w, f);
      },
      frame);
  const std::size_t length = out.size() - start - kHeaderSize;
  if (!w.ok() || length > kMaxFrameSize) {
    out.resize(start);
    return false;
  }
  for (int i = 0; i < 4; ++i) out[start + i] = static_cast<std::uint8_t>(length >> (8 * (3 - i)));
  return true;
}

DecodeResult decode(std::span<const std::uint8_t> in, std::size_t max_frame) {
  if (max_frame > kMaxFrameSize) max_frame = kMaxFrameSize;
  if (in.size() < kHeaderSize) return NeedMore{kHeaderSize - in.size()};
  const std::uint32_t length = (std::uint32_t{in[0]} << 24) | (std::uint32_t{in[1]} << 16) |
                               (std::uint32_t{in[2]} << 8) | std::uint32_t{in[3]};
  // Judge the length before waiting for the body: a peer must not make us buffer 4 GiB.
  if (length == 0) return DecodeError{"frame length 0"};
  if (length > max_frame) {
    return DecodeError{"frame length " + std::to_string(length) + " exceeds " +
                       std::to_string(max_frame)};
  }
  if (in.size() - kHeaderSize < length) return NeedMore{kHeaderSize + length - in.size()};
  const std::uint8_t type = in[kHeaderSize];
  if (type < static_cast<std::uint8_t>(FrameType::hello) ||
      type > static_cast<std::uint8_t>(FrameType::ct_erase)) {
    return DecodeError{"unknown frame type " + std::to_string(type)};
  }
  Reader r(in.subspan(kHeaderSize + 1, length - 1));
  auto frame = read_body(static_cast<FrameType>(type), r);
  if (auto err = r.finish(); !err.empty() || !frame) {
    return DecodeError{err.empty() ? "undecodable body" : err};
  }
  return Decoded{std::move(*frame), kHeaderSize + length};
}

void FrameReader::feed(std::span<const std::uint8_t> bytes) {
  if (!error_.empty()) return;
  // Compact lazily: only when the consumed prefix outweighs what is left.
  if (offset_ > 0 && offset_ >= buffer_.size() - offset_) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset_));
    offset_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

DecodeResult FrameReader::next() {
  if (!error_.empty()) return DecodeError{error_};
  auto result = decode(std::span(buffer_).subspan(offset_), max_frame_);
  if (auto* d = std::get_if<Decoded>(&result)) {
    offset_ += d->consumed;
    if (offset_ == buffer_.size()) {
      buffer_.clear();
      offset_ = 0;
    }
  } else if (auto* e = std::get_if<DecodeError>(&result)) {
    error_ = e->message;
    buffer_.clear();
    offset_ = 0;
  }
  return result;
}

std::string_view frame_name(const Frame& frame) {
  static constexpr std::string_view kNames[] = {
      "hello",        "auth",       "update",   "erase",       "ack",       "heartbeat",
      "resync_begin", "resync_end", "conn_add", "conn_remove", "ct_update", "ct_erase"};
  return kNames[frame.index()];
}

}  // namespace lbd::repl
