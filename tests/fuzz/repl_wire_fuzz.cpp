// libFuzzer target for the replication frame decoder: any bytes must decode to frames, NeedMore
// or an error — never a crash, an overread or a huge allocation — and every decoded frame must
// re-encode to a frame that decodes to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "lbd/replication/wire.hpp"

namespace repl = lbd::repl;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  // Feed in chunks whose sizes come from the input itself, to exercise the incremental path.
  repl::FrameReader reader;
  std::size_t pos = 0;
  while (pos < input.size()) {
    const std::size_t chunk = std::min<std::size_t>(input.size() - pos, 1 + input[pos] % 64);
    reader.feed(input.subspan(pos, chunk));
    pos += chunk;
    for (int guard = 0; guard < 1024; ++guard) {
      auto r = reader.next();
      if (auto* d = std::get_if<repl::Decoded>(&r)) {
        std::vector<std::uint8_t> again;
        if (!repl::encode(d->frame, again)) std::abort();
        auto r2 = repl::decode(again);
        auto* d2 = std::get_if<repl::Decoded>(&r2);
        if (d2 == nullptr || !(d2->frame == d->frame) || d2->consumed != again.size()) std::abort();
        continue;
      }
      break;
    }
  }
  (void)repl::decode(input);
  return 0;
}
