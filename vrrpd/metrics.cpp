#include "vrrpd/metrics.hpp"

#include "common/metrics/exposition.hpp"
#include "vrrpd/daemon.hpp"
#include "vrrpd/instance.hpp"

namespace vrrp {

VrrpMetrics collect(const Daemon& daemon) {
  VrrpMetrics m;
  for (const auto& [name, inst] : daemon.instances()) {
    const auto& c = inst->config();
    m.instances.push_back(InstanceMetrics{
        .name = name,
        .interface = c.interface,
        .vrid = c.vrid,
        .family = inst->family() == lb::IpAddress::Family::v6 ? "ipv6" : "ipv4",
        .state = inst->state(),
        .priority = inst->effective_priority(),
        .transitions = inst->transitions(),
        .adverts_sent = inst->adverts_sent(),
        .advert_send_errors = inst->advert_send_errors(),
        .adverts_received = inst->adverts_received(),
    });
  }
  m.drops = daemon.drops();
  return m;
}

std::string render_metrics(const VrrpMetrics& m) {
  using lb::metrics::Type;
  lb::metrics::Exposition e;
  const auto n = [](std::uint64_t v) { return static_cast<double>(v); };
  auto each = [&m](auto&& f) {
    for (const auto& i : m.instances) f(i, std::to_string(i.vrid));
  };
  e.family("lbpair_vrrp_state", "VRRP state per instance: 1 for the current one.", Type::gauge);
  each([&](const InstanceMetrics& i, const std::string& vrid) {
    for (State s : {State::kInitialize, State::kBackup, State::kMaster, State::kFault}) {
      e.sample({{"instance", i.name},
                {"interface", i.interface},
                {"vrid", vrid},
                {"family", i.family},
                {"state", to_string(s)}},
               i.state == s ? 1 : 0);
    }
  });
  e.family("lbpair_vrrp_priority", "Priority advertised now (after tracking).", Type::gauge);
  each([&](const InstanceMetrics& i, const std::string& vrid) {
    e.sample({{"instance", i.name}, {"vrid", vrid}}, i.priority);
  });
  e.family("lbpair_vrrp_transitions_total", "State transitions.", Type::counter);
  each([&](const InstanceMetrics& i, const std::string& vrid) {
    e.sample({{"instance", i.name}, {"vrid", vrid}}, n(i.transitions));
  });
  e.family("lbpair_vrrp_adverts_sent_total", "Advertisements sent (one per destination).",
           Type::counter);
  each([&](const InstanceMetrics& i, const std::string& vrid) {
    e.sample({{"instance", i.name}, {"vrid", vrid}}, n(i.adverts_sent));
  });
  e.family("lbpair_vrrp_advert_send_errors_total", "Advertisements the socket refused.",
           Type::counter);
  each([&](const InstanceMetrics& i, const std::string& vrid) {
    e.sample({{"instance", i.name}, {"vrid", vrid}}, n(i.advert_send_errors));
  });
  e.family("lbpair_vrrp_adverts_received_total",
           "Advertisements accepted by the instance (after the RFC 5798 section 7.1 checks).",
           Type::counter);
  each([&](const InstanceMetrics& i, const std::string& vrid) {
    e.sample({{"instance", i.name}, {"vrid", vrid}}, n(i.adverts_received));
  });
  e.family("lbpair_vrrp_drops_total", "Received packets discarded, by reason.", Type::counter);
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    e.sample({{"reason", to_string(static_cast<DropReason>(r))}}, n(m.drops[r]));
  }
  return e.take();
}

}  // namespace vrrp
