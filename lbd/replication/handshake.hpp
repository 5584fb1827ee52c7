// The HMAC challenge-response that authenticates a replication peer with a shared secret.
// Both sides send Hello{node_id, fresh nonce}; each then sends Auth{mac} computed over its own and
// the peer's node id and nonce and its role, and checks the peer's Auth. Without the secret a peer
// cannot answer a fresh nonce, and a MAC cannot be reflected (the sender's id and role come first).
#pragma once

#include <string_view>

#include "lbd/replication/wire.hpp"

namespace lbd::repl {

/// Which end of the TCP connection a node is: the MAC input differs so one side's Auth is never
/// valid for the other.
enum class HandshakeRole { connector, acceptor };

/// Fresh random nonce (OpenSSL RAND_bytes). Thread-safe. Aborts only if the CSPRNG fails.
Nonce random_nonce();

/// HMAC-SHA256(secret, "lbpair-repl-v1" · role · len-prefixed own id · peer id · own nonce · peer
/// nonce). Thread-safe.
Mac handshake_mac(std::string_view secret, HandshakeRole own_role, std::string_view own_node_id,
                  std::string_view peer_node_id, const Nonce& own_nonce, const Nonce& peer_nonce);

/// Checks the peer's Auth: recomputes the peer's MAC from its point of view and compares in
/// constant time.
bool verify_peer_mac(std::string_view secret, HandshakeRole own_role, std::string_view own_node_id,
                     std::string_view peer_node_id, const Nonce& own_nonce, const Nonce& peer_nonce,
                     const Mac& peer_mac);

}  // namespace lbd::repl
