#include "lbd/http/http_rewrite.hpp"

#include <array>
#include <string>
#include <vector>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/rfc7230.hpp>

namespace lbd::proxy {

namespace beast = boost::beast;

namespace {

/// A value that may appear bare in a Forwarded element must be a token (RFC 7230 tchar).
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

void append_forwarded_value(std::string& out, std::string_view v) {
  bool token = !v.empty();
  for (char c : v) token = token && is_tchar(c);
  if (token) {
    out += v;
    return;
  }
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

/// Joins every value of `name` with ", " (RFC 9110 §5.3 list combination).
template <typename Fields, typename Name>
std::string joined(const Fields& fields, Name name) {
  std::string out;
  auto [first, last] = fields.equal_range(name);
  for (auto it = first; it != last; ++it) {
    if (!out.empty()) out += ", ";
    out.append(it->value().data(), it->value().size());
  }
  return out;
}

}  // namespace

bool has_obs_fold(std::string_view raw) {
  // A line that starts with SP or HTAB after the start line continues the previous one.
  for (auto pos = raw.find('\n'); pos != std::string_view::npos; pos = raw.find('\n', pos + 1)) {
    if (pos + 1 < raw.size() && (raw[pos + 1] == ' ' || raw[pos + 1] == '\t')) return true;
  }
  return false;
}

template <typename Allocator>
std::optional<std::string_view> check_request_framing(const http::basic_fields<Allocator>& fields,
                                                      unsigned version) {
  const bool has_te = fields.count(http::field::transfer_encoding) > 0;
  const bool has_cl = fields.count(http::field::content_length) > 0;
  if (has_te && has_cl) return "both Transfer-Encoding and Content-Length";
  if (has_te) {
    if (version < 11) return "Transfer-Encoding in an HTTP/1.0 request";
    const auto te = joined(fields, http::field::transfer_encoding);
    http::token_list tokens{te};
    int chunked = 0;
    int codings = 0;
    bool last_chunked = false;
    for (auto t : tokens) {
      last_chunked = beast::iequals(t, "chunked");
      if (last_chunked) ++chunked;
      ++codings;
    }
    if (!last_chunked || chunked != 1) return "Transfer-Encoding without a final chunked";
    // The next hop is told "Transfer-Encoding: chunked" (Framing): a coding before chunked
    // would be lost on the way, so such a request is refused (as HAProxy does).
    if (codings != 1) return "Transfer-Encoding other than chunked";
  }
  if (has_cl) {
    // Beast refuses differing values already; keep the check so the rule holds on its own.
    std::optional<std::string_view> first;
    auto [first_cl, last_cl] = fields.equal_range(http::field::content_length);
    for (auto it = first_cl; it != last_cl; ++it) {
      http::opt_token_list list{it->value()};
      for (auto v : list) {
        std::string_view s(v.data(), v.size());
        if (!first) first = s;
        if (*first != s) return "differing Content-Length values";
      }
    }
    if (!first) return "empty Content-Length";
  }
  return std::nullopt;
}

namespace {

/// The field names listed in the Connection header(s): up to a few inline (a client sends one or
/// two), more spill into a vector.
class ConnectionTokens {
 public:
  void add(std::string_view token) {
    if (inline_count_ < inline_.size()) {
      inline_[inline_count_++] = token;
    } else {
      spill_.push_back(token);
    }
  }
  bool names(std::string_view field) const {
    for (std::size_t i = 0; i < inline_count_; ++i) {
      if (beast::iequals(bsv(inline_[i]), bsv(field))) return true;
    }
    for (auto t : spill_) {
      if (beast::iequals(bsv(t), bsv(field))) return true;
    }
    return false;
  }

