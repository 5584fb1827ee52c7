// SipHash (Aumasson & Bernstein, 2012): a keyed hash for tables whose keys clients choose (header
// and cookie stick keys), so nobody can precompute keys that all collide in one shard's probe
// chain. SipHash-1-3 for tables (as Rust and Python use), 2-4 for the reference test vectors.
// OpenSSL has SipHash only behind EVP_MAC, which allocates per call: too heavy per lookup.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace lbd {

using SipKey = std::array<std::uint64_t, 2>;

/// SipHash-c-d of `data` under `key` (k0 = key[0], k1 = key[1], little-endian as the paper).
template <int C, int D>
std::uint64_t siphash(const SipKey& key, std::string_view data);

inline std::uint64_t siphash13(const SipKey& key, std::string_view data) {
  return siphash<1, 3>(key, data);
}
inline std::uint64_t siphash24(const SipKey& key, std::string_view data) {
  return siphash<2, 4>(key, data);
}

/// A fresh random key (std::random_device), for tables that were not given one.
SipKey random_sip_key();

}  // namespace lbd
