// Test helper: builds a PoolSnapshot of named, weighted backends on 127.0.0.1.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lbd/balance/balancer.hpp"

namespace lbtest {

struct TestPool {
  lbd::PoolSnapshotPtr snapshot;

  /// Every server becomes a backend; those with weight > 0 become candidates (as the snapshot
  /// builder does), in the given order.
  explicit TestPool(const std::vector<std::pair<std::string, std::uint32_t>>& servers) {
    auto s = std::make_shared<lbd::PoolSnapshot>();
    std::uint16_t port = 9000;
    for (const auto& [name, weight] : servers) {
      auto b = std::make_shared<const lbd::Backend>(
          name, lb::Endpoint{*lb::IpAddress::parse("127.0.0.1"), port++}, weight);
      s->backends.push_back(b);
      if (weight > 0) s->candidates.push_back({b.get(), weight});
    }
    snapshot = s;
  }

  /// `n` servers "s0".."s{n-1}" of weight 1.
  static TestPool numbered(std::size_t n, std::size_t first = 0) {
    std::vector<std::pair<std::string, std::uint32_t>> servers;
    for (std::size_t i = first; i < first + n; ++i)
      servers.emplace_back("s" + std::to_string(i), 1);
    return TestPool(servers);
  }

  const lbd::Backend* operator[](std::string_view name) const { return snapshot->find(name); }
};

/// How many of `picks` picks went to each backend name ("-" for nullptr).
inline std::map<std::string, int> histogram(lbd::Balancer& b, int picks,
                                            const lbd::Backend* avoid = nullptr) {
  std::map<std::string, int> h;
  for (int i = 0; i < picks; ++i) {
    const auto* p = b.pick(lbd::PickContext{.hash = std::nullopt, .avoid = avoid});
    ++h[p ? p->name : "-"];
  }
  return h;
}

/// The backend name chosen for each of the keys "client-0".."client-{keys-1}".
std::vector<std::string> assignments(lbd::Balancer& b, int keys);

}  // namespace lbtest
