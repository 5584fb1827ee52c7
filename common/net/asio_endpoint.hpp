// lb::Endpoint <-> Asio's TCP endpoint, for the code that hands addresses to Asio sockets.
#pragma once

#include "common/asio.hpp"
#include "common/net/ip_address.hpp"

namespace lb {

/// The same address and port as an Asio endpoint (IPv4 stays IPv4, IPv6 keeps its scope).
tcp::endpoint to_asio(const Endpoint& e);
/// The endpoint Asio reports (accept, local_endpoint); an unset Endpoint for an unknown family.
Endpoint from_asio(const tcp::endpoint& e);

}  // namespace lb
