// A config builder for the L7 integration tests: one http listener named "web" and pools of
// servers, the first pool being the listener's default.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace lbtest {

struct HttpConfig {
  std::vector<std::pair<std::string, std::vector<std::string>>> pools;  // name, server addresses
  std::string bind = "127.0.0.1:0";
  std::string timeouts;        // lines for [timeouts]
  std::string limits;          // lines for [limits]
  std::string listener_extra;  // lines for the [[listener]]
  std::string routes;          // [[listener.route]] tables
  std::string pool_extra;      // lines for every [[pool]]
  std::string server_extra;    // lines for every [[pool.server]]

  std::string text() const {
    std::string s = "[global]\nworkers = 1\nlog_level = \"warn\"\n";
    if (!timeouts.empty()) s += "[timeouts]\n" + timeouts + "\n";
    if (!limits.empty()) s += "[limits]\n" + limits + "\n";
    s +=
        fmt::format("[[listener]]\nname = \"web\"\nbind = \"{}\"\nmode = \"http\"\npool = \"{}\"\n",
                    bind, pools.at(0).first);
    s += listener_extra + "\n" + routes + "\n";
    for (const auto& [name, servers] : pools) {
      s += fmt::format("[[pool]]\nname = \"{}\"\n{}\n", name, pool_extra);
      for (std::size_t i = 0; i < servers.size(); ++i) {
        s += fmt::format("[[pool.server]]\nname = \"{}{}\"\naddress = \"{}\"\n{}\n", name, i,
                         servers[i], server_extra);
      }
    }
    return s;
  }
};

}  // namespace lbtest
