// The vrrpd runtime: see daemon.hpp.
#include "vrrpd/daemon.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "common/control/protocol.hpp"
#include "common/control/server.hpp"
#include "common/log.hpp"

namespace vrrp {

struct Daemon::Receiver {
  Receiver(lb::asio::io_context& ctx, int fd, int ifindex_, bool v6_)
      : sd(ctx, fd), ifindex(ifindex_), v6(v6_) {}
  lb::asio::posix::stream_descriptor sd;
  int ifindex;
  bool v6;
};

namespace {

int family_key(lb::IpAddress::Family f) { return f == lb::IpAddress::Family::v4 ? 4 : 6; }

}  // namespace

Daemon::Daemon(lb::asio::io_context& ctx, AddressManager& addresses, Guard* guard)
    : ctx_(ctx), addresses_(addresses), guard_(guard), reaper_(ctx) {
  if (auto nft = lb::nft::make_libnftables_runner()) {
    nft_ = std::move(*nft);
  } else {
    lb::log::get("vrrpd")->error("handover drain off: {}", nft.error().message);
  }
}

Daemon::~Daemon() = default;

lb::Result<Daemon::Receiver*> Daemon::receiver_for(const InterfaceInfo& iface,
                                                   lb::IpAddress::Family family,
                                                   const lb::IpAddress& source) {
  const auto key = std::make_pair(iface.index, family_key(family));
  if (auto it = receivers_.find(key); it != receivers_.end()) return it->second.get();
  auto sock = VrrpSocket::open(iface, family, source);
  if (!sock) {
    return lb::fail(fmt::format("interface {}: {}", iface.name, sock.error().message));
  }
  auto r = std::make_unique<Receiver>(ctx_, sock->release(), iface.index,
                                      family == lb::IpAddress::Family::v6);
  Receiver* raw = r.get();
  receivers_.emplace(key, std::move(r));
  read_loop(*raw);
  return raw;
}

lb::Result<std::unique_ptr<Instance>> Daemon::make_instance(const InstanceConfig& c) {
  std::vector<lb::IpAddress> vips;
  for (const auto& v : c.vips) vips.push_back(v.address);
  auto iface = query_interface(c.interface, vips);
  if (!iface) return std::unexpected(iface.error());
  const auto family = c.vips.front().address.family();
  const auto source =
      family == lb::IpAddress::Family::v4 ? iface->primary_v4 : iface->link_local_v6;
  if (!source) {
    return lb::fail(fmt::format("instance {}: interface {} has no {} address to send from", c.name,
                                c.interface,
                                family == lb::IpAddress::Family::v4 ? "IPv4" : "link-local IPv6"));
  }
  auto receiver = receiver_for(*iface, family, *source);
  if (!receiver) return std::unexpected(receiver.error());
  Sender sender{(*receiver)->sd.native_handle(), iface->index, *source, {}};
  for (const auto& peer : c.unicast_peers) {
    if (peer.family() == family) sender.destinations.push_back(peer);
  }
  if (sender.destinations.empty()) {
    sender.destinations.push_back(
        *lb::IpAddress::parse(family == lb::IpAddress::Family::v4 ? kMulticastV4 : kMulticastV6));
  }
  auto inst = std::make_unique<Instance>(ctx_, c, *iface, std::move(sender), addresses_, guard_,
                                         nft_.get());
  inst->set_transition_hook(
      [this](const Instance& i, const action::Transition& t) { tell_lbd(i, t); });
  return inst;
}

lb::Result<void> Daemon::start(const Config& config) {
  lbd_socket_ = config.lbd_control_socket;
  std::map<std::string, std::unique_ptr<Instance>> made;
  for (const auto& c : config.instances) {
    auto inst = make_instance(c);
    if (!inst) return std::unexpected(inst.error());
    made.emplace(c.name, std::move(*inst));
  }
  instances_ = std::move(made);
  watch_links();
  for (auto& [name, inst] : instances_) {
    inst->set_lbd_ready(!config.track_lbd.has_value());
    inst->start(links_up(inst->config()));
  }
  apply_scripts(config);
  apply_track_lbd(config);
  return {};
}

lb::Result<void> Daemon::reload(const Config& config) {
  auto log = lb::log::get("vrrpd");
  std::map<std::string, std::unique_ptr<Instance>> next;
  std::vector<std::string> fresh;
  // Build every new instance first, so a bad interface leaves the running set untouched.
  for (const auto& c : config.instances) {
    auto it = instances_.find(c.name);
    if (it != instances_.end() && it->second->config() == c) continue;
    auto inst = make_instance(c);
    if (!inst) return std::unexpected(inst.error());
    next.emplace(c.name, std::move(*inst));
    fresh.push_back(c.name);
  }
  lbd_socket_ = config.lbd_control_socket;
  std::size_t kept = 0;
  for (auto it = instances_.begin(); it != instances_.end();) {
    const bool still = std::any_of(config.instances.begin(), config.instances.end(),
                                   [&](const InstanceConfig& c) { return c.name == it->first; });
    if (still && !next.count(it->first)) {
      next.emplace(it->first, std::move(it->second));  // unchanged: state and VIPs untouched
      ++kept;
    } else {
      it->second->stop();
    }
    it = instances_.erase(it);
  }
  instances_ = std::move(next);
  for (const auto& name : fresh) {
    auto& inst = instances_.at(name);
    inst->set_lbd_ready(!config.track_lbd.has_value() || (track_lbd_ && track_lbd_->ready()));
    inst->start(links_up(inst->config()));
  }
  apply_scripts(config);
  apply_track_lbd(config);
  log->info("reload: kept={} started={}", kept, fresh.size());
  return {};
}

void Daemon::tell_lbd(const Instance& inst, const action::Transition& t) {
  if (lbd_socket_.empty()) return;
  auto vips = nlohmann::json::array();
  for (const auto& v : inst.config().vips) vips.push_back(v.to_string());
  const nlohmann::json msg{{"cmd", "vrrp_state"},
                           {"instance", inst.config().name},
                           {"vrid", inst.config().vrid},
                           {"interface", inst.config().interface},
                           {"state", std::string(to_string(t.to))},
                           {"from", std::string(to_string(t.from))},
                           {"reason", t.reason},
                           {"vips", vips}};
  lb::control::request_async(ctx_, lbd_socket_, msg, std::chrono::milliseconds(1000),
                             [this](lb::Result<nlohmann::json> r) {
                               if (r && r->value("ok", false)) {
                                 lbd_failures_ = 0;
                                 return;
                               }
                               // lbd may be down or restarting; warn once per outage, not per
                               // transition.
                               if (lbd_failures_++ == 0) {
                                 lb::log::get("vrrpd")->warn("lbd: state not delivered: {}",
                                                             r ? r->dump() : r.error().message);
                               }
                             });
}

void Daemon::resend_states() {
  for (const auto& [name, inst] : instances_) {
    if (inst->state() == State::kInitialize) continue;
    tell_lbd(*inst, action::Transition{inst->state(), inst->state(),
                                       "current state, resent: lbd knew no role"});
  }
}

void Daemon::apply_scripts(const Config& config) {
  std::map<std::string, std::unique_ptr<TrackScript>> next;
  for (const auto& sc : config.track_scripts) {
    auto it = scripts_.find(sc.name);
    if (it != scripts_.end() && it->second->config() == sc) {
      next.emplace(sc.name, std::move(it->second));  // keeps its rise/fall state
      continue;
    }
    auto script = std::make_unique<TrackScript>(ctx_, sc, [this](bool) { update_scripts(); });
    script->start();
    next.emplace(sc.name, std::move(script));
  }
  scripts_ = std::move(next);
  update_scripts();
}

void Daemon::apply_track_lbd(const Config& config) {
  if (!config.track_lbd) {
    track_lbd_.reset();
  } else if (!track_lbd_ || track_lbd_->config() != *config.track_lbd ||
             track_lbd_->socket() != config.lbd_control_socket) {
    // A changed tracker starts over (up, like a new track_script); an unchanged one keeps its
    // rise/fall state across the reload.
    track_lbd_ = std::make_unique<TrackLbd>(
        ctx_, config.lbd_control_socket, *config.track_lbd,
        [this](bool, const std::string&) { update_scripts(); }, [this] { resend_states(); },
        [this](bool) { update_ready(); });
    track_lbd_->start();
  }
  update_scripts();
  update_ready();
}

void Daemon::update_ready() {
  // Without [track_lbd] nothing reports readiness: the gate waits only for preempt_delay.
  const bool ready = !track_lbd_ || track_lbd_->ready();
  for (auto& [name, inst] : instances_) inst->set_lbd_ready(ready);
}

void Daemon::update_scripts() {
  for (auto& [name, inst] : instances_) {
    bool fault = false;
    int weight = 0;
    std::string reason = "tracked script down";
    if (track_lbd_ && !track_lbd_->up()) {
      if (track_lbd_->config().weight == 0) {
        fault = true;
        reason = "tracked lbd down: " + track_lbd_->reason();
      } else {
        weight += track_lbd_->config().weight;
      }
    }
    for (const auto& s : inst->config().track_scripts) {
      auto it = scripts_.find(s);
      if (it == scripts_.end() || it->second->up()) continue;
      if (it->second->config().weight == 0) {
        fault = true;
      } else {
        weight += it->second->config().weight;
      }
    }
    inst->set_scripts(fault, weight, reason);
  }
}

nlohmann::json Daemon::status() const {
  auto list = nlohmann::json::array();
  for (const auto& [name, inst] : instances_) {
    const auto& c = inst->config();
    auto vips = nlohmann::json::array();
    for (const auto& v : c.vips) vips.push_back(v.to_string());
    list.push_back({{"name", name},
                    {"vrid", c.vrid},
                    {"interface", c.interface},
                    {"family", inst->family() == lb::IpAddress::Family::v4 ? 4 : 6},
                    {"state", std::string(to_string(inst->state()))},
                    {"priority", c.priority},
                    {"effective_priority", inst->effective_priority()},
                    {"switched_over", inst->switched_over()},
                    {"draining", inst->draining()},
                    {"forwarding_to",
                     inst->forwarding_to() ? inst->forwarding_to()->to_string() : std::string()},
                    {"lbd_ready", inst->lbd_ready()},
                    {"preempt_held", inst->preempt_held()},
                    {"preempts_held", inst->preempts_held()},
                    {"vips", vips}});
  }
  nlohmann::json drops = nlohmann::json::object();
  for (std::size_t i = 0; i < kDropReasonCount; ++i) {
    drops[std::string(to_string(static_cast<DropReason>(i)))] = drops_[i];
  }
  nlohmann::json reply{{"ok", true}, {"instances", list}, {"drops", drops}};
  if (track_lbd_) {
    reply["track_lbd"] = {{"socket", track_lbd_->socket()},
                          {"up", track_lbd_->up()},
                          {"ready", track_lbd_->ready()},
                          {"reason", track_lbd_->reason()},
                          {"weight", track_lbd_->config().weight}};
  }
  return reply;
}

nlohmann::json Daemon::switchover(const nlohmann::json& request, bool resume) {
  const auto instance = request.contains("instance") && request["instance"].is_string()
                            ? std::optional(request["instance"].get<std::string>())
                            : std::nullopt;
  const auto vrid = request.contains("vrid") && request["vrid"].is_number_unsigned()
                        ? std::optional(request["vrid"].get<unsigned>())
                        : std::nullopt;
  auto list = nlohmann::json::array();
  bool any_ok = false;
  std::string first_error;
  for (auto& [name, inst] : instances_) {
    if (instance && name != *instance) continue;
    if (vrid && inst->config().vrid != *vrid) continue;
    // Without a target only the instances the command applies to are touched.
    if (!instance && !vrid && (resume ? !inst->switched_over() : inst->state() != State::kMaster)) {
      continue;
    }
    auto r = resume ? inst->resume() : inst->switchover();
    any_ok = any_ok || r.has_value();
    if (!r && first_error.empty()) first_error = r.error().message;
    list.push_back({{"name", name},
                    {"vrid", inst->config().vrid},
                    {"result", r ? std::string(resume ? "resumed: configured priority again"
                                                      : "handed over: now backup, priority 1")
                                 : r.error().message}});
  }
  if (list.empty()) {
    if (instance || vrid) {
      return lb::control::error_reply(instance ? fmt::format("no instance {}", *instance)
                                               : fmt::format("no instance with vrid {}", *vrid));
    }
    return lb::control::error_reply(resume ? "no instance is switched over"
                                           : "no instance is master on this node");
  }
  if (!any_ok) return lb::control::error_reply(first_error);
  return {{"ok", true}, {"instances", list}};
}

nlohmann::json Daemon::handle_control(const nlohmann::json& request) {
  const auto cmd = request["cmd"].get<std::string>();
  if (cmd == "status") return status();
  if (cmd == "switchover") return switchover(request, /*resume=*/false);
  if (cmd == "resume") return switchover(request, /*resume=*/true);
  return lb::control::error_reply(fmt::format("unknown command \"{}\"", cmd));
}

void Daemon::stop() {
  scripts_.clear();
  for (auto& [name, inst] : instances_) inst->stop();
  for (auto& [key, r] : receivers_) {
    lb::error_code ec;
    r->sd.cancel(ec);
  }
  if (link_watch_) {
    lb::error_code ec;
    link_watch_->cancel(ec);
  }
}

void Daemon::read_loop(Receiver& r) {
  r.sd.async_wait(lb::asio::posix::stream_descriptor::wait_read,
                  [this, &r](const lb::error_code& ec) {
                    if (ec) return;  // cancelled on stop
                    // Drain what is queued, bounded so one busy socket cannot starve the timers.
                    for (int i = 0; i < 64; ++i) {
                      auto got = VrrpSocket::receive(r.sd.native_handle(), r.v6);
                      if (!got) break;
                      if (!*got) {
                        count_drop(got->error(), lb::IpAddress{});
                        continue;
                      }
                      handle(r, **got);
                    }
                    read_loop(r);
                  });
}

void Daemon::handle(Receiver& r, const Received& packet) {
  Advert advert;
  if (auto reason = decode_into(packet.message, packet.meta, advert)) {
    count_drop(*reason, packet.meta.source);
    return;
  }
  const auto family = r.v6 ? lb::IpAddress::Family::v6 : lb::IpAddress::Family::v4;
  for (auto& [name, inst] : instances_) {
    if (inst->config().vrid != advert.vrid || inst->family() != family) continue;
    // The receiver is per (ifindex, family): the instance must live on this interface.
    if (static_cast<int>(::if_nametoindex(inst->config().interface.c_str())) != r.ifindex) continue;
    if (auto reason = inst->on_advert(advert, packet.meta)) count_drop(*reason, packet.meta.source);
    return;
  }
  count_drop(DropReason::kVridNotConfigured, packet.meta.source);
}

void Daemon::count_drop(DropReason reason, const lb::IpAddress& from) {
  const auto n = ++drops_[static_cast<std::size_t>(reason)];
  // Rate-limited: the 1st, 2nd, 4th, 8th... drop of each reason.
  if ((n & (n - 1)) == 0) {
    lb::log::get("vrrpd.rx")
        ->warn("dropped advert: reason={} from={} count={}", to_string(reason), from.to_string(),
               n);
  }
}

bool Daemon::links_up(const InstanceConfig& c) const {
  if (!interface_running(c.interface)) return false;
  for (const auto& t : c.track_interfaces) {
    if (!interface_running(t)) return false;
  }
  return true;
}

void Daemon::check_links() {
  for (auto& [name, inst] : instances_) inst->set_link(links_up(inst->config()));
}

void Daemon::watch_links() {
  if (!link_watch_) {
    const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    addr.nl_groups = RTMGRP_LINK;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      lb::log::get("vrrpd")->error("link monitor: netlink: {}", std::strerror(errno));
      if (fd >= 0) ::close(fd);
      return;
    }
    link_watch_ = std::make_unique<lb::asio::posix::stream_descriptor>(ctx_, fd);
  }
  link_watch_->async_wait(lb::asio::posix::stream_descriptor::wait_read,
                          [this](const lb::error_code& ec) {
                            if (ec) return;
                            // The messages only wake us up; the flags are read back per interface.
                            while (::recv(link_watch_->native_handle(), link_buf_.data(),
                                          link_buf_.size(), MSG_DONTWAIT) > 0) {
                            }
                            check_links();
                            watch_links();
                          });
}

}  // namespace vrrp
