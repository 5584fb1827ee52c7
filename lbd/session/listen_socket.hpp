// Opening listening sockets the way every worker shares them: SO_REUSEPORT (one acceptor per
// worker, the kernel spreads connections), IP_FREEBIND (listen on a VIP this node does not hold
// yet) and IPV6_V6ONLY for IPv6 binds. Plain file descriptors: workers adopt them into acceptors.
#pragma once

#include <vector>

#include "common/error.hpp"
#include "common/net/ip_address.hpp"

namespace lbd::proxy {

/// An open, bound, listening, non-blocking socket. Closes on destruction unless released.
class ListenSocket {
 public:
  ListenSocket() = default;
  explicit ListenSocket(int fd) : fd_(fd) {}
  ListenSocket(ListenSocket&& o) noexcept : fd_(o.release()) {}
  ListenSocket& operator=(ListenSocket&& o) noexcept;
  ~ListenSocket();
  int fd() const { return fd_; }
  /// Gives up ownership (the acceptor that adopts the fd closes it).
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

/// Opens `count` sockets all bound to `endpoint` with SO_REUSEPORT. Port 0 means "any": the first
/// socket picks it and the others join the same port. On failure nothing stays open and the
/// error names the address.
lb::Result<std::vector<ListenSocket>> open_listen_group(const lb::Endpoint& endpoint,
                                                        unsigned count, int backlog = 4096);

/// The local address of a bound socket.
lb::Result<lb::Endpoint> local_endpoint(int fd);

}  // namespace lbd::proxy
