#include "lbd/forward/conntrack.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack_tcp.h>

#include "lbd/forward/ct_entry.hpp"
#include "lbd/forward/ruleset.hpp"

namespace lbd::forward {

namespace {

struct CtObject {
  nf_conntrack* ct = nfct_new();
  ~CtObject() {
    if (ct != nullptr) nfct_destroy(ct);
  }
  CtObject() = default;
  CtObject(const CtObject&) = delete;
  CtObject& operator=(const CtObject&) = delete;
};

std::uint32_t addr_u32(const std::array<std::uint8_t, 4>& a) {
  std::uint32_t v;
  std::memcpy(&v, a.data(), 4);  // already network order
  return v;
}

std::array<std::uint8_t, 4> addr_bytes(std::uint32_t v) {
  std::array<std::uint8_t, 4> a{};
  std::memcpy(a.data(), &v, 4);
  return a;
}

void set_original(nf_conntrack* ct, const repl::CtTuple& t) {
  nfct_set_attr_u8(ct, ATTR_L3PROTO, AF_INET);
  nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_TCP);
  nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_SRC, addr_u32(t.src));
  nfct_set_attr_u32(ct, ATTR_ORIG_IPV4_DST, addr_u32(t.dst));
  nfct_set_attr_u16(ct, ATTR_ORIG_PORT_SRC, htons(t.sport));
  nfct_set_attr_u16(ct, ATTR_ORIG_PORT_DST, htons(t.dport));
}

// The TCP state, the window scale factors (which the kernel cannot re-learn mid-flow) and the
// peer's flags, plus "be liberal" in both directions: the windows of the entry are stale or
// unknown here. An entry this node created itself when it carried the flow before (a
// switchover and the switch-back, or lbd restarted on a node whose kernel kept its table) holds
// the windows of that time; with strict tracking the kernel finds the flow's current segments
// out of window, marks them invalid, skips the NAT and the local stack resets the flow. Liberal
// tracking accepts them and follows the windows from there (conntrackd does the same unless
// window tracking is asked for).
void set_tcp_state(nf_conntrack* ct, const repl::CtEntry& e) {
  const auto with_liberal = [](std::uint8_t flags) {
    return static_cast<std::uint8_t>(flags | IP_CT_TCP_FLAG_BE_LIBERAL);
  };
  nfct_set_attr_u8(ct, ATTR_TCP_STATE, e.tcp_state);
  nfct_set_attr_u8(ct, ATTR_TCP_WSCALE_ORIG, e.wscale_original);
  nfct_set_attr_u8(ct, ATTR_TCP_WSCALE_REPL, e.wscale_reply);
  nfct_set_attr_u8(ct, ATTR_TCP_FLAGS_ORIG, with_liberal(e.flags_original));
  nfct_set_attr_u8(ct, ATTR_TCP_MASK_ORIG, with_liberal(e.flags_original));
  nfct_set_attr_u8(ct, ATTR_TCP_FLAGS_REPL, with_liberal(e.flags_reply));
  nfct_set_attr_u8(ct, ATTR_TCP_MASK_REPL, with_liberal(e.flags_reply));
  // A zero timeout is refused by the kernel; an entry read without one gets a short one, which
  // the next update or refresh replaces.
  nfct_set_attr_u32(ct, ATTR_TIMEOUT, e.timeout_s != 0 ? e.timeout_s : 120);
}

struct DumpContext {
  const std::vector<lb::Endpoint>* vips;
  std::vector<repl::CtEntry>* out;
};

int on_dump(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
  auto* ctx = static_cast<DumpContext*>(data);
  if (auto e = read_entry(ct, *ctx->vips)) ctx->out->push_back(*e);
  return NFCT_CB_CONTINUE;
}

struct FilterDump {
  nfct_filter_dump* f = nfct_filter_dump_create();
  ~FilterDump() {
    if (f != nullptr) nfct_filter_dump_destroy(f);
  }
  FilterDump() = default;
  FilterDump(const FilterDump&) = delete;
  FilterDump& operator=(const FilterDump&) = delete;
};

}  // namespace

std::optional<repl::CtEntry> read_entry(const nf_conntrack* ct,
                                        const std::vector<lb::Endpoint>& vips) {
  if (nfct_get_attr_u8(ct, ATTR_L3PROTO) != AF_INET ||
      nfct_get_attr_u8(ct, ATTR_L4PROTO) != IPPROTO_TCP) {
    return std::nullopt;
  }
  repl::CtEntry e;
  e.original.src = addr_bytes(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_SRC));
  e.original.dst = addr_bytes(nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST));
  e.original.sport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC));
  e.original.dport = ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST));
  if (!is_forward_flow(e.original, vips)) return std::nullopt;
  e.reply.src = addr_bytes(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_SRC));
  e.reply.dst = addr_bytes(nfct_get_attr_u32(ct, ATTR_REPL_IPV4_DST));
  e.reply.sport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC));
  e.reply.dport = ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST));
  e.tcp_state = nfct_get_attr_u8(ct, ATTR_TCP_STATE);
  e.wscale_original = nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_ORIG);
  e.wscale_reply = nfct_get_attr_u8(ct, ATTR_TCP_WSCALE_REPL);
  e.flags_original = nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_ORIG);
  e.flags_reply = nfct_get_attr_u8(ct, ATTR_TCP_FLAGS_REPL);
  e.timeout_s = nfct_attr_is_set(ct, ATTR_TIMEOUT) > 0 ? nfct_get_attr_u32(ct, ATTR_TIMEOUT) : 0;
  // What the wire refuses is not sent: the peer would drop the whole session.
  if (e.tcp_state > repl::kMaxCtTcpState || e.wscale_original > repl::kMaxWindowScale ||
      e.wscale_reply > repl::kMaxWindowScale) {
    return std::nullopt;
  }
  return e;
}

