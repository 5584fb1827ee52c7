// libFuzzer target for the ClientHello SNI parser: any bytes must give a status without a crash,
// an overread or a name longer than DNS allows; a found name must be lowercase DNS characters.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "lbd/tls/client_hello.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto r = lbd::proxy::parse_client_hello_sni(std::span<const std::uint8_t>(data, size));
  if (r.status == lbd::proxy::SniStatus::found) {
    if (r.name.empty() || r.name.size() > 253) std::abort();
    for (const char c : r.name) {
      if (c >= 'A' && c <= 'Z') std::abort();
    }
  } else if (!r.name.empty()) {
    std::abort();
  }
  return 0;
}
