// SipHash-c-d, written from the paper's specification (§2).
#include "lbd/sticky/siphash.hpp"

#include <bit>
#include <cstring>
#include <random>

namespace lbd {

namespace {

struct State {
  std::uint64_t v0, v1, v2, v3;
  void round() {
    v0 += v1;
    v1 = std::rotl(v1, 13);
    v1 ^= v0;
    v0 = std::rotl(v0, 32);
    v2 += v3;
    v3 = std::rotl(v3, 16);
    v3 ^= v2;
    v0 += v3;
    v3 = std::rotl(v3, 21);
    v3 ^= v0;
    v2 += v1;
    v1 = std::rotl(v1, 17);
    v1 ^= v2;
    v2 = std::rotl(v2, 32);
  }
};

std::uint64_t load_le64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

}  // namespace

template <int C, int D>
std::uint64_t siphash(const SipKey& key, std::string_view data) {
  State s{key[0] ^ 0x736f6d6570736575ull, key[1] ^ 0x646f72616e646f6dull,
          key[0] ^ 0x6c7967656e657261ull, key[1] ^ 0x7465646279746573ull};
  const std::size_t whole = data.size() & ~std::size_t{7};
  for (std::size_t i = 0; i < whole; i += 8) {
    const std::uint64_t m = load_le64(data.data() + i);
    s.v3 ^= m;
    for (int r = 0; r < C; ++r) s.round();
    s.v0 ^= m;
  }
  // Last block: the remaining bytes, and the length's low byte in the top byte.
  std::uint64_t b = static_cast<std::uint64_t>(data.size()) << 56;
  for (std::size_t i = whole; i < data.size(); ++i) {
    b |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(data[i])) << (8 * (i - whole));
  }
  s.v3 ^= b;
  for (int r = 0; r < C; ++r) s.round();
  s.v0 ^= b;
  s.v2 ^= 0xff;
  for (int r = 0; r < D; ++r) s.round();
  return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

template std::uint64_t siphash<1, 3>(const SipKey&, std::string_view);
template std::uint64_t siphash<2, 4>(const SipKey&, std::string_view);

SipKey random_sip_key() {
  std::random_device rd;
  SipKey k{};
  for (auto& part : k) part = (std::uint64_t{rd()} << 32) ^ rd();
  return k;
}

}  // namespace lbd
