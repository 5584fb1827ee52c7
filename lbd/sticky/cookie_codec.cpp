// HMAC-signed persistence cookie values (OpenSSL HMAC, CRYPTO_memcmp, EVP base64).
#include "lbd/sticky/cookie_codec.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <cstdlib>

namespace lbd {

namespace {

// Format 1 had no scope in the MAC: such cookies are refused (a client is re-picked once).
constexpr std::uint8_t kFormat = 2;
constexpr std::size_t kMacSize = 32;
constexpr std::size_t kFixed = 1 + 8 + 1;  // format, issue time, name length

std::array<unsigned char, kMacSize> mac_of(std::string_view key, std::string_view data) {
  std::array<unsigned char, kMacSize> mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
           &len) == nullptr ||
      len != kMacSize) {
    std::abort();  // only on an OpenSSL internal failure
  }
  return mac;
}

bool is_b64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  // EVP_DecodeBlock skips whitespace and accepts '+' '/' '=': check the alphabet ourselves first.
  if (text.size() % 4 == 1) return std::nullopt;
  for (char c : text) {
    if (!is_b64url(c)) return std::nullopt;
  }
  std::string std_b64(text);
  for (char& c : std_b64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  const std::size_t pad = (4 - std_b64.size() % 4) % 4;
  std_b64.append(pad, '=');
  std::string out(std_b64.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(std_b64.data()),
                                static_cast<int>(std_b64.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes; drop them.
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

CookieCodec::CookieCodec(std::vector<std::string> keys, std::string scope,
                         std::chrono::seconds max_age, std::chrono::seconds max_skew)
    : keys_(std::move(keys)), scope_(std::move(scope)), max_age_(max_age), max_skew_(max_skew) {
  if (scope_.size() > 255) scope_.resize(255);  // pool names are ≤ 64 bytes by config
}

std::string CookieCodec::mac_input(std::string_view signed_part) const {
  std::string in;
  in.reserve(1 + scope_.size() + signed_part.size());
  in.push_back(static_cast<char>(scope_.size()));
  in.append(scope_);
  in.append(signed_part);
  return in;
}

std::string CookieCodec::encode(std::string_view server,
                                std::chrono::system_clock::time_point now) const {
  const auto secs = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  std::string payload;
  payload.reserve(kFixed + server.size() + kMacSize);
  payload.push_back(static_cast<char>(kFormat));
  for (int i = 7; i >= 0; --i) payload.push_back(static_cast<char>(secs >> (8 * i)));
  const std::string_view name = server.substr(0, 255);  // names are ≤ 255 bytes by config
  payload.push_back(static_cast<char>(name.size()));
  payload.append(name);
  const auto mac = mac_of(keys_.empty() ? std::string_view() : keys_.front(), mac_input(payload));
  payload.append(reinterpret_cast<const char*>(mac.data()), mac.size());
  return base64url_encode(payload);
}

CookieCodec::Verified CookieCodec::verify(std::string_view value,
                                          std::chrono::system_clock::time_point now) const {
  Verified v;
  // A name is at most 255 bytes: anything longer than the largest cookie is refused unread.
  constexpr std::size_t kMaxText = (kFixed + 255 + kMacSize + 2) / 3 * 4;
  if (value.size() > kMaxText) {
    v.error = CookieError::malformed;
    return v;
  }
  auto bytes = base64url_decode(value);
  if (!bytes || bytes->size() < kFixed + 1 + kMacSize ||
      static_cast<std::uint8_t>((*bytes)[0]) != kFormat) {
    v.error = CookieError::malformed;
    return v;
  }
  const std::size_t name_len = static_cast<std::uint8_t>((*bytes)[9]);
  if (name_len == 0 || bytes->size() != kFixed + name_len + kMacSize) {
    v.error = CookieError::malformed;
    return v;
  }
  const std::string_view signed_part(bytes->data(), kFixed + name_len);
  const auto* given = reinterpret_cast<const unsigned char*>(bytes->data() + signed_part.size());
  bool ok = false;
  const auto input = mac_input(signed_part);
  for (const auto& key : keys_) {
    const auto mac = mac_of(key, input);
    // Check every key (no early exit) so timing does not reveal which key matched.
    ok |= CRYPTO_memcmp(mac.data(), given, kMacSize) == 0;
  }
  if (!ok) {
    v.error = CookieError::bad_mac;
    return v;
  }
  std::uint64_t secs = 0;
  for (std::size_t i = 1; i <= 8; ++i) secs = (secs << 8) | static_cast<std::uint8_t>((*bytes)[i]);
  // Bound before converting to nanoseconds (2^40 s is ~34,800 years; the conversion can't
  // overflow).
  if (secs > (std::uint64_t{1} << 40)) {
    v.error = CookieError::from_future;
    return v;
  }
  const auto issued = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(static_cast<std::int64_t>(secs))));
  if (issued > now + max_skew_) {
    v.error = CookieError::from_future;
    return v;
  }
  if (max_age_.count() > 0 && now - issued > max_age_) {
    v.error = CookieError::expired;
    return v;
  }
  v.claims = CookieClaims{std::string(bytes->substr(kFixed, name_len)), issued};
  return v;
}

}  // namespace lbd
