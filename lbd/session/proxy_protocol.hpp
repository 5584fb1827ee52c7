// PROXY protocol v1 (text) and v2 (binary) as a pure codec: decode a header from the first bytes
// of a connection, encode one for a backend. Spec: haproxy.org/download/2.8/doc/proxy-protocol.txt.
// No I/O here; the decoder never reads past the span it is given and never trusts a length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "common/net/ip_address.hpp"

namespace lbd::proxy {

/// v1: "PROXY TCP6 " + two 39-char addresses + two ports + spaces + CRLF is at most 107 bytes
/// (spec §2.1).
inline constexpr std::size_t kProxyV1MaxLength = 107;
/// v2: 16-byte fixed header (spec §2.2).
inline constexpr std::size_t kProxyV2HeaderLength = 16;
/// Our bound on a whole v2 header including TLVs; longer headers are refused, not buffered.
inline constexpr std::size_t kProxyV2MaxLength = 16 + 1024;
/// The most bytes a reader ever needs to look at to decide.
inline constexpr std::size_t kProxyMaxLength = kProxyV2MaxLength;

/// What a PROXY header said about the original connection.
struct ProxyHeader {
  int version = 0;  // 1 or 2
  /// The original client and destination; nullopt for v1 UNKNOWN, v2 LOCAL, or a family we do not
  /// proxy (AF_UNIX, AF_UNSPEC) — the caller then keeps the socket's own addresses.
  std::optional<lb::Endpoint> source;
  std::optional<lb::Endpoint> destination;
};

enum class DecodeStatus {
  complete,    // `header` and `length` are set
  incomplete,  // a valid prefix: read more (up to kProxyMaxLength) and call again
  invalid,     // not a PROXY header, or a malformed one
};

struct DecodeResult {
  DecodeStatus status = DecodeStatus::invalid;
  std::size_t length = 0;  // bytes the header occupies (complete only)
  ProxyHeader header;
  std::string error;  // why (invalid only)
};

/// Decodes a v1 or v2 header at the start of `bytes`. Pure and total: any input gives one of the
/// three statuses, never reads outside `bytes`.
DecodeResult decode_proxy_header(std::span<const std::uint8_t> bytes);

/// Encodes a v1 header for a connection from `source` to `destination` ("PROXY UNKNOWN\r\n" when
/// their families differ).
std::string encode_proxy_v1(const lb::Endpoint& source, const lb::Endpoint& destination);
/// Encodes a v2 PROXY/STREAM header (no TLVs); a LOCAL header when the families differ.
std::string encode_proxy_v2(const lb::Endpoint& source, const lb::Endpoint& destination);

}  // namespace lbd::proxy
