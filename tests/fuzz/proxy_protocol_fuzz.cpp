// libFuzzer target for the PROXY v1/v2 header decoder. Any bytes must give one status without a
// crash or an overread; a complete header must fit the input and the bounds, decode the same from
// exactly its own bytes, and have every strict prefix decode as incomplete (the header reader
// consumes a prefix that is incomplete, trusting that the header is longer); decoded addresses
// must survive an encode/decode round trip in both versions.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>

#include "lbd/session/proxy_protocol.hpp"

namespace {

using lbd::proxy::DecodeStatus;

lbd::proxy::DecodeResult decode(const std::uint8_t* data, std::size_t size) {
  return lbd::proxy::decode_proxy_header(std::span<const std::uint8_t>(data, size));
}

lbd::proxy::DecodeResult decode(const std::string& s) {
  return decode(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

void check_round_trip(const lb::Endpoint& src, const lb::Endpoint& dst) {
  const auto v2 = decode(lbd::proxy::encode_proxy_v2(src, dst));
  if (v2.status != DecodeStatus::complete || v2.header.version != 2) std::abort();
  if (v2.header.source != src || v2.header.destination != dst) std::abort();
  const auto v1 = decode(lbd::proxy::encode_proxy_v1(src, dst));
  if (v1.status != DecodeStatus::complete || v1.header.version != 1) std::abort();
  if (src.address.is_v4() == dst.address.is_v4() &&
      (v1.header.source != src || v1.header.destination != dst)) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto r = decode(data, size);
  switch (r.status) {
    case DecodeStatus::invalid:
      if (r.error.empty()) std::abort();
      return 0;
    case DecodeStatus::incomplete:
      if (size >= lbd::proxy::kProxyMaxLength) std::abort();  // a reader would wait forever
      return 0;
    case DecodeStatus::complete:
      break;
  }
  if (r.length == 0 || r.length > size || r.length > lbd::proxy::kProxyMaxLength) std::abort();
  if (r.header.version == 1 && r.length > lbd::proxy::kProxyV1MaxLength) std::abort();
  if (r.header.version != 1 && r.header.version != 2) std::abort();
  const auto exact = decode(data, r.length);
  if (exact.status != DecodeStatus::complete || exact.length != r.length ||
      exact.header.source != r.header.source || exact.header.destination != r.header.destination) {
    std::abort();
  }
  for (const std::size_t k : {r.length - 1, r.length / 2, std::size_t{1}, std::size_t{15}}) {
    if (k >= r.length) continue;
    if (decode(data, k).status != DecodeStatus::incomplete) std::abort();
  }
  if (r.header.source && r.header.destination) {
    check_round_trip(*r.header.source, *r.header.destination);
  }
  return 0;
}
