#include "lbd/sticky/siphash.hpp"

#include <doctest/doctest.h>

#include <string>

namespace {

// The paper's key: bytes 00 01 … 0f, read little-endian.
const lbd::SipKey kPaperKey{0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};

std::string counting_bytes(std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s.push_back(static_cast<char>(i));
  return s;
}

}  // namespace

TEST_CASE("siphash: SipHash-2-4 matches the reference vectors") {
  // Appendix A of the paper: message 00 01 … 0e (15 bytes).
  CHECK(lbd::siphash24(kPaperKey, counting_bytes(15)) == 0xa129ca6149be45e5ull);
  // The empty message, first entry of the reference vectors64 table (31 0e 0e dd 47 db 6f 72).
  CHECK(lbd::siphash24(kPaperKey, "") == 0x726fdb47dd0e0e31ull);
}

TEST_CASE("siphash: the key changes the hash, equal inputs hash equally") {
  const lbd::SipKey other{1, 2};
  const std::string key = "client-key";
  CHECK(lbd::siphash13(kPaperKey, key) == lbd::siphash13(kPaperKey, key));
  CHECK(lbd::siphash13(kPaperKey, key) != lbd::siphash13(other, key));
  CHECK(lbd::siphash13(kPaperKey, "a") != lbd::siphash13(kPaperKey, std::string_view("a\0", 2)));
  CHECK(lbd::random_sip_key() != lbd::random_sip_key());
}
