// libFuzzer target for the persistence cookie path a client controls: the Cookie header is split
// into pairs (stick_key::cookie_value), lbd's cookie is taken out for indirect mode
// (remove_cookie), and the value is verified (CookieCodec). Besides crashes and overreads it
// checks that a value lbd issued verifies to the same server, that a value only lbd's key signs
// is refused when altered, that base64url round-trips, and that indirect mode never lets lbd's
// cookie through to the backend.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "lbd/sticky/cookie_codec.hpp"
#include "lbd/sticky/cookie_header.hpp"
#include "lbd/sticky/key_derivation.hpp"

namespace {

constexpr std::string_view kName = "LBSRV";

const lbd::CookieCodec& codec() {
  static const lbd::CookieCodec c({"fuzzing-key-0123456789abcdef", "older-key-0123456789abcdef"},
                                  "web", std::chrono::hours(24));
  return c;
}

std::chrono::system_clock::time_point now() {
  return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // The client's Cookie header as lbd reads it.
  const auto value = lbd::stick_key::cookie_value(input, kName);
  if (value) {
    if (value->empty()) std::abort();
    if (value->data() < input.data() || value->data() + value->size() > input.data() + size) {
      std::abort();  // a view outside the header
    }
    const auto verified = codec().verify(*value, now());
    if (verified.claims.has_value() == verified.error.has_value()) std::abort();
    if (verified.claims &&
        (verified.claims->server.empty() || verified.claims->server.size() > 255)) {
      std::abort();
    }
  }

  // Indirect mode: the header the backend gets never carries lbd's cookie.
  const std::string rest = lbd::remove_cookie(input, kName);
  if (lbd::stick_key::cookie_value(rest, kName)) std::abort();
  if (rest.size() > input.size() + input.size() / 2 + 2) std::abort();

  // Arbitrary bytes round-trip through base64url.
  const auto encoded = lbd::base64url_encode(input);
  const auto decoded = lbd::base64url_decode(encoded);
  if (!decoded || *decoded != input) std::abort();

  // A value lbd issues for any server name verifies to that name, and a one-byte change of its
  // text does not verify to another server.
  if (!input.empty() && input.size() <= 255) {
    const std::string issued = codec().encode(input, now());
    const auto ok = codec().verify(issued, now());
    if (!ok.claims || ok.claims->server != input) std::abort();
    std::string altered = issued;
    const std::size_t at = data[0] % altered.size();
    altered[at] = altered[at] == 'A' ? 'B' : 'A';
    const auto bad = codec().verify(altered, now());
    if (bad.claims && bad.claims->server != input) std::abort();
  }
  return 0;
}
