// Proves the namespace helper: two hosts on the lab bridge reach each other over IPv4 and IPv6,
// a link can be cut and restored, and teardown removes every namespace.
#include <doctest/doctest.h>

#include "tests/support/netns_lab.hpp"

TEST_CASE(
    "netns lab: two hosts on a bridge ping each other, link down cuts them, teardown cleans") {
  if (!lbtest::can_use_netns()) {
    MESSAGE("skipped: needs root and ip netns");
    return;
  }
  std::string switch_ns;
  {
    lbtest::NetnsLab lab;
    switch_ns = lab.switch_ns();
    lab.add_host("a", {"192.0.2.1/24", "2001:db8::1/64"});
    lab.add_host("b", {"192.0.2.2/24", "2001:db8::2/64"});
    CHECK(lab.exec("a", "ping -c1 -W1 192.0.2.2").exit_code == 0);
    CHECK(lab.exec("b", "ping -c1 -W1 2001:db8::1").exit_code == 0);
    lab.set_link("b", false);
    CHECK(lab.exec("a", "ping -c1 -W1 192.0.2.2").exit_code != 0);
    lab.set_link("b", true);
    CHECK(lbtest::wait_until([&] { return lab.exec("a", "ping -c1 -W1 192.0.2.2").exit_code == 0; },
                             std::chrono::milliseconds(5000)));
    auto& sleeper = lab.spawn("a", {"sleep", "30"}, "");
    CHECK(sleeper.running());
  }
  auto list = lbtest::run_command("ip netns list");
  CHECK(list.output.find(switch_ns) == std::string::npos);
}
