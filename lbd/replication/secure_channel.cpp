// ChaCha20-Poly1305 record layer of the replication channel (OpenSSL EVP stays in this file).
#include "lbd/replication/secure_channel.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <limits>

namespace lbd::repl {

namespace {

constexpr std::size_t kNonceSize = 12;

std::uint32_t read_be32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         std::uint32_t{p[3]};
}

void write_be32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * (3 - i)));
}

}  // namespace

// ---- AeadDirection ----------------------------------------------------------------------------

AeadDirection::AeadDirection(const TrafficKey& key, bool sealing, std::uint64_t first_sequence)
    : ctx_(EVP_CIPHER_CTX_new()), sealing_(sealing), sequence_(first_sequence) {
  // The key is set once; each frame only sets its nonce.
  const int ok =
      ctx_ == nullptr ? 0
      : sealing ? EVP_EncryptInit_ex(ctx_, EVP_chacha20_poly1305(), nullptr, key.data(), nullptr)
                : EVP_DecryptInit_ex(ctx_, EVP_chacha20_poly1305(), nullptr, key.data(), nullptr);
  if (ok != 1) std::abort();  // OpenSSL without ChaCha20-Poly1305: nothing can be sealed
}

AeadDirection::~AeadDirection() { EVP_CIPHER_CTX_free(ctx_); }

bool AeadDirection::seal(std::span<const std::uint8_t, 4> aad, std::uint8_t* data, std::size_t n,
                         std::uint8_t* tag) {
  // The last value is never used, so the count cannot wrap to a nonce already used.
  if (!sealing_ || sequence_ == std::numeric_limits<std::uint64_t>::max()) return false;
  std::uint8_t nonce[kNonceSize] = {};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(sequence_ >> (8 * (7 - i)));
  int len = 0;
  if (EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_EncryptUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_EncryptUpdate(ctx_, data, &len, data, static_cast<int>(n)) != 1 ||
      EVP_EncryptFinal_ex(ctx_, data + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kTagSize), tag) != 1) {
    return false;
  }
  ++sequence_;
  return true;
}

bool AeadDirection::open(std::span<const std::uint8_t, 4> aad, std::uint8_t* data, std::size_t n,
                         const std::uint8_t* tag) {
  if (sealing_ || sequence_ == std::numeric_limits<std::uint64_t>::max()) return false;
  std::uint8_t nonce[kNonceSize] = {};
  for (int i = 0; i < 8; ++i) nonce[4 + i] = static_cast<std::uint8_t>(sequence_ >> (8 * (7 - i)));
  std::uint8_t expected[kTagSize];
  std::memcpy(expected, tag, kTagSize);
  int len = 0;
  if (EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_DecryptUpdate(ctx_, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx_, data, &len, data, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kTagSize), expected) != 1 ||
      EVP_DecryptFinal_ex(ctx_, data + len, &len) != 1) {
    return false;
  }
  ++sequence_;
  return true;
}

// ---- SecureChannel ----------------------------------------------------------------------------

SecureChannel::SecureChannel() = default;
SecureChannel::~SecureChannel() = default;

void SecureChannel::install(const TrafficKeys& keys) {
  sealer_.emplace(keys.send, true);
  opener_.emplace(keys.receive, false);
}

void SecureChannel::open_incoming() { opening_ = true; }

WriteStatus SecureChannel::write(const Frame& frame, std::vector<std::uint8_t>& out) {
  const bool handshake =
      std::holds_alternative<Hello>(frame) || std::holds_alternative<Auth>(frame);
  if (!sealing_) {
    if (!handshake) return WriteStatus::not_sealed;
    if (!encode(frame, out)) return WriteStatus::unencodable;
    // Our Auth is the last frame we send in clear.
    if (std::holds_alternative<Auth>(frame) && sealer_) sealing_ = true;
    return WriteStatus::ok;
  }
  const std::size_t start = out.size();
  if (!encode(frame, out)) return WriteStatus::unencodable;
  const std::size_t n = out.size() - start - kHeaderSize;
  out.resize(out.size() + kTagSize);
  std::uint8_t* header = out.data() + start;
  write_be32(header, static_cast<std::uint32_t>(n + kTagSize));
  if (!sealer_->seal(std::span<const std::uint8_t, 4>(header, 4), header + kHeaderSize, n,
                     header + kHeaderSize + n)) {
    out.resize(start);
    return WriteStatus::exhausted;
  }
  return WriteStatus::ok;
}

void SecureChannel::feed(std::span<const std::uint8_t> bytes) {
  if (error_) return;
  // Compact lazily: only when the consumed prefix outweighs what is left.
  if (offset_ > 0 && offset_ >= buffer_.size() - offset_) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(offset_));
    offset_ = 0;
  }
  buffer_.insert(buffer_.end(), bytes.begin(), bytes.end());
}

ChannelResult SecureChannel::fail(ChannelResult error) {
  error_ = error;
  buffer_.clear();
  offset_ = 0;
  return error;
}

ChannelResult SecureChannel::next() {
  if (error_) return *error_;
  const std::span<std::uint8_t> in = std::span(buffer_).subspan(offset_);
  auto consume = [&](std::size_t n) {
    offset_ += n;
    if (offset_ == buffer_.size()) {
      buffer_.clear();
      offset_ = 0;
    }
  };

  if (!opening_) {
    // Before the peer has proved the secret only small handshake frames are read.
    auto r = decode(in, kMaxHandshakeFrameSize);
    if (auto* d = std::get_if<Decoded>(&r)) {
      consume(d->consumed);
      return std::move(*d);
    }
    if (auto* e = std::get_if<DecodeError>(&r)) return fail(std::move(*e));
    return std::get<NeedMore>(r);
  }

  if (in.size() < kHeaderSize) return NeedMore{kHeaderSize - in.size()};
  const std::uint32_t length = read_be32(in.data());
  // The length is not authenticated until the tag checks; judge it before waiting for it.
  if (length <= kTagSize || length > kMaxSealedSize) {
    return fail(IntegrityError{"sealed frame length " + std::to_string(length) + " out of bounds"});
  }
  if (in.size() - kHeaderSize < length) return NeedMore{kHeaderSize + length - in.size()};
  const std::size_t n = length - kTagSize;
  std::uint8_t aad[kHeaderSize];
  std::memcpy(aad, in.data(), kHeaderSize);
  std::uint8_t* data = in.data() + kHeaderSize;
  if (!opener_ || !opener_->open(std::span<const std::uint8_t, 4>(aad, 4), data, n, data + n)) {
    return fail(IntegrityError{
        "sealed frame failed authentication (tampered, replayed, reordered or truncated)"});
  }
  // Authentic: decode the plaintext as a clear frame of length n.
  write_be32(in.data(), static_cast<std::uint32_t>(n));
  auto r = decode(in.first(kHeaderSize + n));
  if (auto* d = std::get_if<Decoded>(&r)) {
    if (d->consumed != kHeaderSize + n) return fail(DecodeError{"sealed frame length mismatch"});
    d->consumed = kHeaderSize + length;
    consume(kHeaderSize + length);
    return std::move(*d);
  }
  if (auto* e = std::get_if<DecodeError>(&r)) return fail(std::move(*e));
  return fail(DecodeError{"sealed frame shorter than its body"});
}

}  // namespace lbd::repl
