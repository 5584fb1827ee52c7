// How many bytes a TLS client's first record takes, read from the first bytes it sent (RFC 8446
// §5.1 record header), so that a terminating or SNI-routing listener can wait for the whole
// record in the socket's receive queue before it spends memory on it. Pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace lbd::proxy {

/// The size of a TLS record header: type, legacy version, length (RFC 8446 §5.1).
inline constexpr std::size_t kRecordHeaderSize = 5;

/// The longest first record waited for: a ClientHello is plaintext, whose fragment "MUST NOT
/// exceed 2^14 bytes" (RFC 8446 §5.1; OpenSSL refuses a longer one with record_overflow).
inline constexpr std::size_t kMaxFirstRecordPayload = 16384;

struct FirstRecordNeed {
  /// False: the bytes are not the start of a TLS handshake record within the bounds above (plain
  /// HTTP, another protocol, SSLv2, an empty or oversized record): waiting would not help, the
  /// caller hands them to its usual path at once, which refuses them as it always did.
  bool tls = false;
  /// When `tls`: the bytes the first record needs in all, header included (kRecordHeaderSize
  /// while the header itself is incomplete).
  std::size_t bytes = 0;
};

/// The first record's size from `prefix`, the first bytes of the connection (any length,
/// usually at most kRecordHeaderSize; bytes past the header are ignored). An empty prefix needs
/// the header.
FirstRecordNeed first_record_need(std::span<const std::uint8_t> prefix);

}  // namespace lbd::proxy
