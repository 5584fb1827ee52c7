// Connecting to a backend of a pool: pick, respect per-server max_connections, connect with the
// connect timeout, retry other servers on failure, send the PROXY header the pool asks for.
#pragma once

#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

/// The implementation behind WorkerContext::connect_upstream (see there). Tries at most
/// 1 + pool.connect_retries servers, each failure becoming `ctx.avoid` for the next pick.
lb::awaitable<std::expected<UpstreamConnection, UpstreamError>> connect_with_retries(
    WorkerContext& worker, const PoolConfig& pool, std::chrono::nanoseconds connect_timeout,
    const ClientInfo& client, PickContext ctx);

}  // namespace lbd::proxy
