// The kernel-forwarding options of a `mode = "forward"` listener, and which balancing a pool can
// have when the kernel picks the backend (nftables DNAT through a slot table). Plain data and
// pure checks; lbd/config.cpp reads the keys.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>

#include "common/net/ip_address.hpp"
#include "lbd/balance/options.hpp"
#include "lbd/sticky/persistence_options.hpp"

namespace lbd::forward {

/// What indexes the slot table for a new flow. Established flows never consult it: conntrack
/// holds their NAT binding.
enum class Selector : std::uint8_t {
  tuple_hash,   // jhash of saddr . sport . daddr . dport (algorithm = "maglev")
  source_hash,  // jhash of saddr (algorithm = "source_hash", or persistence mode "source_ip")
  round_robin,  // numgen inc (algorithm = "round_robin"): weighted by slot shares
  random,       // numgen random (algorithm = "random")
};

const char* selector_name(Selector s);

/// What happens to established flows of a backend that goes down (health check or maintenance).
/// keep: conntrack keeps their binding (they may recover if the backend returns in time).
/// reset: their conntrack entries are deleted, so the next packet of the client finds no
/// backend socket and gets a RST: clients learn at once instead of after their timeouts. A
/// drained backend is not down: its flows go on either way.
enum class OnServerDown : std::uint8_t { keep, reset };

struct ForwardOptions {
  /// Size of the slot table (prime, so that every Maglev permutation is full). Each slot is one
  /// nftables map element; the default keeps a transaction small (~4k elements) and the shares of
  /// up to 40 servers within ~1 % of their weights.
  std::uint32_t slots = 4093;
  /// Return path: the backend-side address the forwarded flows are SNATed to (a floating address
  /// that vrrpd moves with the VIP). Absent = gateway mode: the backends route their replies
  /// through the pair.
  std::optional<lb::IpAddress> snat_address;
  OnServerDown on_server_down = OnServerDown::keep;

  friend bool operator==(const ForwardOptions&, const ForwardOptions&) = default;
};

/// The selector for a pool's balancing and persistence, or why the kernel cannot do it (the
/// message names the algorithm and says what works). Pure.
std::expected<Selector, std::string> selector_for(const BalanceOptions& balance,
                                                  PersistenceMode persistence);

}  // namespace lbd::forward
