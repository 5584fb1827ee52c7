// libFuzzer target for the replication record layer and the frame decoder behind it. Two modes
// (first input byte): the rest of the input cut into plaintexts that are sealed with the session
// key and read back through SecureChannel, so the decoder after decryption sees arbitrary
// authentic bodies (every frame it yields must re-encode to itself); or the raw input read as a
// sealed stream, which must never yield a frame (the fuzzer cannot forge a tag). Never a crash,
// an overread or an unbounded buffer.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "lbd/replication/secure_channel.hpp"
#include "lbd/replication/wire.hpp"

namespace repl = lbd::repl;

namespace {

constexpr repl::TrafficKey kKey = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/// Drains the channel; returns the number of frames. Aborts on a frame that does not round-trip.
std::size_t drain(repl::SecureChannel& channel) {
  std::size_t frames = 0;
  for (int guard = 0; guard < 4096; ++guard) {
    auto r = channel.next();
    if (auto* d = std::get_if<repl::Decoded>(&r)) {
      std::vector<std::uint8_t> again;
      if (!repl::encode(d->frame, again)) std::abort();
      auto r2 = repl::decode(again);
      auto* d2 = std::get_if<repl::Decoded>(&r2);
      if (d2 == nullptr || !(d2->frame == d->frame)) std::abort();
      ++frames;
      continue;
    }
    if (std::holds_alternative<repl::NeedMore>(r)) {
      // Buffered bytes stay below one sealed frame plus what was fed.
      if (channel.buffered() > repl::kHeaderSize + repl::kMaxSealedSize + 65536) std::abort();
    }
    break;
  }
  return frames;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool seal_first = (data[0] & 1) == 0;
  const std::span<const std::uint8_t> input(data + 1, size - 1);

  repl::SecureChannel channel;
  channel.install({kKey, kKey});
  channel.open_incoming();

  if (seal_first) {
    // Plaintexts: u16 length · bytes, repeated.
    repl::AeadDirection sealer(kKey, true);
    std::vector<std::uint8_t> stream;
    std::size_t pos = 0;
    while (pos + 2 <= input.size()) {
      std::size_t n = (std::size_t{input[pos]} << 8) | input[pos + 1];
      pos += 2;
      n = std::min(n, input.size() - pos);
      if (n == 0) continue;
      const std::size_t start = stream.size();
      const std::uint32_t length = static_cast<std::uint32_t>(n + repl::kTagSize);
      for (int i = 3; i >= 0; --i) stream.push_back(static_cast<std::uint8_t>(length >> (8 * i)));
      stream.insert(stream.end(), input.begin() + static_cast<std::ptrdiff_t>(pos),
                    input.begin() + static_cast<std::ptrdiff_t>(pos + n));
      stream.resize(stream.size() + repl::kTagSize);
      std::uint8_t* header = stream.data() + start;
      if (!sealer.seal(std::span<const std::uint8_t, 4>(header, 4), header + 4, n,
                       header + 4 + n)) {
        std::abort();
      }
      pos += n;
    }
    // Fed in uneven pieces to exercise the incremental path.
    std::size_t fed = 0;
    while (fed < stream.size()) {
      const std::size_t chunk = std::min<std::size_t>(stream.size() - fed, 1 + stream[fed] % 97);
      channel.feed(std::span<const std::uint8_t>(stream).subspan(fed, chunk));
      fed += chunk;
      drain(channel);
    }
    // An authentic frame never fails its tag.
    if (std::holds_alternative<repl::IntegrityError>(channel.next())) std::abort();
  } else {
    channel.feed(input);
    if (drain(channel) != 0) std::abort();  // a forged tag was accepted
  }
  return 0;
}
