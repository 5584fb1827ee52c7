#include "lbd/balance/round_robin.hpp"

#include <doctest/doctest.h>

#include <map>
#include <string>

namespace {

struct Pool {
  std::vector<std::shared_ptr<const lbd::Backend>> owned;
  lbd::PoolSnapshotPtr snapshot;

  explicit Pool(std::vector<std::pair<std::string, std::uint32_t>> servers) {
    auto s = std::make_shared<lbd::PoolSnapshot>();
    std::uint16_t port = 9000;
    for (auto& [name, weight] : servers) {
      auto b = std::make_shared<const lbd::Backend>(
          name, lb::Endpoint{*lb::IpAddress::parse("127.0.0.1"), port++}, weight);
      s->backends.push_back(b);
      if (weight > 0) s->candidates.push_back({b.get(), weight});
    }
    snapshot = s;
  }
};

std::string sequence(lbd::Balancer& b, int n, const lbd::Backend* avoid = nullptr) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const auto* picked = b.pick(lbd::PickContext{.hash = std::nullopt, .avoid = avoid});
    out += picked ? picked->name : "-";
  }
  return out;
}

}  // namespace

TEST_CASE("round_robin: equal weights cycle a,b,c") {
  Pool pool({{"a", 1}, {"b", 1}, {"c", 1}});
  lbd::RoundRobinBalancer rr(pool.snapshot, 0);
  CHECK(sequence(rr, 6) == "abcabc");
}

TEST_CASE("round_robin: weights 3:2 interleave as a,b,a,b,a") {
  Pool pool({{"a", 3}, {"b", 2}});
  lbd::RoundRobinBalancer rr(pool.snapshot, 0);
  CHECK(sequence(rr, 10) == "ababaababa");
}

TEST_CASE("round_robin: weights 3:1 yield a,a,b,a") {
  Pool pool({{"a", 3}, {"b", 1}});
  lbd::RoundRobinBalancer rr(pool.snapshot, 0);
  CHECK(sequence(rr, 8) == "aabaaaba");
}

TEST_CASE("round_robin: a different seed starts elsewhere in the same cycle") {
  Pool pool({{"a", 1}, {"b", 1}, {"c", 1}});
  lbd::RoundRobinBalancer rr(pool.snapshot, 1);
  CHECK(sequence(rr, 3) == "bca");
}

TEST_CASE("round_robin: the avoided backend is skipped unless it is the only one") {
  Pool pool({{"a", 1}, {"b", 1}});
  lbd::RoundRobinBalancer rr(pool.snapshot, 0);
  const auto* a = pool.snapshot->find("a");
  CHECK(sequence(rr, 4, a) == "bbbb");
  Pool single({{"a", 1}});
  lbd::RoundRobinBalancer only(single.snapshot, 0);
  CHECK(sequence(only, 2, single.snapshot->find("a")) == "aa");
}

TEST_CASE("round_robin: weight 0 and an empty pool") {
  Pool pool({{"a", 0}, {"b", 1}});
  lbd::RoundRobinBalancer rr(pool.snapshot, 0);
  CHECK(sequence(rr, 3) == "bbb");
  Pool empty({{"a", 0}});
  lbd::RoundRobinBalancer none(empty.snapshot, 0);
  CHECK(sequence(none, 2) == "--");
}
