// HMAC-SHA256 handshake MACs for the replication channel (OpenSSL stays in this file).
#include "lbd/replication/handshake.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <vector>

namespace lbd::repl {

namespace {

void append(std::vector<std::uint8_t>& m, std::string_view s) {
  // Length-prefixed so that ("ab","c") and ("a","bc") never give the same input.
  m.push_back(static_cast<std::uint8_t>(s.size()));
  m.insert(m.end(), s.begin(), s.end());
}

}  // namespace

Nonce random_nonce() {
  Nonce n{};
  if (RAND_bytes(n.data(), static_cast<int>(n.size())) != 1) std::abort();
  return n;
}

Mac handshake_mac(std::string_view secret, HandshakeRole own_role, std::string_view own_node_id,
                  std::string_view peer_node_id, const Nonce& own_nonce, const Nonce& peer_nonce) {
  std::vector<std::uint8_t> msg;
  append(msg, "lbpair-repl-v1");
  append(msg, own_role == HandshakeRole::connector ? "connector" : "acceptor");
  append(msg, own_node_id);
  append(msg, peer_node_id);
  msg.insert(msg.end(), own_nonce.begin(), own_nonce.end());
  msg.insert(msg.end(), peer_nonce.begin(), peer_nonce.end());
  Mac mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), msg.data(), msg.size(),
           mac.data(), &len) == nullptr ||
      len != mac.size()) {
    std::abort();  // only on OpenSSL internal failure; never for any input
  }
  return mac;
}

bool verify_peer_mac(std::string_view secret, HandshakeRole own_role, std::string_view own_node_id,
                     std::string_view peer_node_id, const Nonce& own_nonce, const Nonce& peer_nonce,
                     const Mac& peer_mac) {
  const HandshakeRole peer_role =
      own_role == HandshakeRole::connector ? HandshakeRole::acceptor : HandshakeRole::connector;
  const Mac expected =
      handshake_mac(secret, peer_role, peer_node_id, own_node_id, peer_nonce, own_nonce);
  return CRYPTO_memcmp(expected.data(), peer_mac.data(), expected.size()) == 0;
}

}  // namespace lbd::repl
