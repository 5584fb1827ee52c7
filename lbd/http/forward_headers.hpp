// The forwarding headers the L7 proxy can write to a backend ([[listener]] forward_headers):
// their bits and config names. Pure (no Beast): the config includes it.
#pragma once

#include <optional>
#include <string_view>

namespace lbd::proxy {

enum ForwardHeader : unsigned {
  kXForwardedFor = 1u << 0,
  kXForwardedProto = 1u << 1,
  kXForwardedHost = 1u << 2,
  kForwarded = 1u << 3,
  kVia = 1u << 4,
};
inline constexpr unsigned kAllForwardHeaders =
    kXForwardedFor | kXForwardedProto | kXForwardedHost | kForwarded | kVia;

/// The bit of a forward_headers name ("x-forwarded-for", "x-forwarded-proto",
/// "x-forwarded-host", "forwarded", "via"; any case), or nullopt for another name.
std::optional<unsigned> forward_header_bit(std::string_view name);

}  // namespace lbd::proxy
