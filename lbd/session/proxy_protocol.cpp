#include "lbd/session/proxy_protocol.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace lbd::proxy {
namespace {

// Spec §2.2: the v2 signature.
constexpr std::array<std::uint8_t, 12> kV2Signature = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                       0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";

DecodeResult invalid(std::string why) {
  DecodeResult r;
  r.status = DecodeStatus::invalid;
  r.error = std::move(why);
  return r;
}

DecodeResult incomplete() {
  DecodeResult r;
  r.status = DecodeStatus::incomplete;
  return r;
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  if (s.size() > 1 && s[0] == '0') return std::nullopt;  // spec §2.1: no leading zeros
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc{} || ptr != s.data() + s.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

DecodeResult decode_v1(std::span<const std::uint8_t> bytes) {
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()),
                              std::min(bytes.size(), kProxyV1MaxLength));
  const auto cr = text.find('\r');
  if (cr == std::string_view::npos) {
    if (text.size() >= kProxyV1MaxLength) return invalid("PROXY v1 line longer than 107 bytes");
    if (text.find('\n') != std::string_view::npos) return invalid("PROXY v1 line without CR");
    return incomplete();
  }
  if (cr + 1 >= text.size()) {
    if (cr + 1 >= kProxyV1MaxLength) return invalid("PROXY v1 line longer than 107 bytes");
    return incomplete();
  }
  if (text[cr + 1] != '\n') return invalid("PROXY v1 line: CR not followed by LF");
  // The same verdict as for the line's prefix alone (a reader that has only seen up to the LF
  // refused it), whatever UNKNOWN's "ignore the rest" allows.
  if (text.substr(0, cr).find('\n') != std::string_view::npos) {
    return invalid("PROXY v1 line without CR");
  }
  const std::string_view line = text.substr(kV1Prefix.size(), cr - kV1Prefix.size());

  DecodeResult r;
  r.status = DecodeStatus::complete;
  r.length = cr + 2;
  r.header.version = 1;
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) return r;  // spec: rest is ignored

  // TCP4|TCP6 SP src SP dst SP sport SP dport, single spaces.
  std::array<std::string_view, 5> fields;
  std::size_t start = 0;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto sp = line.find(' ', start);
    const bool last = i + 1 == fields.size();
    if (last != (sp == std::string_view::npos)) return invalid("PROXY v1: expected 5 fields");
    fields[i] = line.substr(start, last ? std::string_view::npos : sp - start);
    if (fields[i].empty()) return invalid("PROXY v1: empty field");
    start = sp + 1;
  }
  const bool v4 = fields[0] == "TCP4";
  if (!v4 && fields[0] != "TCP6") return invalid("PROXY v1: protocol must be TCP4, TCP6, UNKNOWN");
  auto src = lb::IpAddress::parse(fields[1]);
  auto dst = lb::IpAddress::parse(fields[2]);
  auto sport = parse_port(fields[3]);
  auto dport = parse_port(fields[4]);
  if (!src || !dst || src->is_v4() != v4 || dst->is_v4() != v4) {
    return invalid("PROXY v1: bad address for the protocol");
  }
  if (!sport || !dport) return invalid("PROXY v1: bad port");
  r.header.source = lb::Endpoint{*src, *sport};
  r.header.destination = lb::Endpoint{*dst, *dport};
  return r;
}

