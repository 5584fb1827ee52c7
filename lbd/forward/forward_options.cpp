#include "lbd/forward/forward_options.hpp"

#include <fmt/format.h>

namespace lbd::forward {

const char* selector_name(Selector s) {
  switch (s) {
    case Selector::tuple_hash:
      return "tuple_hash";
    case Selector::source_hash:
      return "source_hash";
    case Selector::round_robin:
      return "round_robin";
    case Selector::random:
      return "random";
  }
  return "?";
}

std::expected<Selector, std::string> selector_for(const BalanceOptions& balance,
                                                  PersistenceMode persistence) {
  // The kernel sees packets, not payload: only what a slot table indexed by a packet hash or a
  // counter can express works, and nothing that needs per-backend live state (connection
  // counts, latency, agents) or bounded loads.
  if (persistence != PersistenceMode::none && persistence != PersistenceMode::source_ip) {
    return std::unexpected(
        fmt::format("persistence needs the payload; mode = \"forward\" supports persistence mode "
                    "\"source_ip\" only (a hash of the client address)"));
  }
  if (balance.hash_balance_factor != 0.0) {
    return std::unexpected(std::string(
        "hash_balance_factor (bounded loads) needs live connection counts, which mode = "
        "\"forward\" does not have"));
  }
  Selector s{};
  switch (balance.algorithm) {
    case Algorithm::maglev:
      s = Selector::tuple_hash;
      break;
    case Algorithm::source_hash:
      s = Selector::source_hash;
      break;
    case Algorithm::round_robin:
      s = Selector::round_robin;
      break;
    case Algorithm::random:
      s = Selector::random;
      break;
    default:
      return std::unexpected(
          fmt::format("algorithm \"{}\" needs live per-backend state; mode = \"forward\" supports "
                      "\"maglev\", \"source_hash\", \"round_robin\" and \"random\"",
                      algorithm_name(balance.algorithm)));
  }
  if (persistence == PersistenceMode::source_ip) s = Selector::source_hash;
  return s;
}

}  // namespace lbd::forward
