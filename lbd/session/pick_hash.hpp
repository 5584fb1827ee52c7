// PickContext::hash from a pool's `hash_key` (source_ip, header:NAME, cookie:NAME, path) for the
// hashing algorithms (source_hash, ring_hash, maglev), and the least_time latency feed. Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "common/net/ip_address.hpp"
#include "lbd/balance/options.hpp"

namespace lbd::proxy {

/// True when `a` uses PickContext::hash.
bool uses_hash(Algorithm a);

/// What a request offers as hash keys; fields the session does not have stay empty.
struct HashInputs {
  const lb::IpAddress* client = nullptr;
  std::optional<std::string_view> header;         // value of the configured header, if present
  std::optional<std::string_view> cookie_header;  // the request's Cookie header, if present
  std::string_view path;
};

/// The hash of the configured key, or nullopt when the pool does not hash or the request lacks
/// the key (then the balancer picks without a key). Stable across nodes and restarts.
std::optional<std::uint64_t> pick_hash(const BalanceOptions& options, const HashInputs& in);

}  // namespace lbd::proxy
