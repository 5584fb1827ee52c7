// lb::Endpoint <-> Asio endpoint: see asio_endpoint.hpp.
#include "common/net/asio_endpoint.hpp"

#include <sys/socket.h>

#include <cstring>

namespace lb {

tcp::endpoint to_asio(const Endpoint& e) {
  sockaddr_storage ss{};
  const auto len = e.to_sockaddr(ss);
  tcp::endpoint out;
  std::memcpy(out.data(), &ss, len);
  out.resize(len);
  return out;
}

Endpoint from_asio(const tcp::endpoint& e) {
  return Endpoint::from_sockaddr(e.data()).value_or(Endpoint{});
}

}  // namespace lb
