// The L7 (mode = "http") client session: HTTP/1.1 keep-alive to the client, routing, pooled
// keep-alive connections to backends, bodies streamed both ways, Upgrade relayed after 101.
// The entry point `serve_http` is declared in worker_context.hpp; this header adds what tests need.
#pragma once

#include <memory>

#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

class UpstreamPool;

/// The HTTP session's per-worker state (kept in WorkerContext::extension_slot()): the upstream
/// keep-alive pools. Created on first use on the worker's thread.
UpstreamPool& http_upstream_pool(WorkerContext& worker);

}  // namespace lbd::proxy
