// The HTTP flavour of the agent check: GET a path on the server's agent port and read the agent
// reply ("75%", "drain", "up 50%"…) from the first line of a 2xx response body. Boost.Beast stays
// inside agent_http.cpp.
#pragma once

#include <chrono>
#include <string>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "common/net/ip_address.hpp"
#include "lbd/balance/agent_report.hpp"

namespace lbd {

/// One HTTP poll: connects to `agent`, sends `GET path HTTP/1.1` (Host = the agent's address,
/// Connection: close), reads the response (header at most 8 KiB, body at most 512 bytes) and
/// parses the body's first line with parse_agent_reply. The whole exchange is bounded by
/// `timeout`. Fails on connect/send/read errors, timeout, a status outside 200..299, an
/// over-long body or an unparsable reply. Runs on the caller's executor (the control thread).
lb::awaitable<lb::Result<AgentReport>> query_http_agent(lb::Endpoint agent, std::string path,
                                                        std::chrono::nanoseconds timeout);

}  // namespace lbd
