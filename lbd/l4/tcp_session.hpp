// The L4 (mode = "tcp") session: connect a backend, relay bytes both ways until both are done.
#pragma once

#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

/// Serves one mode="tcp" client connection until both directions are done, an error, or the
/// idle timeouts. A client that gets no backend is closed (nothing to say in L4).
lb::awaitable<void> serve_tcp(WorkerContext& worker, ClientConnection client);

}  // namespace lbd::proxy
