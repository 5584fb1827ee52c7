// vrrpd tracking in namespaces: a failing weighted script lowers the master's priority so the
// backup preempts; a failing weight-0 script puts the node in Fault; notify runs on transitions.
#include <fstream>

#include "tests/netns/vrrpd_lab.hpp"

using namespace vrrptest;

namespace {

const char* kVip = "192.0.2.10";

bool skip() {
  if (lbtest::can_use_netns()) return false;
  MESSAGE("skipped: needs root and ip netns");
  return true;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace

TEST_CASE("vrrpd netns: a failing weighted script hands the VIP over; notify sees every state") {
  if (skip()) return;
  VrrpLab lab;
  char tmpl[] = "/tmp/vrrpd-track-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string flag = dir + "/healthy", events = dir + "/events";
  std::ofstream(flag) << "1";
  const std::string track = fmt::format(
      "track_scripts = [\"chk\"]\nnotify = \"echo $VRRP_INSTANCE:$VRRP_STATE >> {}\"\n"
      "[[track_script]]\nname = \"chk\"\ncommand = \"test -e {}\"\ninterval = \"20ms\"\n"
      "timeout = \"500ms\"\nfall = 2\nrise = 2\nweight = 100\n",
      events, flag);
  lab.start("b", {Inst{.priority = 100}});
  lab.start("a", {Inst{.priority = 150, .extra = track}});
  REQUIRE(
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(3000)));
  // The check fails: a advertises 50 < 100, b (preempt) takes over after its Master_Down_Interval.
  std::filesystem::remove(flag);
  auto moved =
      VrrpLab::time_until([&] { return lab.holds("b", kVip) && !lab.holds("a", kVip); }, ms(2000));
  INFO(lab.logs("a") << lab.logs("b"));
  REQUIRE(moved.has_value());
  CHECK(lab.logs("a").find("effective=50") != std::string::npos);
  // Healthy again: a is back at 150 and preempts.
  std::ofstream(flag) << "1";
  CHECK(VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(2000))
            .has_value());
  CHECK(VrrpLab::time_until(
            [&] {
              return read_file(events).find("vi:master\nvi:backup\nvi:master") != std::string::npos;
            },
            ms(1000))
            .has_value());
  INFO(read_file(events));
  std::filesystem::remove_all(dir);
}

TEST_CASE("vrrpd netns: a failing weight-0 script puts the master in Fault and frees the VIP") {
  if (skip()) return;
  VrrpLab lab;
  char tmpl[] = "/tmp/vrrpd-track-XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  const std::string flag = dir + "/healthy";
  std::ofstream(flag) << "1";
  const std::string track = fmt::format(
      "track_scripts = [\"chk\"]\n[[track_script]]\nname = \"chk\"\ncommand = \"test -e {}\"\n"
      "interval = \"20ms\"\nweight = 0\n",
      flag);
  lab.start("b", {Inst{.priority = 100}});
  lab.start("a", {Inst{.priority = 150, .extra = track}});
  REQUIRE(
      VrrpLab::time_until([&] { return lab.holds("a", kVip) && !lab.holds("b", kVip); }, ms(3000)));
  std::filesystem::remove(flag);
  auto released = VrrpLab::time_until([&] { return !lab.holds("a", kVip); }, ms(500));
  auto taken = VrrpLab::time_until([&] { return lab.holds("b", kVip); }, ms(500));
  INFO(lab.logs("a"));
  CHECK(released.has_value());
  CHECK(taken.has_value());
  CHECK(lab.logs("a").find("to=fault reason=\"tracked script down\"") != std::string::npos);
  std::filesystem::remove_all(dir);
}
