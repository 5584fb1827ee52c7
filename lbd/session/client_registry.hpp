// The client sockets of one worker with their local addresses, so that the sessions on an
// address removed from the host (the VIP handed to the other node) can be ended at once instead
// of waiting for their idle timeouts (address_events.hpp). An entry lives as long as the
// connection's ConnectionTicket, which is released before the socket is closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "common/net/ip_address.hpp"

namespace lbd::proxy {

/// Worker thread only.
class ClientRegistry {
 public:
  /// Registers the accepted client socket `fd`; returns the entry's id.
  std::uint64_t add(int fd, const lb::Endpoint& local, const lb::Endpoint& peer);
  void remove(std::uint64_t id);
  /// Shuts down both directions of every registered socket whose local address is `local`: the
  /// sessions on them see the end of their client and finish through their usual paths. A socket
  /// is shut down only when getsockname/getpeername still name the registered endpoints, so a
  /// reused descriptor is never touched. Returns the clients (peer endpoints) of the sockets shut
  /// down; their entries go.
  std::vector<lb::Endpoint> shutdown_local(const lb::IpAddress& local);
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int fd;
    lb::Endpoint local;
    lb::Endpoint peer;
  };
  std::unordered_map<std::uint64_t, Entry> entries_;
  std::uint64_t next_id_ = 1;
};

}  // namespace lbd::proxy
