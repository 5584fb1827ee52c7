// Picks the pool of a tcp listener's TLS pass-through rules for a ClientHello server name. Pure.
#pragma once

#include <string>
#include <string_view>

#include "lbd/config.hpp"

namespace lbd::proxy {

/// The pool for `server_name` (lowercase): an exact server_name of any rule first, then a
/// "*.suffix" rule covering exactly one more label, in rule order; else the listener's default
/// pool (also for an empty name: no SNI, or not TLS).
const std::string& sni_pool(const ListenerConfig& listener, std::string_view server_name);

}  // namespace lbd::proxy