 private:
  std::array<std::string_view, 8> inline_{};
  std::size_t inline_count_ = 0;
  std::vector<std::string_view> spill_;
};

bool iequals(std::string_view a, std::string_view b) { return beast::iequals(bsv(a), bsv(b)); }

/// The forwarding headers a request rewrite writes, by ForwardHeader bit (Forwarded and Via
/// have no dash, so no underscore spelling).
constexpr std::array<std::pair<unsigned, std::string_view>, 3> kDashedForwardHeaders{{
    {kXForwardedFor, "X-Forwarded-For"},
    {kXForwardedProto, "X-Forwarded-Proto"},
    {kXForwardedHost, "X-Forwarded-Host"},
}};

/// The headers the rewrite writes itself (from the message's values and the hop's).
enum class Rewritten { none, xff, xf_proto, xf_host, forwarded, via };

/// Which header the rewrite writes itself `f` is, if any: with `forwarding` (a request) the
/// chosen X-Forwarded-* and Forwarded, and Via when chosen (`headers`: ForwardHeader bits).
template <typename Field>
Rewritten rewritten_kind(const Field& f, bool forwarding, unsigned headers) {
  switch (f.name()) {
    case http::field::via:
      return headers & kVia ? Rewritten::via : Rewritten::none;
    case http::field::forwarded:
      return forwarding && headers & kForwarded ? Rewritten::forwarded : Rewritten::none;
    case http::field::unknown: {
      if (!forwarding) return Rewritten::none;
      const auto name = sv(f.name_string());
      if (name.size() < 15 || (name[0] != 'x' && name[0] != 'X')) return Rewritten::none;
      if (headers & kXForwardedFor && iequals(name, "X-Forwarded-For")) return Rewritten::xff;
      if (headers & kXForwardedProto && iequals(name, "X-Forwarded-Proto")) {
        return Rewritten::xf_proto;
      }
      if (headers & kXForwardedHost && iequals(name, "X-Forwarded-Host")) {
        return Rewritten::xf_host;
      }
      return Rewritten::none;
    }
    default:
      return Rewritten::none;
  }
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

/// Appends "Name: v1, v2, " for every kept field of `kind` (nothing when there is none), so the
/// caller only appends its own element and the line end.
template <typename Fields, typename Kept>
void append_joined(std::string& out, const Fields& fields, Rewritten kind, bool forwarding,
                   unsigned headers, std::string_view name, Kept&& kept) {
  out += name;
  out += ": ";
  for (const auto& f : fields) {
    if (rewritten_kind(f, forwarding, headers) != kind || !kept(f)) continue;
    out += sv(f.value());
    out += ", ";
  }
}

}  // namespace

bool underscore_variant(std::string_view name, std::string_view trusted) {
  if (name.size() != trusted.size() || name.find('_') == std::string_view::npos) return false;
  const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char a = name[i] == '_' ? '-' : name[i];
    if (lower(a) != lower(trusted[i])) return false;
  }
  return true;
}

namespace {

/// The headers the Connection header(s) name as hop-by-hop, except those a client must not be
/// able to strip that way: the framing headers and Host (and Upgrade when it is kept).
template <typename Fields>
ConnectionTokens connection_tokens(const Fields& fields, bool keep_upgrade) {
  ConnectionTokens named;
  for (auto [it, end] = fields.equal_range(http::field::connection); it != end; ++it) {
    for (auto token : http::token_list{it->value()}) {
      const auto f = http::string_to_field(token);
      if (f == http::field::content_length || f == http::field::transfer_encoding ||
          f == http::field::host || (f == http::field::upgrade && keep_upgrade)) {
        continue;
      }
      named.add(sv(token));
    }
  }
  return named;
}

/// Whether `name` is an underscore spelling of a header this hop writes, adds or drops as
/// untrusted.
bool spoofs_trusted(std::string_view name, const FieldRewrite& rw) {
  for (auto d : rw.drop) {
    if (underscore_variant(name, d)) return true;
  }
  for (const auto& a : rw.add) {
    if (underscore_variant(name, a.name)) return true;
  }
  if (rw.forward == nullptr) return false;
  for (const auto& [bit, trusted] : kDashedForwardHeaders) {
    if (rw.headers & bit && underscore_variant(name, trusted)) return true;
  }
  return false;
}

/// Which received fields go on to the next hop: not the hop-by-hop ones, not those the rewrite
/// drops or frames itself, not an underscore spelling of a trusted header.
class KeptFields {
 public:
  template <typename Fields>
  KeptFields(const Fields& fields, const FieldRewrite& rw)
      : rw_(rw),
        named_(connection_tokens(fields, rw.keep_upgrade)),
        framed_(rw.framing.kind != Framing::Kind::pass) {}

  template <typename Field>
  bool operator()(const Field& f) const {
    if (hop_by_hop(f.name())) return false;
    const auto name = sv(f.name_string());
    if (named_.names(name)) return false;
    for (auto d : rw_.drop) {
      if (iequals(d, name)) return false;
    }
    return !(f.name() == http::field::unknown && name.find('_') != std::string_view::npos &&
             spoofs_trusted(name, rw_));
  }

