// The server name (SNI, RFC 6066 §3) of a TLS ClientHello, read from the first bytes a client
// sends, for pass-through routing on tcp listeners. Pure and defensive: every length is checked
// against its container, nothing is allocated beyond the returned name, no input can crash it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace lbd::proxy {

/// The largest ClientHello prefix lbd reads before giving up on finding the name (the records of
/// one ClientHello, RFC 8446 §5.1: up to 2^14 bytes each; real ones are below 2 KiB).
inline constexpr std::size_t kMaxClientHello = 16 * 1024;

enum class SniStatus {
  found,      // `name` holds the server name (lowercase)
  no_sni,     // a complete ClientHello without a server_name extension
  need_more,  // a valid prefix: read more bytes
  invalid,    // not a TLS ClientHello, or malformed (`error` says what)
};

struct SniResult {
  SniStatus status = SniStatus::invalid;
  std::string name;
  const char* error = "";
};

/// Parses `data` (the bytes from the start of the connection): TLS records of type handshake,
/// reassembled, holding a ClientHello. A host_name that is not a valid DNS name is `invalid`.
SniResult parse_client_hello_sni(std::span<const std::uint8_t> data);

}  // namespace lbd::proxy
