// What the control socket (`show forward`) and /metrics show of forward mode: the services as
// programmed (slot shares per backend), nftables transactions, and the conntrack stream (flows
// per backend, the peer's entries committed or refused). Plain data.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lbd::admin {

struct ForwardServiceView {
  std::string listener;
  std::vector<std::string> vips;
  std::string selector;
  std::uint32_t slots = 0;
  std::map<std::string, std::uint64_t> slots_per_backend;  // backend address -> slots owned
  std::string snat;                                        // "" in gateway mode
  std::string on_server_down;
};

struct ForwardView {
  std::vector<ForwardServiceView> services;
  std::string ruleset;  // `nft list table ip lbpair` (control socket only) or the error
  std::uint64_t transactions_ok = 0, transactions_failed = 0, map_updates = 0;
  bool conntrack = false;  // the conntrack stream runs
  std::uint64_t flows = 0, remote_flows = 0;
  std::map<std::string, std::uint64_t> flows_per_backend;
  std::uint64_t events = 0, overflows = 0, reconciles = 0, journaled = 0;
  std::uint64_t committed = 0, failed = 0, erased = 0, ignored = 0, resets = 0;
  double since_reconcile_s = -1, since_received_s = -1;  // -1: never
};

}  // namespace lbd::admin
