// The record layer of a replication connection: the handshake frames travel in clear (they carry
// nothing secret and are bound by the Auth MACs), every frame after a side's Auth is sealed with
// ChaCha20-Poly1305 under that session's per-direction key (handshake.hpp).
//
// Sealed frame: u32 length L (big-endian, = ciphertext + 16-byte tag, 17..kMaxFrameSize+16) ·
// ciphertext of (type · body) · tag. The AEAD nonce is 32 zero bits · the 64-bit count of frames
// sealed so far in that direction (never sent, never reused: the key is fresh per session and the
// session ends before the count wraps); the 4 length bytes are the associated data. A tampered,
// replayed, reordered, dropped or truncated frame therefore fails to open, and nothing of it is
// decoded. New frame types need nothing here: whatever wire.hpp encodes is sealed.
//
// Pure code (OpenSSL, no sockets); not thread-safe: one connection's reader and writer own it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "lbd/replication/handshake.hpp"
#include "lbd/replication/wire.hpp"

struct evp_cipher_ctx_st;

namespace lbd::repl {

inline constexpr std::size_t kTagSize = 16;
/// Largest sealed frame on the wire (length field value).
inline constexpr std::size_t kMaxSealedSize = kMaxFrameSize + kTagSize;
/// Largest frame read before the peer is authenticated: a Hello is at most 119 bytes.
inline constexpr std::size_t kMaxHandshakeFrameSize = 256;

/// ChaCha20-Poly1305 for one direction of one session, sealing or opening in place.
class AeadDirection {
 public:
  /// `first_sequence` is 0 on the wire; tests start near the end to check the limit.
  AeadDirection(const TrafficKey& key, bool sealing, std::uint64_t first_sequence = 0);
  ~AeadDirection();
  AeadDirection(const AeadDirection&) = delete;
  AeadDirection& operator=(const AeadDirection&) = delete;

  /// Encrypts data[0..n) in place and writes the tag; `aad` is the frame's length field. False
  /// when the sequence numbers are used up (the session must end) or OpenSSL fails.
  bool seal(std::span<const std::uint8_t, 4> aad, std::uint8_t* data, std::size_t n,
            std::uint8_t* tag);
  /// Decrypts data[0..n) in place; false when the tag does not match (data is then garbage) or
  /// the sequence numbers are used up.
  bool open(std::span<const std::uint8_t, 4> aad, std::uint8_t* data, std::size_t n,
            const std::uint8_t* tag);
  /// Frames sealed or opened so far (the next nonce).
  std::uint64_t sequence() const { return sequence_; }

 private:
  evp_cipher_ctx_st* ctx_ = nullptr;
  bool sealing_;
  std::uint64_t sequence_;
};

/// A sealed frame that does not open, or whose length field is out of bounds. The session must
/// end and nothing from the frame may be used.
struct IntegrityError {
  std::string message;
};
using ChannelResult = std::variant<NeedMore, Decoded, DecodeError, IntegrityError>;

enum class WriteStatus {
  ok,
  unencodable,  // a field out of bounds: nothing appended, the session may continue
  not_sealed,   // a data frame before our Auth: refused so that nothing leaks in clear
  exhausted,    // sequence numbers used up: nothing appended, the session must end
};

/// Both directions of one connection.
class SecureChannel {
 public:
  SecureChannel();
  ~SecureChannel();
  SecureChannel(const SecureChannel&) = delete;
  SecureChannel& operator=(const SecureChannel&) = delete;

  /// The session's keys. Frames written after our next Auth are sealed with `keys.send`; frames
  /// read after `open_incoming()` are opened with `keys.receive`.
  void install(const TrafficKeys& keys);
  /// The peer's Auth checked out: from the next frame on, the peer's frames must be sealed.
  /// Requires install() first (else every later frame fails to open).
  void open_incoming();

  /// Appends `frame` (sealed once our Auth is out). Only Hello and Auth may go in clear.
  WriteStatus write(const Frame& frame, std::vector<std::uint8_t>& out);

  void feed(std::span<const std::uint8_t> bytes);
  /// The next frame; after an error every later call returns it again. `consumed` counts wire
  /// bytes (tag included).
  ChannelResult next();
  std::size_t buffered() const { return buffer_.size() - offset_; }
  bool sealing() const { return sealing_; }
  bool opening() const { return opening_; }

 private:
  ChannelResult fail(ChannelResult error);

  std::vector<std::uint8_t> buffer_;
  std::size_t offset_ = 0;
  std::optional<ChannelResult> error_;
  std::optional<AeadDirection> sealer_;
  std::optional<AeadDirection> opener_;
  bool sealing_ = false;
  bool opening_ = false;
};

}  // namespace lbd::repl
