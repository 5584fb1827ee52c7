#include <doctest/doctest.h>

#include "lbd/config.hpp"

using lb::config::Diagnostics;

namespace {

std::string forward_toml(const std::string& listener_extra, const std::string& pool_extra = "",
                         const std::string& server_extra = "") {
  return "[[listener]]\nname = \"fwd\"\nbind = \"192.0.2.10:80\"\nmode = \"forward\"\n"
         "pool = \"p\"\n" +
         listener_extra + "[[pool]]\nname = \"p\"\n" + pool_extra +
         "[[pool.server]]\nname = \"a\"\naddress = \"198.51.100.1:8080\"\n" + server_extra;
}

}  // namespace

TEST_CASE("lbd config: a forward listener reads its keys with defaults filled in") {
  Diagnostics d1, d2;
  const auto c1 = lbd::load_config_from_string(forward_toml(""), "f.toml", d1);
  INFO(d1.to_string());
  REQUIRE(d1.empty());
  const auto& f1 = c1.listeners.at(0).forward;
  CHECK(c1.listeners[0].mode == lbd::ListenerMode::forward);
  CHECK(f1.slots == 4093);
  CHECK_FALSE(f1.snat_address.has_value());
  CHECK(f1.on_server_down == lbd::forward::OnServerDown::keep);

  const auto c2 = lbd::load_config_from_string(
      forward_toml("forward_slots = 1021\nsnat_address = \"198.51.100.254\"\n"
                   "on_server_down = \"keep\"\n",
                   "algorithm = \"maglev\"\nmaglev_table_size = 1021\n"),
      "f.toml", d2);
  INFO(d2.to_string());
  REQUIRE(d2.empty());
  const auto& f2 = c2.listeners.at(0).forward;
  CHECK(f2.slots == 1021);
  CHECK(f2.snat_address->to_string() == "198.51.100.254");
  CHECK(f2.on_server_down == lbd::forward::OnServerDown::keep);
}

TEST_CASE("lbd config: on_server_down = \"reset\" is read") {
  Diagnostics d;
  const auto c =
      lbd::load_config_from_string(forward_toml("on_server_down = \"reset\"\n"), "f.toml", d);
  INFO(d.to_string());
  REQUIRE(d.empty());
  CHECK(c.listeners.at(0).forward.on_server_down == lbd::forward::OnServerDown::reset);
}

TEST_CASE("lbd config: forward keys are refused on other modes and bad values name file:line:key") {
  Diagnostics d;
  lbd::load_config_from_string(
      "[[listener]]\nname = \"t\"\nbind = \"127.0.0.1:1\"\nmode = \"tcp\"\npool = \"p\"\n"
      "snat_address = \"198.51.100.254\"\n"
      "[[listener]]\nname = \"f\"\nbind = \"192.0.2.10:80\"\nmode = \"forward\"\npool = \"p\"\n"
      "forward_slots = 1000\nsnat_address = \"2001:db8::1\"\non_server_down = \"drop\"\n"
      "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:2\"\n",
      "f.toml", d);
  const auto text = d.to_string();
  INFO(text);
  CHECK(text.find("f.toml:6:16: listener[0].snat_address: snat_address needs mode = \"forward\"") !=
        std::string::npos);
  CHECK(text.find("f.toml:12:17: listener[1].forward_slots: 1000 is not prime") !=
        std::string::npos);
  CHECK(text.find("listener[1].snat_address: \"2001:db8::1\" is not an IPv4 address") !=
        std::string::npos);
  CHECK(text.find("listener[1].on_server_down: unknown value \"drop\"") != std::string::npos);
}

TEST_CASE("lbd config: a forward listener refuses what the kernel cannot do") {
  const auto errors_of = [](const std::string& toml) {
    Diagnostics d;
    lbd::load_config_from_string(toml, "f.toml", d);
    return d.to_string();
  };
  CHECK(errors_of(forward_toml("", "algorithm = \"least_conn\"\n"))
            .find("listener[0].pool: pool \"p\": algorithm \"least_conn\" needs live "
                  "per-backend state") != std::string::npos);
  CHECK(errors_of(forward_toml("", "send_proxy_protocol = \"v2\"\n")).find("PROXY header") !=
        std::string::npos);
  CHECK(errors_of(forward_toml("", "", "max_connections = 10\n")).find("cannot enforce") !=
        std::string::npos);
  CHECK(errors_of(forward_toml("accept_proxy_protocol = true\n"))
            .find("listener[0].accept_proxy_protocol") != std::string::npos);
  CHECK(errors_of(forward_toml("forward_slots = 2\n")).find("fewer than 100 × 1 servers") !=
        std::string::npos);
  const auto v6 = errors_of(
      "[[listener]]\nname = \"f\"\nbind = \"[2001:db8::1]:80\"\nmode = \"forward\"\n"
      "pool = \"p\"\n[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\n"
      "address = \"198.51.100.1:1\"\n");
  CHECK(v6.find("listener[0].bind: [2001:db8::1]:80: mode = \"forward\" needs a specific IPv4") !=
        std::string::npos);
  CHECK(errors_of(forward_toml("forward_headers = []\n")).find("needs mode = \"http\"") !=
        std::string::npos);
}
