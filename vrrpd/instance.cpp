// One virtual router at run time: see instance.hpp.
#include "vrrpd/instance.hpp"

#include <algorithm>

#include "common/log.hpp"
#include "common/spawn.hpp"
#include "vrrpd/guard.hpp"
#include "vrrpd/track.hpp"

namespace vrrp {

namespace {

FsmConfig fsm_config(const InstanceConfig& c, const lb::IpAddress& source) {
  return FsmConfig{c.priority,        std::chrono::duration_cast<Centis>(c.advert_interval),
                   c.preempt,         source,
                   c.preempt_delay,   c.preempt_gate_timeout,
                   /*lbd_ready=*/true};
}

std::vector<lb::IpAddress> vip_addresses(const InstanceConfig& c) {
  std::vector<lb::IpAddress> out;
  for (const auto& v : c.vips) out.push_back(v.address);
  return out;
}

// Parameters by value: they live in the coroutine frame, which may outlive the instance.
lb::awaitable<void> run_notify(lb::SpawnOptions options, std::string name) {
  auto r = co_await lb::run_process(std::move(options), std::chrono::milliseconds(0));
  auto log = lb::log::get("vrrpd.notify");
  if (!r) {
    log->error("{}: notify: {}", name, r.error().message);
  } else if (!r->success()) {
    log->warn("{}: notify: {}", name, lb::describe(*r, std::chrono::milliseconds(0)));
  }
}

AnnounceConfig announce_config(const InstanceConfig& c) {
  return AnnounceConfig{c.garp_repeat, c.garp_master_delay, c.garp_master_refresh};
}

}  // namespace

Instance::Instance(lb::asio::io_context& ctx, InstanceConfig config, const InterfaceInfo& iface,
                   Sender sender, AddressManager& addresses, Guard* guard, lb::nft::NftRunner* nft)
    : ctx_(ctx),
      config_(std::move(config)),
      sender_(std::move(sender)),
      addresses_(addresses),
      guard_(guard),
      fsm_(fsm_config(config_, sender_.source)),
      announcer_(ctx, iface.index, iface.mac, vip_addresses(config_), announce_config(config_)),
      adver_timer_(ctx),
      master_down_timer_(ctx),
      handover_(nft, key(), config_.interface, vip_addresses(config_)),
      drain_timer_(ctx),
      forward_timer_(ctx),
      preempt_delay_timer_(ctx),
      preempt_gate_timer_(ctx) {}

Instance::~Instance() {
  *alive_ = false;
  adver_timer_.cancel();
  master_down_timer_.cancel();
  drain_timer_.cancel();
  forward_timer_.cancel();
  preempt_delay_timer_.cancel();
  preempt_gate_timer_.cancel();
  announcer_.stop();
  // A reload that drops this instance stopped it first; anything left is cleared here.
  if (forwarding_to_) handover_.clear_forward();
  if (draining_) handover_.clear_drain();
}

std::string Instance::key() const {
  return fmt::format("{}/{}/{}", config_.interface, config_.vrid,
                     family() == lb::IpAddress::Family::v4 ? 4 : 6);
}

void Instance::start(bool link_up) {
  // A previous run that died without its guard (e.g. the whole cgroup SIGKILLed) may have left
  // the VIPs behind; a starting node is never master, so they go. So do handover tables left by
  // a SIGKILL (the guard removes VIPs, not tables).
  for (const auto& vip : config_.vips) {
    if (auto r = addresses_.remove(sender_.ifindex, vip); !r) {
      lb::log::get("vrrpd.instance")
          ->warn("{}: stale vip cleanup failed: {}", config_.name, r.error().message);
    }
  }
  if (handover_enabled()) {
    handover_.clear_forward();
    handover_.clear_drain();
  }
  link_up_ = link_up;
  healthy_ = true;
  run(event::Startup{});
  apply_health();
}

void Instance::stop() {
  run(event::Shutdown{});
  // A Backup still draining holds the VIPs: a stop ends the window now.
  if (draining_) end_drain("stop");
}

std::optional<DropReason> Instance::on_advert(const Advert& advert, const PacketMeta& meta) {
  InstanceView self{config_.vrid, fsm_.priority(), vip_addresses(config_)};
  if (auto reason = check_instance(advert, self)) return reason;
  const auto ours = static_cast<std::uint16_t>(config_.advert_interval.count() / 10);
  if (advert.max_advert_int_cs != ours && advert.max_advert_int_cs != last_mismatched_interval_) {
    // §7.1 (v3): not a drop — a backup learns the master's interval — but worth one log line.
    last_mismatched_interval_ = advert.max_advert_int_cs;
    lb::log::get("vrrpd.instance")
        ->warn("{}: advert interval mismatch: from={} theirs={}cs ours={}cs", config_.name,
               meta.source.to_string(), advert.max_advert_int_cs, ours);
  }
  ++adverts_received_;
  run(event::AdvertReceived{advert.priority, Centis(advert.max_advert_int_cs), meta.source});
  return std::nullopt;
}

void Instance::set_lbd_ready(bool ready) {
  if (lbd_ready_known_ && ready == lbd_ready_) return;
  lbd_ready_known_ = true;
  lbd_ready_ = ready;
  run(event::LbdReady{ready});
}

void Instance::set_link(bool up) {
  link_up_ = up;
  apply_health();
}

void Instance::set_scripts(bool fault, int failing_weight, std::string fault_reason) {
  script_fault_ = fault;
  failing_weight_ = failing_weight;
  if (fault) fault_reason_ = std::move(fault_reason);
  apply_priority();
  apply_health();
}

void Instance::apply_priority() {
  // A switched-over instance advertises 1, the lowest priority that still takes part: it takes
  // the VIPs back only when no peer advertises at all.
  const auto priority = switched_over_
                            ? std::uint8_t{1}
                            : vrrp::effective_priority(config_.priority, failing_weight_);
  if (priority != fsm_.priority()) {
    lb::log::get("vrrpd.instance")
        ->info("{}: priority: configured={} effective={} failing_weight={} switched_over={}",
               config_.name, config_.priority, priority, failing_weight_, switched_over_);
    run(event::PriorityChanged{priority});
  }
}

lb::Result<void> Instance::switchover() {
  if (config_.priority == 255) {
    return lb::fail(
        fmt::format("{}: the address owner (priority 255) cannot hand over", config_.name));
  }
  if (fsm_.state() != State::kMaster) {
    return lb::fail(
        fmt::format("{}: not master (state {})", config_.name, to_string(fsm_.state())));
  }
  lb::log::get("vrrpd.instance")
      ->info("{}: switchover: handing mastership to the peer (priority 1 until resume)",
             config_.name);
  switched_over_ = true;
  apply_priority();
  run(event::Switchover{});
  return {};
}

lb::Result<void> Instance::resume() {
  if (!switched_over_) return lb::fail(fmt::format("{}: no switchover to end", config_.name));
  switched_over_ = false;
  lb::log::get("vrrpd.instance")
      ->info("{}: switchover ended: configured priority again", config_.name);
  apply_priority();
  return {};
}

void Instance::apply_health() {
  const bool healthy = link_up_ && !script_fault_;
  if (healthy == healthy_) return;
  healthy_ = healthy;
  if (healthy) {
    run(event::InterfaceUp{});
  } else {
    run(event::InterfaceDown{!link_up_ ? "tracked interface down" : fault_reason_});
  }
}

void Instance::run(const Event& e) {
  for (const auto& a : fsm_.handle(e)) execute(a);
}

void Instance::arm(lb::asio::steady_timer& timer, std::uint64_t& generation, Micros after,
                   Event fire) {
  const auto gen = ++generation;
  timer.expires_after(after);
  timer.async_wait([this, &generation, gen, fire, alive = alive_](const lb::error_code& ec) {
    // A cancelled or re-armed timer may still complete once with success: the generation says
    // whether this completion is the current one.
    if (ec || !*alive || gen != generation) return;
    run(fire);
  });
}

void Instance::execute(const Action& a) {
  std::visit(
      [this](const auto& act) {
        using T = std::decay_t<decltype(act)>;
        if constexpr (std::is_same_v<T, action::SendAdvert>) {
          send_advert(act.priority);
        } else if constexpr (std::is_same_v<T, action::AcquireVips>) {
          acquire_vips(act.previous_master);
        } else if constexpr (std::is_same_v<T, action::AnnounceVips>) {
          lb::log::get("vrrpd.instance")
              ->info("{}: lower-priority master heard, re-announcing vips", config_.name);
          announcer_.burst_once();
          // Clients that followed the other master during the split now reach us: their
          // connections live there, while it drains them.
          if (act.co_master && handover_enabled() && !forwarding_to_) {
            forward_strays_to(*act.co_master);
          }
        } else if constexpr (std::is_same_v<T, action::ReleaseVips>) {
          release_vips();
        } else if constexpr (std::is_same_v<T, action::HandOverVips>) {
          hand_over_vips();
        } else if constexpr (std::is_same_v<T, action::ArmAdverTimer>) {
          arm(adver_timer_, adver_gen_, act.after, event::AdverTimerFired{});
        } else if constexpr (std::is_same_v<T, action::ArmMasterDownTimer>) {
          arm(master_down_timer_, master_down_gen_, act.after, event::MasterDownTimerFired{});
        } else if constexpr (std::is_same_v<T, action::CancelAdverTimer>) {
          ++adver_gen_;
          adver_timer_.cancel();
        } else if constexpr (std::is_same_v<T, action::CancelMasterDownTimer>) {
          ++master_down_gen_;
          master_down_timer_.cancel();
        } else if constexpr (std::is_same_v<T, action::ArmPreemptDelayTimer>) {
          arm(preempt_delay_timer_, preempt_delay_gen_, act.after, event::PreemptDelayTimerFired{});
        } else if constexpr (std::is_same_v<T, action::ArmPreemptGateTimer>) {
          arm(preempt_gate_timer_, preempt_gate_gen_, act.after, event::PreemptGateTimerFired{});
        } else if constexpr (std::is_same_v<T, action::CancelPreemptGateTimer>) {
          ++preempt_gate_gen_;
          preempt_gate_timer_.cancel();
        } else if constexpr (std::is_same_v<T, action::PreemptHeld>) {
          ++preempts_held_;
          lb::log::get("vrrpd.fsm")
              ->info("{}: preemption held: vrid={} {}", config_.name, config_.vrid, act.reason);
        } else if constexpr (std::is_same_v<T, action::Transition>) {
          lb::log::get("vrrpd.fsm")
              ->info("{}: transition: vrid={} from={} to={} reason=\"{}\"", config_.name,
                     config_.vrid, to_string(act.from), to_string(act.to), act.reason);
          ++transitions_;
          // Fault or stop while draining: the connections cannot be served on; go at once.
          if (draining_ && act.to != State::kBackup) end_drain("left backup");
          notify(act);
          if (hook_) hook_(*this, act);
        }
      },
      a);
}

void Instance::send_advert(std::uint8_t priority) {
  Advert advert{config_.vrid, priority,
                static_cast<std::uint16_t>(config_.advert_interval.count() / 10),
                vip_addresses(config_)};
  for (const auto& dst : sender_.destinations) {
    const auto msg = encode(advert, sender_.source, dst);
    if (auto r = VrrpSocket::send_on(sender_.fd, sender_.ifindex, sender_.source, dst, msg); !r) {
      // Expected while the link is down (Fault sends a last priority 0 that cannot leave).
      lb::log::get("vrrpd.instance")->debug("{}: send: {}", config_.name, r.error().message);
      ++advert_send_errors_;
    } else {
      ++adverts_sent_;
    }
  }
}

void Instance::acquire_vips(const std::optional<lb::IpAddress>& previous_master) {
  if (draining_) {
    // Master again within the window: the addresses are still here, announce them again.
    ++drain_gen_;
    drain_timer_.cancel();
    draining_ = false;
    handover_.clear_drain();
    lb::log::get("vrrpd.handover")->info("{}: drain ended: master again", config_.name);
  }
  if (previous_master && handover_enabled()) forward_strays_to(*previous_master);
  // Arm the guard first: if we die between adding and arming, the VIPs would be orphaned.
  if (guard_ != nullptr) {
    guard_->arm(
        GuardOrder{key(), sender_.ifindex, sender_.source, sender_.destinations, config_.vrid,
                   static_cast<std::uint16_t>(config_.advert_interval.count() / 10), config_.vips});
  }
  for (const auto& vip : config_.vips) {
    if (auto r = addresses_.add(sender_.ifindex, vip); !r) {
      lb::log::get("vrrpd.instance")->error("{}: {}", config_.name, r.error().message);
    }
  }
  vips_held_ = true;
  announcer_.start();
}

void Instance::forward_strays_to(const lb::IpAddress& previous_master) {
  if (auto r = handover_.install_forward(previous_master); !r) {
    lb::log::get("vrrpd.handover")
        ->error("{}: cannot forward strays to {}: {}", config_.name, previous_master.to_string(),
                r.error().message);
    return;
  }
  forwarding_to_ = previous_master;
  lb::log::get("vrrpd.handover")
      ->info("{}: forwarding packets of unknown connections to {} for {}ms", config_.name,
             previous_master.to_string(), config_.handover_drain.count());
  const auto gen = ++forward_gen_;
  forward_timer_.expires_after(config_.handover_drain);
  forward_timer_.async_wait([this, gen, alive = alive_](const lb::error_code& ec) {
    if (ec || !*alive || gen != forward_gen_) return;
    end_forward();
  });
}

bool Instance::handover_enabled() const { return config_.handover_drain.count() > 0; }

void Instance::end_forward() {
  if (!forwarding_to_) return;
  ++forward_gen_;
  forward_timer_.cancel();
  handover_.clear_forward();
  lb::log::get("vrrpd.handover")
      ->info("{}: forwarding to {} ended", config_.name, forwarding_to_->to_string());
  forwarding_to_.reset();
}

void Instance::hand_over_vips() {
  end_forward();
  if (!handover_enabled()) {
    release_vips();
    return;
  }
  // Nothing to drain: let go at once, as without a window.
  const auto connections = count_local_vip_connections(vip_addresses(config_));
  if (connections == 0) {
    lb::log::get("vrrpd.handover")
        ->info("{}: no connection to the vips: released without a drain", config_.name);
    release_vips();
    return;
  }
  announcer_.stop();
  if (auto r = handover_.install_drain(); !r) {
    lb::log::get("vrrpd.handover")
        ->error("{}: cannot stop answering ARP / ND for the vips, releasing them: {}", config_.name,
                r.error().message);
    release_vips();
    return;
  }
  draining_ = true;
  ++drains_;
  drain_deadline_ = lb::asio::steady_timer::clock_type::now() + config_.handover_drain;
  lb::log::get("vrrpd.handover")
      ->info("{}: draining: vips kept unannounced for at most {}ms, connections={}", config_.name,
             config_.handover_drain.count(), connections);
  poll_drain();
}

void Instance::poll_drain() {
  // Short enough that a drained node lets go soon after its last connection, cheap enough to
  // read /proc/net/tcp at: only while draining.
  constexpr auto kPoll = std::chrono::milliseconds(200);
  const auto now = lb::asio::steady_timer::clock_type::now();
  drain_timer_.expires_after(std::min<lb::asio::steady_timer::duration>(
      kPoll, std::max(drain_deadline_ - now, lb::asio::steady_timer::duration::zero())));
  const auto gen = ++drain_gen_;
  drain_timer_.async_wait([this, gen, alive = alive_](const lb::error_code& ec) {
    if (ec || !*alive || gen != drain_gen_ || !draining_) return;
    if (lb::asio::steady_timer::clock_type::now() >= drain_deadline_) {
      end_drain("window over");
    } else if (count_local_vip_connections(vip_addresses(config_)) == 0) {
      end_drain("no connection left");
    } else {
      poll_drain();
    }
  });
}

void Instance::end_drain(const char* why) {
  if (!draining_) return;
  ++drain_gen_;
  drain_timer_.cancel();
  draining_ = false;
  const auto left = count_local_vip_connections(vip_addresses(config_));
  release_vips();
  handover_.clear_drain();
  lb::log::get("vrrpd.handover")
      ->info("{}: drain ended ({}): vips removed, connections left={}", config_.name, why, left);
}

void Instance::release_vips() {
  end_forward();
  if (draining_) {
    // Released while draining (fault, stop): the window ends with it.
    ++drain_gen_;
    drain_timer_.cancel();
    draining_ = false;
    handover_.clear_drain();
  }
  announcer_.stop();
  for (const auto& vip : config_.vips) {
    if (auto r = addresses_.remove(sender_.ifindex, vip); !r) {
      lb::log::get("vrrpd.instance")->error("{}: {}", config_.name, r.error().message);
    }
  }
  vips_held_ = false;
  if (guard_ != nullptr) guard_->disarm(key());
}

void Instance::notify(const action::Transition& t) {
  if (config_.notify.empty()) return;
  auto options = lb::shell_command(
      config_.notify, {"VRRP_INSTANCE=" + config_.name, fmt::format("VRRP_VRID={}", config_.vrid),
                       fmt::format("VRRP_STATE={}", to_string(t.to)),
                       fmt::format("VRRP_FROM={}", to_string(t.from)), "VRRP_REASON=" + t.reason});
  // Nothing here waits for the script (a slow one must never delay a timer): a coroutine of its
  // own reaps it. No deadline: a notify script may legitimately take its time.
  lb::asio::co_spawn(ctx_, run_notify(std::move(options), config_.name),
                     lb::log_exceptions(lb::log::get("vrrpd.notify"), "notify"));
}

}  // namespace vrrp
