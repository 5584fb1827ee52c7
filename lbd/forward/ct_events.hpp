// The kernel's conntrack events (NEW, UPDATE, DESTROY) of the forward-mode flows: a non-blocking
// netlink socket subscribed to the three event groups, with a socket filter (BPF, attached in the
// kernel) that lets through IPv4 TCP entries carrying kFlowMark only, so the host's other flows
// never reach lbd. The caller polls the descriptor and reads in bounded batches.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/replication/wire.hpp"

struct mnl_socket;

namespace lbd::forward {

class CtEvents {
 public:
  /// Opens and subscribes (needs CAP_NET_ADMIN); `receive_buffer` bytes of socket buffer (forced
  /// past rmem_max when permitted) absorb bursts before the kernel drops events (ENOBUFS).
  static lb::Result<std::unique_ptr<CtEvents>> open(std::size_t receive_buffer);
  ~CtEvents();
  CtEvents(const CtEvents&) = delete;
  CtEvents& operator=(const CtEvents&) = delete;

  int fd() const;

  /// One event: the entry (timeout 0 for a DESTROY), whether the flow ended, and the netlink
  /// port id of the process whose change caused it (0 for the traffic's own).
  struct Event {
    repl::CtEntry entry;
    bool ended = false;
    std::uint32_t port_id = 0;
  };
  struct ReadResult {
    std::size_t events = 0;
    bool overflow = false;  // the kernel dropped events (ENOBUFS): the view needs a dump
    bool more = false;      // stopped at `max_datagrams` with data still queued
    bool failed = false;    // another socket error (logged by the caller)
    int error = 0;
  };
  /// Reads up to `max_datagrams` datagrams without blocking, hands each event of a flow to one
  /// of `vips` to `on_event`.
  ReadResult read(const std::vector<lb::Endpoint>& vips, std::size_t max_datagrams,
                  const std::function<void(const Event&)>& on_event);

 private:
  explicit CtEvents(mnl_socket* s) : socket_(s), buffer_(64 * 1024) {}
  mnl_socket* socket_;
  std::vector<char> buffer_;
};

}  // namespace lbd::forward
