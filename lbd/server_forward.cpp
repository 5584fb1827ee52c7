// The Server's forward mode: programming the kernel's table for mode = "forward" listeners,
// starting the conntrack stream of their flows, and resetting the flows of a backend gone down.
#include <fmt/format.h>

#include "common/nft/runner.hpp"
#include "lbd/forward/services.hpp"
#include "lbd/server.hpp"

namespace lbd {

void Server::apply_forward(const ConfigPtr& config, const std::vector<PoolSnapshotPtr>& pools,
                           std::vector<std::string>& errors) {
  if (!forward_) {
    if (forward::forward_listeners(*config).empty()) return;
    auto runner = lb::nft::make_libnftables_runner();
    if (!runner) {
      errors.push_back(fmt::format("forward: {}", runner.error().message));
      return;
    }
    forward_ = std::make_unique<forward::ForwardManager>(std::move(*runner));
  }
  if (auto r = forward_->apply(config, pools); !r) {
    if (!config_) {
      errors.push_back(fmt::format("forward: {}", r.error().message));
    } else {
      // A reload keeps the kernel's previous table (the transaction is all or nothing).
      log_->error("forward: {}; the kernel keeps the previous table", r.error().message);
    }
    return;
  }
  if (!forward_->services().empty()) {
    log_->info("forward: programmed table=ip {} services={}", forward::kTableName,
               forward_->services().size());
  }
  if (ct_stream_) {
    ct_stream_->set_vips(forward::forward_vips(*config));
  } else if (!forward_->services().empty()) {
    // The conntrack events of the forward flows: replicated to the peer, counted per backend.
    auto stream = forward::CtStream::open(control_);
    if (!stream) {
      if (!config_) {
        errors.push_back(fmt::format("forward: {}", stream.error().message));
      } else {
        log_->error("forward: {}", stream.error().message);
      }
      return;
    }
    ct_stream_ = std::move(*stream);
    ct_stream_->set_vips(forward::forward_vips(*config));
    ct_stream_->start();
    if (replicator_) replicator_->set_ct_table(ct_stream_.get());
  }
}

void Server::reset_forward_flows() {
  for (const auto& r : forward_->take_resets()) {
    const std::size_t n = ct_stream_ ? ct_stream_->reset_backend(r.vips, r.backend) : 0;
    log_->info("forward: listener={} server={} down: reset flows={} (on_server_down = reset)",
               r.listener, r.server, n);
  }
}

void Server::stop_forward() {
  if (!forward_) return;
  if (auto r = forward_->stop(); !r) log_->error("forward: stop: {}", r.error().message);
}

}  // namespace lbd
