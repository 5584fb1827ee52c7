#include "lbd/upstream_conn/upstream_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "lbd/upstream_conn/upstream_tls.hpp"

namespace lbd::proxy {

bool upstream_is_reusable(lb::tcp::socket& socket) {
  if (!socket.is_open()) return false;
  // A peeked 0 means the backend closed the idle connection; pending bytes would be an
  // unsolicited response: either way the connection cannot carry the next request.
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

std::optional<UpstreamConnection> UpstreamPool::take(const Backend* backend, Clock::time_point now,
                                                     std::chrono::nanoseconds max_idle, bool probe,
                                                     const UpstreamTlsContext* tls) {
  auto it = idle_.find(backend);
  if (it == idle_.end()) return std::nullopt;
  auto& list = it->second;
  while (!list.empty()) {
    Idle entry = std::move(list.back());
    list.pop_back();
    if (now - entry.since < max_idle && tls_context_of(entry.conn) == tls &&
        (!probe || upstream_connection_reusable(entry.conn))) {
      entry.conn.lease.unpark();
      return std::move(entry.conn);
    }
    // Expired or closed: dropping `entry` closes the socket and releases the lease.
  }
  return std::nullopt;
}

void UpstreamPool::put(UpstreamConnection conn, Clock::time_point now, std::size_t limit) {
  if (limit == 0 || !conn.lease.backend()) return;
  auto& list = idle_[conn.lease.backend()];
  if (list.size() >= limit) list.erase(list.begin());  // the oldest
  conn.lease.park();                                   // idle: not in-flight load (Backend::active)
  list.push_back(Idle{std::move(conn), now});
}

std::size_t UpstreamPool::idle(const Backend* backend) const {
  auto it = idle_.find(backend);
  return it == idle_.end() ? 0 : it->second.size();
}

std::size_t UpstreamPool::idle_total() const {
  std::size_t n = 0;
  for (const auto& [b, list] : idle_) n += list.size();
  return n;
}

}  // namespace lbd::proxy
