// Address hashing for the source_ip hash key.
#include "lbd/balance/stable_hash.hpp"

namespace lbd {

std::uint64_t hash_address(const lb::IpAddress& address) {
  const auto a = address.unmapped();
  return stable_hash(std::string_view(reinterpret_cast<const char*>(a.data()), a.size()));
}

}  // namespace lbd