std::uint16_t be16(const std::uint8_t* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

DecodeResult decode_v2(std::span<const std::uint8_t> bytes) {
  if (bytes.size() < kProxyV2HeaderLength) return incomplete();
  const std::uint8_t ver_cmd = bytes[12];
  const std::uint8_t fam = bytes[13];
  const std::size_t len = be16(&bytes[14]);
  if ((ver_cmd >> 4) != 2) return invalid("PROXY v2: version must be 2");
  const int command = ver_cmd & 0x0F;
  if (command > 1) return invalid("PROXY v2: command must be LOCAL or PROXY");
  if (kProxyV2HeaderLength + len > kProxyV2MaxLength) {
    return invalid(fmt::format("PROXY v2: header of {} bytes exceeds our limit of {}",
                               kProxyV2HeaderLength + len, kProxyV2MaxLength));
  }
  if (bytes.size() < kProxyV2HeaderLength + len) return incomplete();

  DecodeResult r;
  r.status = DecodeStatus::complete;
  r.length = kProxyV2HeaderLength + len;
  r.header.version = 2;
  if (command == 0) return r;  // LOCAL: health check from the proxy itself; keep socket addresses

  const int family = fam >> 4;
  const int transport = fam & 0x0F;
  const std::uint8_t* a = bytes.data() + kProxyV2HeaderLength;
  if (family == 1) {  // AF_INET: 4 + 4 + 2 + 2
    if (len < 12) return invalid("PROXY v2: address block too short for AF_INET");
    if (transport != 1) return r;  // not STREAM: addresses are not ours to use
    std::array<std::uint8_t, 4> s{}, d{};
    std::memcpy(s.data(), a, 4);
    std::memcpy(d.data(), a + 4, 4);
    r.header.source = lb::Endpoint{lb::IpAddress::v4(s), be16(a + 8)};
    r.header.destination = lb::Endpoint{lb::IpAddress::v4(d), be16(a + 10)};
  } else if (family == 2) {  // AF_INET6: 16 + 16 + 2 + 2
    if (len < 36) return invalid("PROXY v2: address block too short for AF_INET6");
    if (transport != 1) return r;
    std::array<std::uint8_t, 16> s{}, d{};
    std::memcpy(s.data(), a, 16);
    std::memcpy(d.data(), a + 16, 16);
    r.header.source = lb::Endpoint{lb::IpAddress::v6(s), be16(a + 32)};
    r.header.destination = lb::Endpoint{lb::IpAddress::v6(d), be16(a + 34)};
  } else if (family == 3) {  // AF_UNIX: 108 + 108
    if (len < 216) return invalid("PROXY v2: address block too short for AF_UNIX");
  } else if (family != 0) {
    return invalid("PROXY v2: unknown address family");
  }
  return r;
}

}  // namespace

DecodeResult decode_proxy_header(std::span<const std::uint8_t> bytes) {
  if (bytes.empty()) return incomplete();
  if (bytes[0] == 'P') {
    const auto n = std::min(bytes.size(), kV1Prefix.size());
    if (std::memcmp(bytes.data(), kV1Prefix.data(), n) != 0) return invalid("not a PROXY header");
    if (bytes.size() < kV1Prefix.size()) return incomplete();
    return decode_v1(bytes);
  }
  if (bytes[0] == kV2Signature[0]) {
    const auto n = std::min(bytes.size(), kV2Signature.size());
    if (std::memcmp(bytes.data(), kV2Signature.data(), n) != 0) {
      return invalid("not a PROXY header");
    }
    return decode_v2(bytes);
  }
  return invalid("not a PROXY header");
}

std::string encode_proxy_v1(const lb::Endpoint& source, const lb::Endpoint& destination) {
  if (source.address.is_v4() != destination.address.is_v4()) return "PROXY UNKNOWN\r\n";
  return fmt::format("PROXY {} {} {} {} {}\r\n", source.address.is_v4() ? "TCP4" : "TCP6",
                     source.address.to_string(), destination.address.to_string(), source.port,
                     destination.port);
}

std::string encode_proxy_v2(const lb::Endpoint& source, const lb::Endpoint& destination) {
  std::string out(kV2Signature.begin(), kV2Signature.end());
  const bool same = source.address.is_v4() == destination.address.is_v4();
  if (!same) {
    out.push_back(static_cast<char>(0x20));  // version 2, LOCAL
    out.push_back(0x00);                     // AF_UNSPEC, UNSPEC
    out.push_back(0x00);
    out.push_back(0x00);
    return out;
  }
  const bool v4 = source.address.is_v4();
  const std::size_t alen = v4 ? 4 : 16;
  const std::size_t len = 2 * alen + 4;
  out.push_back(static_cast<char>(0x21));              // version 2, PROXY
  out.push_back(static_cast<char>(v4 ? 0x11 : 0x21));  // AF_INET(6), STREAM
  out.push_back(static_cast<char>(len >> 8));
  out.push_back(static_cast<char>(len & 0xFF));
  out.append(reinterpret_cast<const char*>(source.address.data()), alen);
  out.append(reinterpret_cast<const char*>(destination.address.data()), alen);
  for (std::uint16_t port : {source.port, destination.port}) {
    out.push_back(static_cast<char>(port >> 8));
    out.push_back(static_cast<char>(port & 0xFF));
  }
  return out;
}

}  // namespace lbd::proxy
