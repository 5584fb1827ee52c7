#include "lbd/sticky/cookie_codec.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

namespace {

const Clock::time_point kNow = Clock::time_point(std::chrono::seconds(1'700'000'000));

lbd::CookieCodec codec(std::chrono::seconds max_age = 0s) {
  return lbd::CookieCodec({"0123456789abcdef0123456789abcdef"}, "app", max_age);
}

}  // namespace

TEST_CASE("cookie_codec: a value it issued verifies and names the server") {
  auto c = codec();
  const auto value = c.encode("app1", kNow);
  auto v = c.verify(value, kNow + 10s);
  REQUIRE(v.claims.has_value());
  CHECK_FALSE(v.error.has_value());
  CHECK(v.claims->server == "app1");
  CHECK(v.claims->issued == kNow);
}

TEST_CASE("cookie_codec: values are base64url without padding and carry no plain server name") {
  auto value = codec().encode("app1", kNow);
  CHECK(value.find('=') == std::string::npos);
  CHECK(value.find('+') == std::string::npos);
  CHECK(value.find('/') == std::string::npos);
  CHECK(value.find("app1") == std::string::npos);
}

TEST_CASE("cookie_codec: a forged value is rejected") {
  auto c = codec();
  auto value = c.encode("app1", kNow);
  // Flip each character in turn: every single change must be refused.
  for (std::size_t i = 0; i < value.size(); ++i) {
    auto forged = value;
    forged[i] = forged[i] == 'A' ? 'B' : 'A';
    CAPTURE(i);
    auto v = c.verify(forged, kNow);
    CHECK_FALSE(v.claims.has_value());
    CHECK(v.error.has_value());
  }
  // A client writing its own payload for another server without the key.
  lbd::CookieCodec attacker({"not-the-key-not-the-key-00000000"}, "app");
  auto v = c.verify(attacker.encode("app2", kNow), kNow);
  CHECK(v.error == lbd::CookieError::bad_mac);
}

TEST_CASE("cookie_codec: truncated and garbage values are malformed") {
  auto c = codec();
  auto value = c.encode("app1", kNow);
  for (std::size_t n = 0; n < value.size(); ++n) {
    CAPTURE(n);
    CHECK_FALSE(c.verify(std::string_view(value).substr(0, n), kNow).claims.has_value());
  }
  CHECK(c.verify("", kNow).error == lbd::CookieError::malformed);
  CHECK(c.verify("not base64!", kNow).error == lbd::CookieError::malformed);
  CHECK(c.verify(value + "==", kNow).error == lbd::CookieError::malformed);
  CHECK(c.verify(std::string(5000, 'A'), kNow).error == lbd::CookieError::malformed);
}

TEST_CASE("cookie_codec: a value signed with another key is rejected") {
  lbd::CookieCodec other({"another-key-another-key-another-k"}, "app");
  CHECK(codec().verify(other.encode("app1", kNow), kNow).error == lbd::CookieError::bad_mac);
}

TEST_CASE("cookie_codec: a rotated key still verifies old cookies, and signs with the first") {
  lbd::CookieCodec old_codec({"old-key-old-key-old-key-old-key-"}, "app");
  lbd::CookieCodec rotated({"new-key-new-key-new-key-new-key-", "old-key-old-key-old-key-old-key-"},
                           "app");
  CHECK(rotated.verify(old_codec.encode("app1", kNow), kNow).claims.has_value());
  CHECK(old_codec.verify(rotated.encode("app1", kNow), kNow).error == lbd::CookieError::bad_mac);
}

TEST_CASE("cookie_codec: max-age rejects old cookies, and far-future ones are refused") {
  auto c = codec(3600s);
  auto value = c.encode("app1", kNow);
  CHECK(c.verify(value, kNow + 3600s).claims.has_value());
  CHECK(c.verify(value, kNow + 3601s).error == lbd::CookieError::expired);
  CHECK(codec().verify(value, kNow + 1000h).claims.has_value());  // max-age 0: no limit
  CHECK(c.verify(value, kNow - 60s).claims.has_value());          // within the skew
  CHECK(c.verify(value, kNow - 61s).error == lbd::CookieError::from_future);
}

TEST_CASE("cookie_codec: a cookie of one pool does not verify in another sharing the key") {
  const std::string key = "0123456789abcdef0123456789abcdef";
  lbd::CookieCodec blue({key}, "blue");
  lbd::CookieCodec green({key}, "green");
  const auto value = blue.encode("s1", kNow);
  CHECK(blue.verify(value, kNow).claims.has_value());
  CHECK(green.verify(value, kNow).error == lbd::CookieError::bad_mac);
}

TEST_CASE("cookie_codec: base64url round-trips every length") {
  std::string bytes;
  for (int n = 0; n < 70; ++n) {
    CHECK(lbd::base64url_decode(lbd::base64url_encode(bytes)) == bytes);
    bytes.push_back(static_cast<char>(n * 37));
  }
  CHECK(lbd::base64url_encode("\xfb\xff") == "-_8");
  CHECK_FALSE(lbd::base64url_decode("A").has_value());
  CHECK_FALSE(lbd::base64url_decode("AB C").has_value());
}
