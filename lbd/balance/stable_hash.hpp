// The one hash of balancing keys (client IPs, header and cookie values, paths) and of backend
// names on the ring and in the Maglev table. Its output is part of the protocol between the two
// nodes: both must map a key to the same backend, so it must never change between builds.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/net/ip_address.hpp"

namespace lbd {

/// splitmix64's finaliser (Stafford variant 13): a bijective 64-bit mixer with full avalanche.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// A stable 64-bit hash of `bytes`: FNV-1a 64 over the bytes (seed folded into the offset basis),
/// then `mix64`. Why this one: it is defined by four published constants and reads bytes in
/// order, so it gives the same value on every node, compiler, endianness and library version
/// (unlike std::hash, which may change between builds, and unlike a dependency whose output could
/// change under a package upgrade during a rolling update); FNV-1a alone has weak high-to-low bit
/// diffusion, which the finaliser fixes. Keys are short, so ~1 ns/byte is plenty. Golden values
/// in tests/unit/lbd/balance/stable_hash_test.cpp pin the output. Pure, thread-safe.
constexpr std::uint64_t stable_hash(std::string_view bytes, std::uint64_t seed = 0) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

/// The hash of a client address for `hash_key = "source_ip"`: its 4 (IPv4, also for v4-mapped
/// IPv6) or 16 network-order bytes through `stable_hash`. Pure, thread-safe.
std::uint64_t hash_address(const lb::IpAddress& address);

}  // namespace lbd
