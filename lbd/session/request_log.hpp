// What a session observed about one HTTP request or one TCP connection, and the one call at its
// end that feeds the listener counters (/metrics) and the access log. Keeps the sessions' own
// code to filling this record.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "lbd/session/worker_context.hpp"

namespace lbd::proxy {

struct RequestObservation {
  std::chrono::steady_clock::time_point start;
  std::string_view kind = "http";
  std::string_view method;  // views valid until finish_request() returns
  std::string_view target;
  int route = -2;  // -2: not routed (request refused before), -1: default pool, N: route #N
  std::string_view pool;
  std::string server;  // copied: the backend may be gone by the time the request ends
  unsigned status = 0;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::optional<std::chrono::nanoseconds> connect;
  std::optional<std::chrono::nanoseconds> first_byte;
  std::string_view sticky;       // "hit" / "miss" / ""
  std::string_view tls_version;  // filled by the TLS listener
  std::string_view tls_cipher;
};

/// Worker thread, synchronous: counts the response class and the bytes on `listener` and writes
/// the access-log line when the log is on. `client` is the client's "address:port".
void finish_request(WorkerContext& worker, admin::ListenerCounters& listener,
                    std::string_view listener_name, std::string_view client,
                    const RequestObservation& obs);

}  // namespace lbd::proxy