 private:
  bool hop_by_hop(http::field name) const {
    switch (name) {
      case http::field::connection:
      case http::field::keep_alive:
      case http::field::proxy_connection:
      case http::field::te:
      case http::field::trailer:
        return true;
      case http::field::upgrade:
        return !rw_.keep_upgrade;
      case http::field::content_length:
      case http::field::transfer_encoding:
        return framed_;
      default:
        return false;
    }
  }

  const FieldRewrite& rw_;
  ConnectionTokens named_;
  bool framed_;
};

/// The kept fields the rewrite does not write itself, the Cookie replacement, and the framing.
template <typename Fields>
void append_passed_fields(std::string& out, const Fields& fields, const FieldRewrite& rw,
                          const KeptFields& kept) {
  const bool forwarding = rw.forward != nullptr;
  for (const auto& f : fields) {
    if (!kept(f) || rewritten_kind(f, forwarding, rw.headers) != Rewritten::none) continue;
    if (rw.cookie && f.name() == http::field::cookie) continue;
    append_field(out, sv(f.name_string()), sv(f.value()));
  }
  if (rw.cookie && !rw.cookie->empty() && fields.count(http::field::cookie) > 0) {
    append_field(out, "Cookie", *rw.cookie);
  }
  switch (rw.framing.kind) {
    case Framing::Kind::length:
      out += "Content-Length: ";
      out += std::to_string(rw.framing.length);
      out += "\r\n";
      break;
    case Framing::Kind::chunked:
      out += "Transfer-Encoding: chunked\r\n";
      break;
    case Framing::Kind::pass:
    case Framing::Kind::none:
      break;
  }
}

/// X-Forwarded-For (appended to), X-Forwarded-Proto, X-Forwarded-Host and Forwarded (appended
/// to), each when chosen in rw.headers.
template <typename Fields>
void append_forwarding(std::string& out, const Fields& fields, const FieldRewrite& rw,
                       const KeptFields& kept) {
  const auto& info = *rw.forward;
  const auto client = info.client.unmapped();
  std::string formatted;
  std::string_view client_text = info.client_text;
  if (client_text.empty()) {
    formatted = client.to_string();
    client_text = formatted;
  }
  if (rw.headers & kXForwardedFor) {
    append_joined(out, fields, Rewritten::xff, true, rw.headers, "X-Forwarded-For", kept);
    out += client_text;
    out += "\r\n";
  }
  if (rw.headers & kXForwardedProto) append_field(out, "X-Forwarded-Proto", info.proto);
  if (rw.headers & kXForwardedHost && !info.host.empty()) {
    append_field(out, "X-Forwarded-Host", info.host);
  }
  // RFC 7239 §4: forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] ); an IPv6
  // node is "[...]" and so must be a quoted-string (§6).
  if (rw.headers & kForwarded) {
    append_joined(out, fields, Rewritten::forwarded, true, rw.headers, "Forwarded", kept);
    out += "for=";
    if (client.is_v6()) {
      append_forwarded_value(out, "[" + std::string(client_text) + "]");
    } else {
      append_forwarded_value(out, client_text);
    }
    if (!info.host.empty()) {
      out += ";host=";
      append_forwarded_value(out, info.host);
    }
    out += ";proto=";
    append_forwarded_value(out, info.proto);
    out += "\r\n";
  }
}

}  // namespace

template <typename Allocator>
void append_rewritten_fields(std::string& out, const http::basic_fields<Allocator>& fields,
                             const FieldRewrite& rw) {
  const KeptFields kept(fields, rw);
  const bool forwarding = rw.forward != nullptr;
  append_passed_fields(out, fields, rw, kept);
  if (forwarding) append_forwarding(out, fields, rw, kept);
  if (rw.headers & kVia) {
    append_joined(out, fields, Rewritten::via, forwarding, rw.headers, "Via", kept);
    out += rw.via_version >= 20 ? "2 " : rw.via_version >= 11 ? "1.1 " : "1.0 ";
    out += rw.via_name;
    out += "\r\n";
  }
  for (const auto& a : rw.add) append_field(out, a.name, a.value);
  if (!rw.connection.empty()) append_field(out, "Connection", rw.connection);
  out += "\r\n";
}

// Beast's default container (HTTP/2 streams, health checks) and the L7 session's.
template std::optional<std::string_view> check_request_framing(const http::fields&, unsigned);
template std::optional<std::string_view> check_request_framing(const HeaderFields&, unsigned);
template void append_rewritten_fields(std::string&, const http::fields&, const FieldRewrite&);
template void append_rewritten_fields(std::string&, const HeaderFields&, const FieldRewrite&);

}  // namespace lbd::proxy
