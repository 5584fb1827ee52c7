#include "lbd/session/pick_hash.hpp"

#include "lbd/balance/stable_hash.hpp"
#include "lbd/sticky/key_derivation.hpp"

namespace lbd::proxy {

bool uses_hash(Algorithm a) {
  return a == Algorithm::source_hash || a == Algorithm::ring_hash || a == Algorithm::maglev;
}

std::optional<std::uint64_t> pick_hash(const BalanceOptions& options, const HashInputs& in) {
  if (!uses_hash(options.algorithm)) return std::nullopt;
  switch (options.hash_key.kind) {
    case HashKey::Kind::source_ip:
      if (!in.client) return std::nullopt;
      return hash_address(*in.client);
    case HashKey::Kind::header:
      if (!in.header || in.header->empty()) return std::nullopt;
      return stable_hash(*in.header);
    case HashKey::Kind::cookie: {
      if (!in.cookie_header) return std::nullopt;
      auto value = stick_key::cookie_value(*in.cookie_header, options.hash_key.name);
      if (!value) return std::nullopt;
      return stable_hash(*value);
    }
    case HashKey::Kind::path:
      return stable_hash(in.path);
  }
  return std::nullopt;
}

}  // namespace lbd::proxy
