// The Server's periodic checks on the control thread: readiness (published to vrrpd's watch
// streams), the expiry of stick-table entries, and the watch of the TLS files that reloads when
// a certificate changes.
#include <sys/stat.h>

#include <fmt/format.h>

#include "lbd/admin/readiness.hpp"
#include "lbd/server.hpp"

namespace lbd {

namespace {
// How often readiness is re-evaluated: it bounds how late vrrpd learns that lbd became ready.
constexpr std::chrono::milliseconds kReadinessInterval{50};
}  // namespace

void Server::schedule_readiness() {
  std::vector<std::string> checking;
  for (const auto& [name, m] : health_) {
    if (!m->round_done()) checking.push_back(name);
  }
  const auto r = admin::assess_readiness(draining_, checking, replication_status());
  if (!ready_ || *ready_ != r.ready) {
    std::string why;
    for (const auto& x : r.reasons) why += (why.empty() ? "" : "; ") + x;
    log_->info("readiness: {}{}{}", r.ready ? "ready" : "not ready", why.empty() ? "" : ": ", why);
    ready_ = r.ready;
  }
  if (control_socket_) control_socket_->set_watch_state(admin::readiness_json(r));
  readiness_timer_.expires_after(kReadinessInterval);
  readiness_timer_.async_wait([this](const lb::error_code& ec) {
    if (!ec) schedule_readiness();
  });
}

void Server::schedule_sticky_expiry() {
  // Lookups already treat expired entries as misses; this pass frees their memory and journals
  // the expiry for the peer.
  sticky_timer_.expires_after(std::chrono::seconds(1));
  sticky_timer_.async_wait([this](const lb::error_code& ec) {
    if (ec || draining_) return;
    if (const auto n = sticky_.expire(); n > 0) log_->debug("persistence: expired entries={}", n);
    schedule_sticky_expiry();
  });
}

std::string Server::tls_files_signature() const {
  std::string sig;
  std::vector<std::string> files;
  for (const auto& l : config_->listeners) {
    if (!l.tls) continue;
    const auto f = l.tls->watched_files();
    files.insert(files.end(), f.begin(), f.end());
  }
  for (const auto& p : config_->pools) {
    if (!p.tls) continue;
    const auto f = p.tls->watched_files();
    files.insert(files.end(), f.begin(), f.end());
  }
  for (const auto& file : files) {
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      sig += fmt::format("{}:missing\n", file);
      continue;
    }
    sig += fmt::format("{}:{}:{}:{}.{}:{}\n", file, st.st_dev, st.st_ino, st.st_mtim.tv_sec,
                       st.st_mtim.tv_nsec, st.st_size);
  }
  return sig;
}

void Server::schedule_tls_watch() {
  const auto interval = config_->global.tls_watch_interval;
  // Re-checked at this pace even while off, so that a reload can turn the watch on.
  tls_watch_timer_.expires_after(interval.count() > 0 ? interval : std::chrono::seconds(1));
  tls_watch_timer_.async_wait([this](const lb::error_code& ec) {
    if (ec || draining_) return;
    if (config_->global.tls_watch_interval.count() > 0) {
      if (auto sig = tls_files_signature(); sig != tls_signature_) {
        log_->info("tls: certificate files changed; reloading config={}", config_path_);
        reload();
      }
    }
    schedule_tls_watch();
  });
}

}  // namespace lbd
