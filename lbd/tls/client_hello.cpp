// ClientHello SNI extraction (see client_hello.hpp). Layout references: RFC 8446 §4.1.2
// (ClientHello), §5.1 (records), RFC 6066 §3 (server_name).
#include "lbd/tls/client_hello.hpp"

#include <array>

namespace lbd::proxy {

namespace {

constexpr std::uint8_t kRecordHandshake = 22;            // RFC 8446 §5.1 ContentType.handshake
constexpr std::uint8_t kClientHello = 1;                 // RFC 8446 §4 HandshakeType.client_hello
constexpr std::uint16_t kExtServerName = 0;              // RFC 6066 §3
constexpr std::uint8_t kNameTypeHostName = 0;            // RFC 6066 §3 NameType.host_name
constexpr std::size_t kMaxRecordPayload = 16384 + 2048;  // RFC 8446 §5.2 (with expansion)

/// A bounds-checked cursor.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> d) : d_(d) {}
  bool u8(std::uint8_t& v) {
    if (d_.size() < 1) return false;
    v = d_[0];
    d_ = d_.subspan(1);
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (d_.size() < 2) return false;
    v = static_cast<std::uint16_t>(d_[0] << 8 | d_[1]);
    d_ = d_.subspan(2);
    return true;
  }
  bool u24(std::uint32_t& v) {
    if (d_.size() < 3) return false;
    v = static_cast<std::uint32_t>(d_[0]) << 16 | static_cast<std::uint32_t>(d_[1]) << 8 | d_[2];
    d_ = d_.subspan(3);
    return true;
  }
  bool skip(std::size_t n) {
    if (d_.size() < n) return false;
    d_ = d_.subspan(n);
    return true;
  }
  bool take(std::size_t n, std::span<const std::uint8_t>& out) {
    if (d_.size() < n) return false;
    out = d_.first(n);
    d_ = d_.subspan(n);
    return true;
  }
  std::size_t left() const { return d_.size(); }

 private:
  std::span<const std::uint8_t> d_;
};

SniResult fail(const char* why) { return {SniStatus::invalid, {}, why}; }

/// A host name as RFC 6066 allows it: ASCII letters, digits, '-', '.', 1..253 characters, no
/// empty label, no trailing dot. Lowercased into `out`.
bool valid_host_name(std::span<const std::uint8_t> name, std::string& out) {
  if (name.empty() || name.size() > 253) return false;
  out.clear();
  char prev = '.';
  for (const std::uint8_t c : name) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && c != '-' && c != '.' && c != '_') return false;
    if (c == '.' && prev == '.') return false;
    prev = static_cast<char>(c);
    out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  }
  return prev != '.';
}

SniResult parse_hello_body(std::span<const std::uint8_t> body) {
  Reader r(body);
  std::uint16_t version = 0;
  std::uint8_t sid_len = 0;
  std::uint16_t suites_len = 0;
  std::uint8_t comp_len = 0;
  if (!r.u16(version) || !r.skip(32)) return fail("ClientHello too short");
  if ((version >> 8) != 3) return fail("ClientHello legacy_version is not 3.x");
  if (!r.u8(sid_len) || sid_len > 32 || !r.skip(sid_len)) return fail("bad session id");
  if (!r.u16(suites_len) || suites_len < 2 || suites_len % 2 != 0 || !r.skip(suites_len)) {
    return fail("bad cipher suites");
  }
  if (!r.u8(comp_len) || comp_len < 1 || !r.skip(comp_len)) return fail("bad compression methods");
  if (r.left() == 0) return {SniStatus::no_sni, {}, ""};  // no extensions at all (TLS 1.2 allows)
  std::uint16_t ext_total = 0;
  std::span<const std::uint8_t> exts;
  if (!r.u16(ext_total) || !r.take(ext_total, exts) || r.left() != 0) {
    return fail("bad extensions length");
  }
  Reader e(exts);
  bool seen_sni = false;
  SniResult found{SniStatus::no_sni, {}, ""};
  while (e.left() > 0) {
    std::uint16_t type = 0;
    std::uint16_t len = 0;
    std::span<const std::uint8_t> data;
    if (!e.u16(type) || !e.u16(len) || !e.take(len, data)) return fail("truncated extension");
    if (type != kExtServerName) continue;
    if (seen_sni) return fail("two server_name extensions");  // RFC 8446 §4.2
    seen_sni = true;
    Reader s(data);
    std::uint16_t list_len = 0;
    std::span<const std::uint8_t> list;
    if (!s.u16(list_len) || !s.take(list_len, list) || s.left() != 0 || list_len == 0) {
      return fail("bad server_name list");
    }
    Reader l(list);
    bool have_host = false;
    while (l.left() > 0) {
      std::uint8_t name_type = 0;
      std::uint16_t name_len = 0;
      std::span<const std::uint8_t> name;
      if (!l.u8(name_type) || !l.u16(name_len) || !l.take(name_len, name)) {
        return fail("bad server_name entry");
      }
      if (name_type != kNameTypeHostName) continue;
      if (have_host) return fail("two host_name entries");  // RFC 6066 §3
      have_host = true;
      if (!valid_host_name(name, found.name)) return fail("server name is not a DNS name");
      found.status = SniStatus::found;
    }
  }
  return found;
}

}  // namespace

SniResult parse_client_hello_sni(std::span<const std::uint8_t> data) {
  // Reassemble the handshake bytes from consecutive handshake records into a bounded buffer.
  std::array<std::uint8_t, kMaxClientHello> hs;
  std::size_t hs_len = 0;
  Reader records(data);
  for (;;) {
    if (hs_len >= 4) {
      const std::uint32_t body_len =
          static_cast<std::uint32_t>(hs[1]) << 16 | static_cast<std::uint32_t>(hs[2]) << 8 | hs[3];
      if (hs[0] != kClientHello) return fail("first handshake message is not a ClientHello");
      if (body_len + 4 > kMaxClientHello) return fail("ClientHello too large");
      if (hs_len >= body_len + 4) {
        return parse_hello_body(std::span<const std::uint8_t>(hs.data() + 4, body_len));
      }
    }
    if (records.left() == 0) return {SniStatus::need_more, {}, ""};
    std::uint8_t type = 0;
    if (!records.u8(type)) return {SniStatus::need_more, {}, ""};
    if (type != kRecordHandshake) return fail("not a TLS handshake record");
    std::uint8_t major = 0;
    if (!records.u8(major)) return {SniStatus::need_more, {}, ""};
    if (major != 3) return fail("record version is not 3.x");
    std::uint16_t len = 0;
    if (!records.skip(1) || !records.u16(len)) return {SniStatus::need_more, {}, ""};
    if (len == 0 || len > kMaxRecordPayload) return fail("bad record length");
    std::span<const std::uint8_t> payload;
    const std::size_t avail = std::min<std::size_t>(len, records.left());
    records.take(avail, payload);
    if (hs_len + payload.size() > hs.size()) return fail("ClientHello too large");
    std::copy(payload.begin(), payload.end(), hs.begin() + static_cast<std::ptrdiff_t>(hs_len));
    hs_len += payload.size();
    // A cut-off record ends the input: the loop head parses or asks for more.
  }
}

}  // namespace lbd::proxy
