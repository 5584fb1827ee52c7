// The replication wire format between the two lbd nodes: length-prefixed binary frames, a pure
// encoder and an incremental decoder that never trusts a length (HAProxy peers.c in spirit: TTL
// sent as time remaining, servers by name, full resync bracketed by ResyncBegin/ResyncEnd).
//
// Frame: u32 length (big-endian, counts the type byte and the body, 1..max_frame) · u8 type · body.
// Integers are big-endian; str8/str16 are a u8/u16 byte count and that many bytes; an endpoint is
// u8 family (4|6), 4 or 16 address bytes, u16 port. A body must be consumed exactly.
// No <expected> here: the fuzz target builds this file with clang 14, whose libstdc++ 12 lacks it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/net/ip_address.hpp"

namespace lbd::repl {

inline constexpr std::uint16_t kProtocolVersion = 2;
/// Largest frame (type + body) either side sends or accepts.
inline constexpr std::size_t kMaxFrameSize = 64 * 1024;
inline constexpr std::size_t kMaxKeySize = 1024;
inline constexpr std::size_t kMaxNodeIdSize = 64;
inline constexpr std::size_t kHeaderSize = 4;
/// The connection table's name in Ack frames: '@' is not allowed in pool names, so no clash.
inline constexpr std::string_view kConnTableName = "@connections";
/// The conntrack journal of forward-mode flows in Ack frames.
inline constexpr std::string_view kCtTableName = "@conntrack";

using Nonce = std::array<std::uint8_t, 32>;
using Mac = std::array<std::uint8_t, 32>;

enum class FrameType : std::uint8_t {
  hello = 1,
  auth = 2,
  update = 3,
  erase = 4,
  ack = 5,
  heartbeat = 6,
  resync_begin = 7,
  resync_end = 8,
  conn_add = 9,
  conn_remove = 10,
  ct_update = 11,
  ct_erase = 12,
};

/// First frame each side sends. `resume_incarnation` is the peer incarnation whose updates this
/// node still holds (0 = none, e.g. after a restart): when it equals the receiver's own
/// incarnation, the receiver resumes each table after the last Ack it got; otherwise it sends a
/// full resync.
struct Hello {
  std::uint16_t version = kProtocolVersion;
  std::string node_id;            // 1..64 bytes
  std::uint64_t incarnation = 0;  // random per process start: sequence numbers restart with it
  Nonce nonce{};                  // fresh random challenge for the peer's Auth
  std::uint64_t resume_incarnation = 0;
  friend bool operator==(const Hello&, const Hello&) = default;
};

/// Proof of the shared secret: HMAC over both Hellos (see handshake.hpp).
struct Auth {
  Mac mac{};
  friend bool operator==(const Auth&, const Auth&) = default;
};

/// A stick-table entry: key → server name, `ttl_ms` remaining on the sender, LWW `version`.
struct Update {
  std::uint64_t seq = 0;
  std::string table;   // 1..255 bytes (the pool name)
  std::string key;     // 1..kMaxKeySize bytes
  std::string server;  // 1..255 bytes
  std::uint32_t ttl_ms = 0;
  std::uint64_t version = 0;
  friend bool operator==(const Update&, const Update&) = default;
};

/// A stick-table delete or expiry; applied when the receiver's version ≤ `version`.
struct Erase {
  std::uint64_t seq = 0;
  std::string table;
  std::string key;
  std::uint64_t version = 0;
  friend bool operator==(const Erase&, const Erase&) = default;
};

/// Every record of `table` up to `seq` has been applied. Sequence numbers are per table (each
/// table has its own journal), as in HAProxy's peers protocol; the connection table's name on
/// the wire is kConnTableName.
struct Ack {
  std::string table;
  std::uint64_t seq = 0;
  friend bool operator==(const Ack&, const Ack&) = default;
};

struct Heartbeat {
  friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

/// A full resync follows: Updates / ConnAdds of every entry, then ResyncEnd.
struct ResyncBegin {
  friend bool operator==(const ResyncBegin&, const ResyncBegin&) = default;
};

/// End of a full resync (its Updates / ConnAdds carry seq 0 and are not acked one by one); the
/// increments that follow carry journal sequence numbers again.
struct ResyncEnd {
  friend bool operator==(const ResyncEnd&, const ResyncEnd&) = default;
};

enum class ConnMode : std::uint8_t { l4 = 0, l7 = 1 };

/// A live proxied connection on the sender.
struct ConnAdd {
  std::uint64_t seq = 0;
  std::uint64_t conn_id = 0;  // unique on the sender
  lb::Endpoint client;
  std::string listener;  // 1..255 bytes
  std::string pool;      // 1..255 bytes (server names are unique per pool)
  std::string backend;   // 1..255 bytes
  std::uint64_t start_unix_ms = 0;
  ConnMode mode = ConnMode::l4;
  friend bool operator==(const ConnAdd&, const ConnAdd&) = default;
};

struct ConnRemove {
  std::uint64_t seq = 0;
  std::uint64_t conn_id = 0;
  friend bool operator==(const ConnRemove&, const ConnRemove&) = default;
};

/// Conntrack entries of forward-mode flows (lbd/forward/): the kernel's state of a flow on the
/// load balancer, streamed so that the peer can hold it before it takes the VIP.
/// An IPv4 TCP tuple; addresses as network-order bytes.
struct CtTuple {
  std::array<std::uint8_t, 4> src{};
  std::array<std::uint8_t, 4> dst{};
  std::uint16_t sport = 0;
  std::uint16_t dport = 0;
  friend auto operator<=>(const CtTuple&, const CtTuple&) = default;
};

/// Largest TCP conntrack state (TCP_CONNTRACK_SYN_SENT2) and window scale (RFC 7323 §2.3).
inline constexpr std::uint8_t kMaxCtTcpState = 9;
inline constexpr std::uint8_t kMaxWindowScale = 14;

/// One flow: both tuples (the reply tuple carries the NAT binding: its source is the backend,
/// its destination the SNAT address, or the client in gateway mode), the TCP state, window scale
/// and flags per direction, and the timeout left on the sender.
struct CtEntry {
  CtTuple original;
  CtTuple reply;
  std::uint8_t tcp_state = 0;
  std::uint8_t wscale_original = 0;
  std::uint8_t wscale_reply = 0;
  std::uint8_t flags_original = 0;
  std::uint8_t flags_reply = 0;
  std::uint32_t timeout_s = 0;
  friend bool operator==(const CtEntry&, const CtEntry&) = default;
};

/// Entries per frame: 512 × 33 bytes ≈ 17 KiB, well under kMaxFrameSize.
inline constexpr std::size_t kMaxCtBatch = 512;

/// New or changed flows (1..kMaxCtBatch), journal sequence `seq` (0 inside a full resync).
struct CtUpdate {
  std::uint64_t seq = 0;
  std::vector<CtEntry> entries;
  friend bool operator==(const CtUpdate&, const CtUpdate&) = default;
};

/// Ended flows by original tuple (1..kMaxCtBatch).
struct CtErase {
  std::uint64_t seq = 0;
  std::vector<CtTuple> originals;
  friend bool operator==(const CtErase&, const CtErase&) = default;
};

using Frame = std::variant<Hello, Auth, Update, Erase, Ack, Heartbeat, ResyncBegin, ResyncEnd,
                           ConnAdd, ConnRemove, CtUpdate, CtErase>;

/// Appends the encoding of `frame` to `out`. Returns false (and appends nothing) when a field is
/// out of its bounds (empty or too long string, frame larger than kMaxFrameSize).
bool encode(const Frame& frame, std::vector<std::uint8_t>& out);

/// The decoder needs at least `bytes` more bytes before it can say more.
struct NeedMore {
  std::size_t bytes = 0;
};
/// A frame and how many input bytes it used.
struct Decoded {
  Frame frame;
  std::size_t consumed = 0;
};
/// The stream is corrupt: the session must be closed (there is no resynchronising a byte stream).
struct DecodeError {
  std::string message;
};
using DecodeResult = std::variant<NeedMore, Decoded, DecodeError>;

/// Decodes the first frame of `in`. Pure; never reads past `in`, never allocates more than the
/// frame's own (bounded) fields. `max_frame` ≤ kMaxFrameSize caps the accepted length.
DecodeResult decode(std::span<const std::uint8_t> in, std::size_t max_frame = kMaxFrameSize);

/// Incremental decoding over a byte stream: feed what the socket gave, take frames until
/// NeedMore. After a DecodeError every later call returns that error. Not thread-safe.
class FrameReader {
 public:
  explicit FrameReader(std::size_t max_frame = kMaxFrameSize) : max_frame_(max_frame) {}
  void feed(std::span<const std::uint8_t> bytes);
  DecodeResult next();
  /// Bytes buffered and not yet decoded (bounded by max_frame + header after each `next`).
  std::size_t buffered() const { return buffer_.size() - offset_; }

 private:
  std::size_t max_frame_;
  std::vector<std::uint8_t> buffer_;
  std::size_t offset_ = 0;
  std::string error_;
};

/// "update", "hello"… for logs.
std::string_view frame_name(const Frame& frame);

}  // namespace lbd::repl
