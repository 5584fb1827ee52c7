#include "lbd/forward/ruleset.hpp"

#include <fmt/format.h>

#include "lbd/balance/stable_hash.hpp"

namespace lbd::forward {

namespace {

// "table ip X" then "delete table ip X" in one transaction: the first creates the table if it is
// absent, so the delete never fails, whatever a killed run left behind.
std::string drop_table() { return fmt::format("table ip {0}\ndelete table ip {0}\n", kTableName); }

std::string selector_expression(const Service& s) {
  switch (s.selector) {
    case Selector::tuple_hash:
      return fmt::format("jhash ip saddr . tcp sport . ip daddr . tcp dport mod {} seed {:#010x}",
                         s.slots, s.seed);
    case Selector::source_hash:
      return fmt::format("jhash ip saddr mod {} seed {:#010x}", s.slots, s.seed);
    case Selector::round_robin:
      return fmt::format("numgen inc mod {}", s.slots);
    case Selector::random:
      return fmt::format("numgen random mod {}", s.slots);
  }
  return {};
}

std::string elements(const Service& s) {
  std::string out;
  out.reserve(s.targets.size() * 28);
  for (std::size_t slot = 0; slot < s.targets.size(); ++slot) {
    const auto& t = s.targets[slot];
    fmt::format_to(std::back_inserter(out), "{}{} : {} . {}", slot == 0 ? "" : ", ", slot,
                   t.address.to_string(), t.port);
  }
  return out;
}

}  // namespace

std::uint32_t seed_for(const std::string& listener) {
  return static_cast<std::uint32_t>(stable_hash(listener, 0x666f7277617264ULL));  // "forward"
}

std::string map_name(std::size_t index) { return fmt::format("svc{}", index); }

std::string full_ruleset(const std::vector<Service>& services) {
  std::string out = drop_table();
  if (services.empty()) return out;
  fmt::format_to(std::back_inserter(out), "table ip {} {{\n", kTableName);
  for (std::size_t i = 0; i < services.size(); ++i) {
    const auto& s = services[i];
    // typeof: the key is the integer a numgen/jhash expression yields, the value a concatenation
    // of address and port, as the dnat statement takes them.
    fmt::format_to(std::back_inserter(out),
                   "  map {} {{\n    typeof numgen inc mod 2 : ip daddr . tcp dport\n",
                   map_name(i));
    if (!s.targets.empty()) {
      fmt::format_to(std::back_inserter(out), "    elements = {{ {} }}\n", elements(s));
    }
    out += "  }\n";
  }
  out +=
      "  chain prerouting {\n"
      "    type nat hook prerouting priority dstnat; policy accept;\n";
  for (std::size_t i = 0; i < services.size(); ++i) {
    const auto& s = services[i];
    for (const auto& vip : s.vips) {
      fmt::format_to(std::back_inserter(out),
                     "    ip daddr {} tcp dport {} counter ct mark set ct mark or {:#010x} dnat ip "
                     "to {} map @{} comment \"{}\"\n",
                     vip.address.to_string(), vip.port, kFlowMark, selector_expression(s),
                     map_name(i), s.listener);
    }
  }
  out += "  }\n";
  out +=
      "  chain postrouting {\n"
      "    type nat hook postrouting priority srcnat; policy accept;\n";
  for (const auto& s : services) {
    if (!s.snat) continue;
    // Matched on the original destination (the VIP), so only the flows this listener DNATed are
    // rewritten, whatever else routes to the same backends.
    for (const auto& vip : s.vips) {
      fmt::format_to(std::back_inserter(out),
                     "    meta l4proto tcp ct status dnat ct original ip daddr {} ct original "
                     "proto-dst {} snat ip to {} comment \"{}\"\n",
                     vip.address.to_string(), vip.port, s.snat->to_string(), s.listener);
    }
  }
  out += "  }\n}\n";
  return out;
}

std::string map_update(std::size_t index, const Service& service) {
  std::string out = fmt::format("flush map ip {} {}\n", kTableName, map_name(index));
  if (!service.targets.empty()) {
    fmt::format_to(std::back_inserter(out), "add element ip {} {} {{ {} }}\n", kTableName,
                   map_name(index), elements(service));
  }
  return out;
}

std::string delete_table() { return drop_table(); }

}  // namespace lbd::forward
