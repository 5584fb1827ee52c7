// Reads the routes of a [[listener]]: [[listener.route]] (HTTP: host, path, headers, cookies,
// methods) and [[listener.sni_route]] (TLS pass-through by server name). lbd/config.cpp's
// read_listener calls them; the pools they name are checked there, against the whole file.
#pragma once

#include "lbd/config.hpp"

namespace lb::config {
class TableReader;
}

namespace lbd {

/// One [[listener.route]]: its pool and match conditions (at most one of host/host_regex, at
/// most one path condition; regexes checked with RE2). Problems are diagnostics on `t`.
/// Not thread-safe (config loading is single-threaded).
RouteConfig read_route(lb::config::TableReader& t);

/// One [[listener.sni_route]]: its pool and server names (lower-cased DNS names or "*." wildcards).
/// Problems are diagnostics on `t`. Not thread-safe.
SniRouteConfig read_sni_route(lb::config::TableReader& t);

}  // namespace lbd
