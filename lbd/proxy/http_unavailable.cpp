// Placeholder for the L7 session until lbd/proxy/http_session.cpp lands: tells the server that
// mode = "http" is not available, so such listeners are refused at config time, never run as tcp.
// The L7 change removes this file from lbd/CMakeLists.txt.
#include "lbd/proxy/worker_context.hpp"

namespace lbd::proxy {

const bool kHttpSessionAvailable = false;

lb::awaitable<void> serve_http(WorkerContext& worker, ClientConnection client) {
  // Unreachable: the server rejects http listeners when kHttpSessionAvailable is false.
  worker.logger()->error("http: listener={}: mode http is not available in this build",
                         client.info.listener->name);
  co_return;
}

}  // namespace lbd::proxy
