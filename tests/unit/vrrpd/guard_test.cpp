// The guard's order lines: what vrrpd tells its guard process must survive the round trip, and
// malformed lines are refused rather than half-applied.
#include "vrrpd/guard.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <csignal>

namespace {
lb::IpAddress ip(const char* s) { return *lb::IpAddress::parse(s); }
}  // namespace

TEST_CASE("vrrp guard: an order round-trips through its text line") {
  vrrp::GuardOrder o{"eth0/51/4",
                     3,
                     ip("192.0.2.1"),
                     {ip("224.0.0.18")},
                     51,
                     10,
                     {*vrrp::Vip::parse("192.0.2.10/24"), *vrrp::Vip::parse("192.0.2.11/32")}};
  const auto line = vrrp::format_order(o);
  CHECK(line == "arm eth0/51/4 3 192.0.2.1 51:10 224.0.0.18 192.0.2.10/24,192.0.2.11/32");
  auto back = vrrp::parse_order(line);
  REQUIRE(back.has_value());
  CHECK(back->key == o.key);
  CHECK(back->ifindex == 3);
  CHECK(back->source == o.source);
  CHECK(back->destinations == o.destinations);
  CHECK(back->vrid == 51);
  CHECK(back->advert_interval_cs == 10);
  CHECK(back->vips == o.vips);
}

TEST_CASE("vrrp guard: IPv6 orders with several unicast peers round-trip") {
  vrrp::GuardOrder o{"eth0/7/6",
                     12,
                     ip("fe80::1"),
                     {ip("2001:db8::2"), ip("2001:db8::3")},
                     7,
                     4095,
                     {*vrrp::Vip::parse("2001:db8::10/64")}};
  auto back = vrrp::parse_order(vrrp::format_order(o));
  REQUIRE(back.has_value());
  CHECK(back->destinations == o.destinations);
  CHECK(back->vips == o.vips);
}

TEST_CASE("vrrp guard: malformed order lines are refused") {
  for (const char* bad :
       {"", "arm", "arm k 3 192.0.2.1 51:10 224.0.0.18", "fire k 3 192.0.2.1 51:10 a b",
        "arm k x 192.0.2.1 51:10 224.0.0.18 192.0.2.10/24",
        "arm k 3 nope 51:10 224.0.0.18 192.0.2.10/24",
        "arm k 3 192.0.2.1 300:10 224.0.0.18 192.0.2.10/24",
        "arm k 3 192.0.2.1 51:5000 224.0.0.18 192.0.2.10/24",
        "arm k 3 192.0.2.1 51:10 224.0.0.999 192.0.2.10/24",
        "arm k 3 192.0.2.1 51:10 224.0.0.18 192.0.2.10/40"}) {
    INFO(bad);
    CHECK_FALSE(vrrp::parse_order(bad).has_value());
  }
}

TEST_CASE("vrrp guard: orders to a dead guard fail quietly instead of killing vrrpd (SIGPIPE)") {
  // The default disposition, whatever the test program set: the guard must not rely on the
  // process ignoring SIGPIPE.
  const auto previous = std::signal(SIGPIPE, SIG_DFL);
  // doctest cannot print a function pointer: compare into a bool.
  auto sigpipe_is_default = [] {
    struct sigaction now {};
    REQUIRE(::sigaction(SIGPIPE, nullptr, &now) == 0);
    return now.sa_handler == SIG_DFL;
  };
  auto guard = vrrp::Guard::start();
  REQUIRE(guard.has_value());
  REQUIRE(guard->pid() > 0);
  CHECK(sigpipe_is_default());  // starting the guard does not ignore SIGPIPE behind our back
  REQUIRE(::kill(guard->pid(), SIGKILL) == 0);
  int status = 0;
  REQUIRE(::waitpid(guard->pid(), &status, 0) == guard->pid());
  // The channel has no reader now: a write that raised SIGPIPE would kill this process here.
  guard->disarm("eth0/51/4");
  guard->disarm("eth0/51/4");
  guard->release();
  // Still the default disposition, and this process is alive: the writes raised no SIGPIPE.
  CHECK(sigpipe_is_default());
  std::signal(SIGPIPE, previous);
}
