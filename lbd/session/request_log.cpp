#include "lbd/session/request_log.hpp"

#include <fmt/format.h>

#include "lbd/telemetry/access_log.hpp"

namespace lbd::proxy {

void finish_request(WorkerContext& worker, admin::ListenerCounters& listener,
                    std::string_view listener_name, std::string_view client,
                    const RequestObservation& obs) {
  if (obs.status != 0) listener.response(obs.status);
  listener.bytes_in.add(obs.bytes_in);
  listener.bytes_out.add(obs.bytes_out);
  auto* log = worker.access_log();
  if (!log) return;
  std::string route;
  if (obs.route == -1) {
    route = "default";
  } else if (obs.route >= 0) {
    route = fmt::format("route#{}", obs.route);
  }
  admin::AccessRecord r;
  r.time = std::chrono::system_clock::now();
  r.kind = obs.kind;
  r.client = client;
  r.listener = listener_name;
  r.route = route;
  r.pool = obs.pool;
  r.server = obs.server;
  r.method = obs.method;
  r.target = obs.target;
  r.status = obs.status;
  r.bytes_in = obs.bytes_in;
  r.bytes_out = obs.bytes_out;
  r.connect = obs.connect;
  r.first_byte = obs.first_byte;
  r.total = std::chrono::steady_clock::now() - obs.start;
  r.sticky = obs.sticky;
  r.tls_version = obs.tls_version;
  r.tls_cipher = obs.tls_cipher;
  log->write(r);
}

}  // namespace lbd::proxy
