// Transcript MACs (HMAC-SHA256) and HKDF-SHA256 traffic keys (OpenSSL stays in this file).
#include "lbd/replication/handshake.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

namespace lbd::repl {

namespace {

constexpr std::string_view kAuthLabel = "lbpair-repl-v2 auth ";
constexpr std::string_view kKeyLabel = "lbpair-repl-v2 traffic keys";

std::string_view role_name(HandshakeRole role) {
  return role == HandshakeRole::connector ? "connector" : "acceptor";
}

void append_hello(std::vector<std::uint8_t>& out, const Hello& h) {
  std::vector<std::uint8_t> bytes;
  if (!encode(h, bytes)) {
    // Unreachable from the wire (decoded Hellos re-encode); hash the id anyway, never empty.
    bytes.assign(h.node_id.begin(), h.node_id.end());
  }
  // Length-prefixed (u32) so that the two Hellos can never be split differently.
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(bytes.size() >> (8 * i)));
  out.insert(out.end(), bytes.begin(), bytes.end());
}

}  // namespace

Nonce random_nonce() {
  Nonce n{};
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) std::abort();
  return n;
}

TranscriptHash transcript_hash(const Hello& connector_hello, const Hello& acceptor_hello) {
  std::vector<std::uint8_t> msg;
  append_hello(msg, connector_hello);
  append_hello(msg, acceptor_hello);
  TranscriptHash h{};
  SHA256(msg.data(), msg.size(), h.data());
  return h;
}

Mac handshake_mac(std::string_view secret, HandshakeRole role, const TranscriptHash& transcript) {
  std::vector<std::uint8_t> msg(kAuthLabel.begin(), kAuthLabel.end());
  const auto name = role_name(role);
  msg.insert(msg.end(), name.begin(), name.end());
  msg.insert(msg.end(), transcript.begin(), transcript.end());
  Mac mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(),
           mac.data(), &len) == nullptr ||
      len != mac.size()) {
    std::abort();  // only on OpenSSL internal failure; never for any input
  }
  return mac;
}

bool verify_handshake_mac(std::string_view secret, HandshakeRole peer_role,
                          const TranscriptHash& transcript, const Mac& mac) {
  const Mac expected = handshake_mac(secret, peer_role, transcript);
  return CRYPTO_memcmp(expected.data(), mac.data(), expected.size()) == 0;
}

TrafficKeys derive_traffic_keys(std::string_view secret, HandshakeRole own_role,
                                const TranscriptHash& transcript, const Nonce& connector_nonce,
                                const Nonce& acceptor_nonce) {
  std::vector<std::uint8_t> salt(connector_nonce.begin(), connector_nonce.end());
  salt.insert(salt.end(), acceptor_nonce.begin(), acceptor_nonce.end());
  std::vector<std::uint8_t> info(kKeyLabel.begin(), kKeyLabel.end());
  info.insert(info.end(), transcript.begin(), transcript.end());
  std::string ikm(secret);
  char digest[] = "SHA256";

  std::array<std::uint8_t, 64> okm{};
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf != nullptr ? EVP_KDF_CTX_new(kdf) : nullptr;
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ikm.data(), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, salt.data(), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end()};
  const bool ok = ctx != nullptr && EVP_KDF_derive(ctx, okm.data(), okm.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  OPENSSL_cleanse(ikm.data(), ikm.size());
  if (!ok) std::abort();  // OpenSSL without HKDF: nothing can be sealed

  TrafficKey connector_to_acceptor{}, acceptor_to_connector{};
  std::copy(okm.begin(), okm.begin() + 32, connector_to_acceptor.begin());
  std::copy(okm.begin() + 32, okm.end(), acceptor_to_connector.begin());
  OPENSSL_cleanse(okm.data(), okm.size());
  if (own_role == HandshakeRole::connector) return {connector_to_acceptor, acceptor_to_connector};
  return {acceptor_to_connector, connector_to_acceptor};
}

}  // namespace lbd::repl
