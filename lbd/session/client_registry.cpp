// Client sockets by local address: see client_registry.hpp.
#include "lbd/session/client_registry.hpp"

#include <sys/socket.h>

#include <optional>
#include <vector>

namespace lbd::proxy {

namespace {

std::optional<lb::Endpoint> name_of(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0) return std::nullopt;
  return lb::Endpoint::from_sockaddr(sa);
}

}  // namespace

std::uint64_t ClientRegistry::add(int fd, const lb::Endpoint& local, const lb::Endpoint& peer) {
  const auto id = next_id_++;
  entries_.emplace(id, Entry{fd, local, peer});
  return id;
}

void ClientRegistry::remove(std::uint64_t id) { entries_.erase(id); }

std::vector<lb::Endpoint> ClientRegistry::shutdown_local(const lb::IpAddress& local) {
  const auto wanted = local.unmapped();
  std::vector<std::uint64_t> done;
  std::vector<lb::Endpoint> clients;
  for (const auto& [id, e] : entries_) {
    if (e.local.address.unmapped() != wanted) continue;
    const auto now_local = name_of(e.fd, false);
    const auto now_peer = name_of(e.fd, true);
    if (now_local != e.local || now_peer != e.peer) continue;
    ::shutdown(e.fd, SHUT_RDWR);
    done.push_back(id);
    clients.push_back(e.peer);
  }
  for (const auto id : done) entries_.erase(id);
  return clients;
}

}  // namespace lbd::proxy
