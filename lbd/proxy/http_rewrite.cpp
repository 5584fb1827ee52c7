#include "lbd/proxy/http_rewrite.hpp"

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

beast::string_view bsv(std::string_view s) { return {s.data(), s.size()}; }

/// Joins every value of `name` with ", " (RFC 9110 §5.3 list combination).
template <typename Name>
std::string joined(const http::fields& fields, Name name) {
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

std::optional<std::string_view> check_request_framing(const http::fields& fields,
                                                      unsigned version) {
  const bool has_te = fields.count(http::field::transfer_encoding) > 0;
  const bool has_cl = fields.count(http::field::content_length) > 0;
  if (has_te && has_cl) return "both Transfer-Encoding and Content-Length";
  if (has_te) {
    if (version < 11) return "Transfer-Encoding in an HTTP/1.0 request";
    const auto te = joined(fields, http::field::transfer_encoding);
    http::token_list tokens{te};
    int chunked = 0;
    bool last_chunked = false;
    for (auto t : tokens) {
      last_chunked = beast::iequals(t, "chunked");
      if (last_chunked) ++chunked;
    }
    if (!last_chunked || chunked != 1) return "Transfer-Encoding without a final chunked";
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

void remove_hop_by_hop(http::fields& fields, bool keep_upgrade) {
  // Collect the names first: erasing while reading Connection's value would invalidate it.
  std::vector<std::string> named;
  auto [first, last] = fields.equal_range(http::field::connection);
  for (auto it = first; it != last; ++it) {
    for (auto token : http::token_list{it->value()}) named.emplace_back(token.data(), token.size());
  }
  for (const auto& name : named) {
    const auto f = http::string_to_field(bsv(name));
    if (f == http::field::content_length || f == http::field::transfer_encoding ||
        f == http::field::host) {
      continue;
    }
    if (f == http::field::upgrade && keep_upgrade) continue;
    fields.erase(bsv(name));
  }
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::proxy_connection);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  if (!keep_upgrade) fields.erase(http::field::upgrade);
}

void add_forwarding_headers(http::fields& fields, const ForwardInfo& info) {
  const auto client = info.client.unmapped();
  std::string formatted;
  std::string_view client_text = info.client_text;
  if (client_text.empty()) {
    formatted = client.to_string();
    client_text = formatted;
  }

  auto xff = joined(fields, bsv("X-Forwarded-For"));
  if (!xff.empty()) xff += ", ";
  xff += client_text;
  fields.set(bsv("X-Forwarded-For"), bsv(xff));
  fields.set(bsv("X-Forwarded-Proto"), bsv(info.proto));
  if (info.host.empty()) {
    fields.erase(bsv("X-Forwarded-Host"));
  } else {
    fields.set(bsv("X-Forwarded-Host"), bsv(info.host));
  }

  // RFC 7239 §4: forwarded-element = [ forwarded-pair ] *( ";" [ forwarded-pair ] ); an IPv6
  // node is "[...]" and so must be a quoted-string (§6).
  auto forwarded = joined(fields, http::field::forwarded);
  if (!forwarded.empty()) forwarded += ", ";
  forwarded += "for=";
  if (client.is_v6()) {
    append_forwarded_value(forwarded, "[" + std::string(client_text) + "]");
  } else {
    append_forwarded_value(forwarded, client_text);
  }
  if (!info.host.empty()) {
    forwarded += ";host=";
    append_forwarded_value(forwarded, info.host);
  }
  forwarded += ";proto=";
  append_forwarded_value(forwarded, info.proto);
  fields.set(http::field::forwarded, bsv(forwarded));

  add_via(fields, info.version, info.via_name);
}

void add_via(http::fields& fields, unsigned version, std::string_view via_name) {
  // RFC 9110 §7.6.3: received-protocol is the version of the message as received.
  auto via = joined(fields, http::field::via);
  if (!via.empty()) via += ", ";
  via += version >= 11 ? "1.1 " : "1.0 ";
  via += via_name;
  fields.set(http::field::via, bsv(via));
}

}  // namespace lbd::proxy
