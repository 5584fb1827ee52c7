#include "lbd/telemetry/access_log_format.hpp"

#include <ctime>

#include <fmt/format.h>

namespace lbd::admin {
namespace {

enum Field {
  kTime,
  kKind,
  kClient,
  kListener,
  kRoute,
  kPool,
  kServer,
  kMethod,
  kTarget,
  kStatus,
  kBytesIn,
  kBytesOut,
  kConnectMs,
  kFirstByteMs,
  kTotalMs,
  kSticky,
  kTlsVersion,
  kTlsCipher,
  kFieldCount
};

const std::vector<std::string_view> kNames{
    "time",       "kind",          "client",   "listener", "route",       "pool",
    "server",     "method",        "target",   "status",   "bytes_in",    "bytes_out",
    "connect_ms", "first_byte_ms", "total_ms", "sticky",   "tls_version", "tls_cipher"};

std::string time_text(std::chrono::system_clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
}

std::string ms_text(std::chrono::nanoseconds d) {
  return fmt::format("{:.3f}", static_cast<double>(d.count()) / 1e6);
}

// Length of the valid UTF-8 sequence at s[i], or 0 when the bytes there are not valid UTF-8.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  std::size_t n;
  std::uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
    return 0;
  }
  return n;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      const auto n = utf8_length(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7F) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", u);
        } else {
          out += c;
        }
    }
    ++i;
  }
  out += '"';
}

const std::vector<std::string_view>& AccessLogFormat::field_names() { return kNames; }

std::expected<AccessLogFormat, std::string> AccessLogFormat::compile(std::string_view spec) {
  AccessLogFormat f;
  if (spec == "json") return f;
  f.json_ = false;
  Segment seg;
  for (std::size_t i = 0; i < spec.size(); ++i) {
    const char c = spec[i];
    if (c == '{' && i + 1 < spec.size() && spec[i + 1] == '{') {
      seg.literal += '{';
      ++i;
    } else if (c == '}' && i + 1 < spec.size() && spec[i + 1] == '}') {
      seg.literal += '}';
      ++i;
    } else if (c == '{') {
      const auto close = spec.find('}', i);
      if (close == std::string_view::npos) return std::unexpected("unclosed '{' in the format");
      const auto name = spec.substr(i + 1, close - i - 1);
      int index = -1;
      for (std::size_t k = 0; k < kNames.size(); ++k) {
        if (kNames[k] == name) index = static_cast<int>(k);
      }
      if (index < 0) {
        std::string valid;
        for (auto n : kNames) valid += fmt::format("{}{}", valid.empty() ? "" : ", ", n);
        return std::unexpected(
            fmt::format("unknown field {{{}}} in the format; fields: {}", name, valid));
      }
      seg.field = index;
      f.segments_.push_back(std::move(seg));
      seg = Segment{};
      i = close;
    } else if (c == '}') {
      return std::unexpected("unmatched '}' in the format (write }} for a literal brace)");
    } else {
      seg.literal += c;
    }
  }
  if (!seg.literal.empty()) f.segments_.push_back(std::move(seg));
  return f;
}

namespace {

// Text of a field as a template writes it (absent values as "-").
std::string field_text(const AccessRecord& r, int field) {
  auto or_dash = [](std::string_view v) { return v.empty() ? std::string("-") : std::string(v); };
  switch (field) {
    case kTime:
      return time_text(r.time);
    case kKind:
      return or_dash(r.kind);
    case kClient:
      return or_dash(r.client);
    case kListener:
      return or_dash(r.listener);
    case kRoute:
      return or_dash(r.route);
    case kPool:
      return or_dash(r.pool);
    case kServer:
      return or_dash(r.server);
    case kMethod:
      return or_dash(r.method);
    case kTarget:
      return or_dash(r.target);
    case kStatus:
      return r.status ? std::to_string(r.status) : "-";
    case kBytesIn:
      return std::to_string(r.bytes_in);
    case kBytesOut:
      return std::to_string(r.bytes_out);
    case kConnectMs:
      return r.connect ? ms_text(*r.connect) : "-";
    case kFirstByteMs:
      return r.first_byte ? ms_text(*r.first_byte) : "-";
    case kTotalMs:
      return ms_text(r.total);
    case kSticky:
      return or_dash(r.sticky);
    case kTlsVersion:
      return or_dash(r.tls_version);
    case kTlsCipher:
      return or_dash(r.tls_cipher);
    default:
      return {};
  }
}

// The record as one JSON object on one line (absent values as null), appended to `out`.
void append_json_record(std::string& out, const AccessRecord& r) {
  auto key = [&out](std::string_view k) {
    out += out.size() > 1 ? ",\"" : "\"";
    out += k;
    out += "\":";
  };
  auto str = [&](std::string_view k, std::string_view v) {
    key(k);
    append_json_string(out, v);
  };
  auto opt_ms = [&](std::string_view k, const std::optional<std::chrono::nanoseconds>& d) {
    key(k);
    out += d ? ms_text(*d) : "null";
  };
  out += '{';
  str("time", time_text(r.time));
  str("kind", r.kind);
  str("client", r.client);
  str("listener", r.listener);
  str("route", r.route);
  str("pool", r.pool);
  str("server", r.server);
  str("method", r.method);
  str("target", r.target);
  key("status");
  out += r.status ? std::to_string(r.status) : "null";
  key("bytes_in");
  out += std::to_string(r.bytes_in);
  key("bytes_out");
  out += std::to_string(r.bytes_out);
  opt_ms("connect_ms", r.connect);
  opt_ms("first_byte_ms", r.first_byte);
  key("total_ms");
  out += ms_text(r.total);
  str("sticky", r.sticky);
  str("tls_version", r.tls_version);
  str("tls_cipher", r.tls_cipher);
  out += "}\n";
}

}  // namespace

std::string AccessLogFormat::format(const AccessRecord& r) const {
  std::string out;
  out.reserve(256);
  if (json_) {
    append_json_record(out, r);
    return out;
  }
  for (const auto& seg : segments_) {
    out += seg.literal;
    if (seg.field >= 0) {
      // Control characters would break the one-line-per-record property: replace them.
      for (char c : field_text(r, seg.field)) {
        out += static_cast<unsigned char>(c) < 0x20 || c == 0x7F ? '?' : c;
      }
    }
  }
  out += '\n';
  return out;
}

}  // namespace lbd::admin
