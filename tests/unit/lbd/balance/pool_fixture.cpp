// Test helper implementation (see pool_fixture.hpp).
#include "tests/unit/lbd/balance/pool_fixture.hpp"

#include "lbd/balance/stable_hash.hpp"

namespace lbtest {

std::vector<std::string> assignments(lbd::Balancer& b, int keys) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(keys));
  for (int k = 0; k < keys; ++k) {
    const auto* p = b.pick(lbd::PickContext{.hash = lbd::stable_hash("client-" + std::to_string(k)),
                                            .avoid = nullptr});
    out.push_back(p ? p->name : "-");
  }
  return out;
}

}  // namespace lbtest
