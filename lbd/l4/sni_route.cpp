// SNI pass-through rule matching (see sni_route.hpp).
#include "lbd/l4/sni_route.hpp"

namespace lbd::proxy {

const std::string& sni_pool(const ListenerConfig& listener, std::string_view server_name) {
  if (server_name.empty()) return listener.default_pool;
  for (const auto& r : listener.sni_routes) {
    for (const auto& n : r.server_names) {
      if (n == server_name) return r.pool;
    }
  }
  const auto dot = server_name.find('.');
  if (dot != std::string_view::npos && dot > 0) {
    const auto suffix = server_name.substr(dot);  // ".example.com"
    for (const auto& r : listener.sni_routes) {
      for (const auto& n : r.server_names) {
        if (n.starts_with("*.") && std::string_view(n).substr(1) == suffix) return r.pool;
      }
    }
  }
  return listener.default_pool;
}

}  // namespace lbd::proxy
