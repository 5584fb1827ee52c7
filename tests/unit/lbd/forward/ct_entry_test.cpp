#include "lbd/forward/ct_entry.hpp"

#include <doctest/doctest.h>

namespace {

lbd::repl::CtEntry ct_flow(std::array<std::uint8_t, 4> reply_dst, std::uint16_t reply_dport) {
  lbd::repl::CtEntry e;
  e.original = {{192, 0, 2, 100}, {192, 0, 2, 10}, 40000, 80};
  e.reply = {{198, 51, 100, 11}, reply_dst, 8080, reply_dport};
  return e;
}

}  // namespace

TEST_CASE("forward ct entry: the reply tuple gives the DNAT target and, when rewritten, the SNAT") {
  const auto snat = lbd::forward::nat_binding(ct_flow({198, 51, 100, 254}, 40000));
  CHECK(snat.dnat.to_string() == "198.51.100.11:8080");
  REQUIRE(snat.snat.has_value());
  CHECK(snat.snat->to_string() == "198.51.100.254:40000");

  // Gateway mode: the reply goes back to the client as it was.
  const auto gateway = lbd::forward::nat_binding(ct_flow({192, 0, 2, 100}, 40000));
  CHECK(gateway.dnat.to_string() == "198.51.100.11:8080");
  CHECK_FALSE(gateway.snat.has_value());

  // Same address but a source port changed to avoid a clash: still SNAT.
  CHECK(lbd::forward::nat_binding(ct_flow({192, 0, 2, 100}, 1024)).snat.has_value());
}

TEST_CASE("forward ct entry: only flows to a forward VIP and port are forward flows") {
  const std::vector<lb::Endpoint> vips{*lb::Endpoint::parse("192.0.2.10:80")};
  const auto e = ct_flow({198, 51, 100, 254}, 40000);
  CHECK(lbd::forward::is_forward_flow(e.original, vips));
  auto other_port = e.original;
  other_port.dport = 443;
  CHECK_FALSE(lbd::forward::is_forward_flow(other_port, vips));
  auto other_addr = e.original;
  other_addr.dst = {192, 0, 2, 11};
  CHECK_FALSE(lbd::forward::is_forward_flow(other_addr, vips));
}
