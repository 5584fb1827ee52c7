// The RTM_DELADDR parser of the address watch: addresses removed, other messages skipped, and
// truncated or lying lengths never read past the datagram.
#include "lbd/session/address_events.hpp"

#include <doctest/doctest.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace {

// One netlink message of `type` for an address of `family` with the given attributes.
std::vector<std::byte> message(
    std::uint16_t type, std::uint8_t family,
    const std::vector<std::pair<std::uint16_t, std::vector<std::uint8_t>>>& attrs) {
  std::vector<std::byte> out(NLMSG_SPACE(sizeof(ifaddrmsg)));
  for (const auto& [t, payload] : attrs) {
    const std::size_t at = out.size();
    out.resize(at + RTA_SPACE(payload.size()));
    rtattr a{static_cast<unsigned short>(RTA_LENGTH(payload.size())), t};
    std::memcpy(out.data() + at, &a, sizeof a);
    std::memcpy(out.data() + at + RTA_LENGTH(0), payload.data(), payload.size());
  }
  nlmsghdr h{};
  h.nlmsg_len = static_cast<std::uint32_t>(out.size());
  h.nlmsg_type = type;
  std::memcpy(out.data(), &h, sizeof h);
  ifaddrmsg ifa{};
  ifa.ifa_family = family;
  ifa.ifa_prefixlen = 24;
  std::memcpy(out.data() + NLMSG_HDRLEN, &ifa, sizeof ifa);
  return out;
}

std::vector<std::string> parsed(const std::vector<std::byte>& bytes) {
  std::vector<std::string> out;
  for (const auto& ip : lbd::proxy::parse_deleted_addresses(bytes)) out.push_back(ip.to_string());
  return out;
}

}  // namespace

TEST_CASE("address events: RTM_DELADDR names the removed address, IFA_LOCAL first") {
  auto v4 =
      message(RTM_DELADDR, AF_INET, {{IFA_ADDRESS, {192, 0, 2, 99}}, {IFA_LOCAL, {192, 0, 2, 10}}});
  std::vector<std::uint8_t> six(16, 0);
  six[0] = 0x20;
  six[1] = 0x01;
  six[2] = 0x0d;
  six[3] = 0xb8;
  six[15] = 0x10;
  const auto v6 = message(RTM_DELADDR, AF_INET6, {{IFA_ADDRESS, six}});
  const auto added = message(RTM_NEWADDR, AF_INET, {{IFA_LOCAL, {192, 0, 2, 11}}});
  std::vector<std::byte> all = v4;
  all.insert(all.end(), added.begin(), added.end());
  all.insert(all.end(), v6.begin(), v6.end());
  CHECK(parsed(all) == std::vector<std::string>{"192.0.2.10", "2001:db8::10"});
}

TEST_CASE("address events: truncated datagrams and lying lengths yield nothing, never a crash") {
  const auto good = message(RTM_DELADDR, AF_INET, {{IFA_LOCAL, {192, 0, 2, 10}}});
  for (std::size_t n = 0; n < good.size(); ++n) {
    const std::vector<std::byte> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK(parsed(cut).empty());
  }
  auto lying = good;
  nlmsghdr h;
  std::memcpy(&h, lying.data(), sizeof h);
  h.nlmsg_len = 4096;  // longer than the datagram
  std::memcpy(lying.data(), &h, sizeof h);
  CHECK(parsed(lying).empty());
  // An attribute whose length runs past its message is ignored.
  auto bad_attr = good;
  rtattr a;
  std::memcpy(&a, bad_attr.data() + NLMSG_SPACE(sizeof(ifaddrmsg)), sizeof a);
  a.rta_len = 200;
  std::memcpy(bad_attr.data() + NLMSG_SPACE(sizeof(ifaddrmsg)), &a, sizeof a);
  CHECK(parsed(bad_attr).empty());
  // A wrong-sized address is not an address.
  CHECK(parsed(message(RTM_DELADDR, AF_INET, {{IFA_LOCAL, {192, 0, 2}}})).empty());
}
