#include "lbd/forward/ct_entry.hpp"

namespace lbd::forward {

lb::Endpoint source_of(const repl::CtTuple& t) { return {lb::IpAddress::v4(t.src), t.sport}; }

lb::Endpoint destination_of(const repl::CtTuple& t) { return {lb::IpAddress::v4(t.dst), t.dport}; }

NatBinding nat_binding(const repl::CtEntry& entry) {
  NatBinding b;
  b.dnat = source_of(entry.reply);
  // The reply goes to where the original came from unless SNAT rewrote it (a clashing source
  // port may have been changed too, so the port counts).
  const auto reply_to = destination_of(entry.reply);
  if (reply_to != source_of(entry.original)) b.snat = reply_to;
  return b;
}

bool is_forward_flow(const repl::CtTuple& original, const std::vector<lb::Endpoint>& vips) {
  const auto dst = destination_of(original);
  for (const auto& v : vips) {
    if (v == dst) return true;
  }
  return false;
}

}  // namespace lbd::forward
