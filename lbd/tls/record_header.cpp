// The first record's size from its header (see record_header.hpp). RFC 8446 §5.1.
#include "lbd/tls/record_header.hpp"

namespace lbd::proxy {

namespace {

constexpr std::uint8_t kContentHandshake = 22;  // RFC 8446 §5.1 ContentType.handshake
constexpr std::uint8_t kVersionMajor = 3;       // legacy_record_version 0x03xx (SSL 3.0 .. TLS 1.3)

}  // namespace

FirstRecordNeed first_record_need(std::span<const std::uint8_t> prefix) {
  constexpr FirstRecordNeed not_tls{};
  if (prefix.size() >= 1 && prefix[0] != kContentHandshake) return not_tls;
  if (prefix.size() >= 2 && prefix[1] != kVersionMajor) return not_tls;
  if (prefix.size() < kRecordHeaderSize) return {true, kRecordHeaderSize};
  const std::size_t length = static_cast<std::size_t>(prefix[3]) << 8 | prefix[4];
  // "Implementations MUST NOT send zero-length fragments of Handshake types" (§5.1).
  if (length == 0 || length > kMaxFirstRecordPayload) return not_tls;
  return {true, kRecordHeaderSize + length};
}

}  // namespace lbd::proxy
