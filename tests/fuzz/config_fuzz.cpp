// libFuzzer target for the TOML configuration loaders of lbd and vrrpd (the first input byte picks
// one; the rest is the file). A configuration is operator input, but a broken one must still end
// in diagnostics, never in a crash, a hang or an exception: `lbd --check-config` runs on whatever
// an editor saved. Every diagnostic must name the file and say what is wrong.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/config/diagnostics.hpp"
#include "lbd/config.hpp"
#include "vrrpd/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  lb::config::Diagnostics diags;
  if (data[0] & 1) {
    (void)vrrp::load_config_from_string(text, "fuzz.toml", diags);
  } else {
    (void)lbd::load_config_from_string(text, "fuzz.toml", diags);
  }
  for (const auto& d : diags.items()) {
    if (d.where.file != "fuzz.toml" || d.message.empty()) std::abort();
  }
  return 0;
}
