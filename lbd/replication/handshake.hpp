// The cryptography of the replication handshake: the transcript MACs that prove knowledge of the
// shared secret, and the per-session traffic keys derived from it.
//
// Order (the connector is the node that dialled):
//   connector → Hello_C   acceptor → Hello_A   connector → Auth_C   acceptor → Auth_A
// Auth_X = HMAC-SHA256(secret, "lbpair-repl-v2 auth <role>" · SHA-256(Hello_C ‖ Hello_A)), over
// the exact encoded Hellos, so every Hello field (version, node ids, incarnations, nonces, resume
// incarnation) is bound. The acceptor, which anybody can reach, proves nothing before the
// connector has proved knowledge of the secret: a stranger who connects learns no MAC it could
// use to guess the secret offline. Frames after each side's Auth are sealed (secure_channel.hpp)
// with keys from HKDF-SHA256(secret, salt = nonce_C ‖ nonce_A, info = label · transcript hash).
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "lbd/replication/wire.hpp"

namespace lbd::repl {

/// Which end of the TCP connection a node is: the MAC input differs so one side's Auth is never
/// valid for the other.
enum class HandshakeRole { connector, acceptor };

using TranscriptHash = std::array<std::uint8_t, 32>;
using TrafficKey = std::array<std::uint8_t, 32>;

/// One session's keys, from one node's point of view.
struct TrafficKeys {
  TrafficKey send{};
  TrafficKey receive{};
};

/// Fresh random nonce (OpenSSL RAND_bytes). Thread-safe. Aborts only if the CSPRNG fails.
Nonce random_nonce();

/// SHA-256 over the encodings of both Hellos (each u32-length-prefixed), the connector's first.
TranscriptHash transcript_hash(const Hello& connector_hello, const Hello& acceptor_hello);

/// The Auth MAC that `role` sends for this transcript. Thread-safe.
Mac handshake_mac(std::string_view secret, HandshakeRole role, const TranscriptHash& transcript);

/// Checks the Auth that the node in `peer_role` sent, in constant time.
bool verify_handshake_mac(std::string_view secret, HandshakeRole peer_role,
                          const TranscriptHash& transcript, const Mac& mac);

/// The traffic keys of `own_role` for this session (the connector's send key is the acceptor's
/// receive key and the other way round).
TrafficKeys derive_traffic_keys(std::string_view secret, HandshakeRole own_role,
                                const TranscriptHash& transcript, const Nonce& connector_nonce,
                                const Nonce& acceptor_nonce);

}  // namespace lbd::repl
