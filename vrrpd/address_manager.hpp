// Adding and removing virtual addresses on an interface, behind an interface so the driver can be
// tested with a fake. Both operations are idempotent: adding a present address or removing an
// absent one succeeds.
#pragma once

#include <set>
#include <string>
#include <utility>

#include "common/error.hpp"
#include "vrrpd/config.hpp"

namespace vrrp {

class AddressManager {
 public:
  virtual ~AddressManager() = default;
  /// Adds `vip` to the interface `ifindex` (IPv6 without duplicate address detection).
  virtual lb::Result<void> add(int ifindex, const Vip& vip) = 0;
  /// Removes `vip` from `ifindex`; absent is success.
  virtual lb::Result<void> remove(int ifindex, const Vip& vip) = 0;
};

/// In-memory AddressManager for unit tests: records what is held.
class FakeAddressManager final : public AddressManager {
 public:
  lb::Result<void> add(int ifindex, const Vip& vip) override {
    held_.insert({ifindex, vip.to_string()});
    ++adds_;
    return {};
  }
  lb::Result<void> remove(int ifindex, const Vip& vip) override {
    held_.erase({ifindex, vip.to_string()});
    ++removes_;
    return {};
  }
  bool holds(int ifindex, const std::string& vip) const { return held_.count({ifindex, vip}) > 0; }
  std::size_t held() const { return held_.size(); }
  int adds() const { return adds_; }
  int removes() const { return removes_; }

 private:
  std::set<std::pair<int, std::string>> held_;
  int adds_ = 0;
  int removes_ = 0;
};

}  // namespace vrrp
