// Text form of the `hash_key` pool setting: "source_ip", "header:NAME", "cookie:NAME", "path".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "lbd/balance/options.hpp"

namespace lbd {

/// Parses a hash_key setting. nullopt when the form is unknown or the header/cookie name is empty
/// or not an RFC 9110 token.
std::optional<HashKey> parse_hash_key(std::string_view text);

/// The config text of `key` (inverse of parse_hash_key).
std::string to_string(const HashKey& key);

}  // namespace lbd
