#include "lbd/forward/ct_events.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>

#include "lbd/forward/conntrack.hpp"
#include "lbd/forward/ruleset.hpp"

namespace lbd::forward {

namespace {

struct Filter {
  nfct_filter* f = nfct_filter_create();
  ~Filter() {
    if (f != nullptr) nfct_filter_destroy(f);
  }
  Filter() = default;
  Filter(const Filter&) = delete;
  Filter& operator=(const Filter&) = delete;
};

struct ParseContext {
  const std::vector<lb::Endpoint>* vips;
  const std::function<void(const CtEvents::Event&)>* on_event;
  std::size_t events = 0;
};

int on_message(const nlmsghdr* nlh, void* data) {
  auto* ctx = static_cast<ParseContext*>(data);
  nf_conntrack* ct = nfct_new();
  if (ct == nullptr) return MNL_CB_OK;
  if (nfct_nlmsg_parse(nlh, ct) == 0) {
    if (auto e = read_entry(ct, *ctx->vips)) {
      CtEvents::Event ev;
      ev.entry = *e;
      ev.ended = NFNL_MSG_TYPE(nlh->nlmsg_type) == IPCTNL_MSG_CT_DELETE;
      ev.port_id = nlh->nlmsg_pid;
      ++ctx->events;
      (*ctx->on_event)(ev);
    }
  }
  nfct_destroy(ct);
  return MNL_CB_OK;
}

}  // namespace

lb::Result<std::unique_ptr<CtEvents>> CtEvents::open(std::size_t receive_buffer) {
  mnl_socket* s = mnl_socket_open2(NETLINK_NETFILTER, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (s == nullptr) {
    return lb::fail(fmt::format("conntrack events: socket: {}", std::strerror(errno)));
  }
  std::unique_ptr<CtEvents> events(new CtEvents(s));
  if (mnl_socket_bind(
          s, NF_NETLINK_CONNTRACK_NEW | NF_NETLINK_CONNTRACK_UPDATE | NF_NETLINK_CONNTRACK_DESTROY,
          MNL_SOCKET_AUTOPID) != 0) {
    return lb::fail(fmt::format("conntrack events: bind: {}", std::strerror(errno)));
  }
  const int fd = mnl_socket_get_fd(s);
  const int size = static_cast<int>(receive_buffer);
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);  // capped by rmem_max
  }
  // ENOBUFS is how we learn of lost events; the default is to report it, say so explicitly.
  int off = 0;
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &off, sizeof off);
  // The kernel-side filter: TCP entries with our mark bit, nothing else is queued to us.
  Filter filter;
  if (filter.f == nullptr) return lb::fail("conntrack events: out of memory");
  nfct_filter_add_attr_u32(filter.f, NFCT_FILTER_L4PROTO, IPPROTO_TCP);
  nfct_filter_dump_mark mark{kFlowMark, kFlowMark};
  nfct_filter_add_attr(filter.f, NFCT_FILTER_MARK, &mark);
  if (nfct_filter_attach(fd, filter.f) != 0) {
    return lb::fail(fmt::format("conntrack events: filter: {}", std::strerror(errno)));
  }
  return events;
}

CtEvents::~CtEvents() { mnl_socket_close(socket_); }

int CtEvents::fd() const { return mnl_socket_get_fd(socket_); }

CtEvents::ReadResult CtEvents::read(const std::vector<lb::Endpoint>& vips,
                                    std::size_t max_datagrams,
                                    const std::function<void(const Event&)>& on_event) {
  ReadResult result;
  ParseContext ctx{&vips, &on_event};
  for (std::size_t i = 0;; ++i) {
    if (i == max_datagrams) {
      result.more = true;
      break;
    }
    const ssize_t n = mnl_socket_recvfrom(socket_, buffer_.data(), buffer_.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        // Reported once; what is still queued is read on.
        result.overflow = true;
        continue;
      }
      result.failed = true;
      result.error = errno;
      break;
    }
    (void)mnl_cb_run(buffer_.data(), static_cast<std::size_t>(n), 0, 0, on_message, &ctx);
  }
  result.events = ctx.events;
  return result;
}

}  // namespace lbd::forward
