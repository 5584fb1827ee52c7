// See forward_headers.hpp.
#include "lbd/http/forward_headers.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace lbd::proxy {

std::optional<unsigned> forward_header_bit(std::string_view name) {
  static constexpr std::array<std::pair<std::string_view, unsigned>, 5> kNames{{
      {"x-forwarded-for", kXForwardedFor},
      {"x-forwarded-proto", kXForwardedProto},
      {"x-forwarded-host", kXForwardedHost},
      {"forwarded", kForwarded},
      {"via", kVia},
  }};
  for (const auto& [known, bit] : kNames) {
    if (std::ranges::equal(known, name, [](char a, char b) {
          return a == std::tolower(static_cast<unsigned char>(b));
        })) {
      return bit;
    }
  }
  return std::nullopt;
}

}  // namespace lbd::proxy
