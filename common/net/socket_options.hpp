// Socket options lbpair relies on, as thin checked wrappers over setsockopt on a raw fd.
#pragma once

#include "common/error.hpp"

namespace lb::net {

/// SO_REUSEPORT: each worker binds its own acceptor to the same address.
Result<void> set_reuse_port(int fd);
/// IP_FREEBIND (and IPV6_FREEBIND): bind to an address this node does not hold yet (the VIP).
Result<void> set_freebind(int fd, bool ipv6);
/// TCP_NODELAY.
Result<void> set_no_delay(int fd);
/// IPV6_V6ONLY so "[::]:80" and "0.0.0.0:80" can both be bound.
Result<void> set_v6_only(int fd);

}  // namespace lb::net