lb::Result<std::unique_ptr<Conntrack>> Conntrack::open() {
  nfct_handle* h = nfct_open(CONNTRACK, 0);
  if (h == nullptr) return lb::fail(fmt::format("conntrack: nfct_open: {}", std::strerror(errno)));
  return std::unique_ptr<Conntrack>(new Conntrack(h));
}

Conntrack::~Conntrack() { nfct_close(handle_); }

lb::Result<std::vector<repl::CtEntry>> Conntrack::dump(const std::vector<lb::Endpoint>& vips) {
  std::vector<repl::CtEntry> out;
  DumpContext ctx{&vips, &out};
  nfct_callback_register(handle_, NFCT_T_ALL, on_dump, &ctx);
  std::uint32_t family = AF_INET;
  const int rc = nfct_query(handle_, NFCT_Q_DUMP, &family);
  const int err = errno;
  nfct_callback_unregister(handle_);
  if (rc != 0) return lb::fail(fmt::format("conntrack: dump: {}", std::strerror(err)));
  return out;
}

lb::Result<std::vector<repl::CtEntry>> Conntrack::dump_marked(
    const std::vector<lb::Endpoint>& vips) {
  FilterDump filter;
  if (filter.f == nullptr) return lb::fail("conntrack: out of memory");
  nfct_filter_dump_mark mark{kFlowMark, kFlowMark};
  nfct_filter_dump_set_attr(filter.f, NFCT_FILTER_DUMP_MARK, &mark);
  nfct_filter_dump_set_attr_u8(filter.f, NFCT_FILTER_DUMP_L3NUM, AF_INET);
  std::vector<repl::CtEntry> out;
  DumpContext ctx{&vips, &out};
  nfct_callback_register(handle_, NFCT_T_ALL, on_dump, &ctx);
  const int rc = nfct_query(handle_, NFCT_Q_DUMP_FILTER, filter.f);
  const int err = errno;
  nfct_callback_unregister(handle_);
  if (rc != 0) return lb::fail(fmt::format("conntrack: dump: {}", std::strerror(err)));
  return out;
}

std::uint32_t Conntrack::port_id() const { return nfnl_portid(nfct_nfnlh(handle_)); }

lb::Result<void> Conntrack::install(const repl::CtEntry& entry) {
  CtObject obj;
  if (obj.ct == nullptr) return lb::fail("conntrack: out of memory");
  set_original(obj.ct, entry.original);
  nfct_setobjopt(obj.ct, NFCT_SOPT_SETUP_REPLY);
  set_tcp_state(obj.ct, entry);
  nfct_set_attr_u32(obj.ct, ATTR_STATUS, IPS_SEEN_REPLY | IPS_ASSURED);
  // Marked as the DNAT rule marks its flows: after a takeover this node's event reader and
  // dumps see the flows it adopted.
  nfct_set_attr_u32(obj.ct, ATTR_MARK, kFlowMark);
  // The NAT binding: the kernel derives the reply tuple from it and marks the entry NATed.
  const auto nat = nat_binding(entry);
  nfct_set_attr_u32(obj.ct, ATTR_DNAT_IPV4, addr_u32(entry.reply.src));
  nfct_set_attr_u16(obj.ct, ATTR_DNAT_PORT, htons(nat.dnat.port));
  if (nat.snat) {
    nfct_set_attr_u32(obj.ct, ATTR_SNAT_IPV4, addr_u32(entry.reply.dst));
    nfct_set_attr_u16(obj.ct, ATTR_SNAT_PORT, htons(nat.snat->port));
  }
  if (nfct_query(handle_, NFCT_Q_CREATE, obj.ct) == 0) return {};
  if (errno != EEXIST) {
    return lb::fail(fmt::format("conntrack: create: {}", std::strerror(errno)));
  }
  // Known already (an earlier update): refresh state and timeout; the binding cannot change.
  CtObject upd;
  if (upd.ct == nullptr) return lb::fail("conntrack: out of memory");
  set_original(upd.ct, entry.original);
  set_tcp_state(upd.ct, entry);
  if (nfct_query(handle_, NFCT_Q_UPDATE, upd.ct) != 0) {
    return lb::fail(fmt::format("conntrack: update: {}", std::strerror(errno)));
  }
  return {};
}

lb::Result<void> Conntrack::remove(const repl::CtTuple& original) {
  CtObject obj;
  if (obj.ct == nullptr) return lb::fail("conntrack: out of memory");
  set_original(obj.ct, original);
  if (nfct_query(handle_, NFCT_Q_DESTROY, obj.ct) != 0 && errno != ENOENT) {
    return lb::fail(fmt::format("conntrack: destroy: {}", std::strerror(errno)));
  }
  return {};
}

}  // namespace lbd::forward
