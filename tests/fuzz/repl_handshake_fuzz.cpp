// libFuzzer target for the replication handshake: arbitrary bytes read by the record layer in
// its clear (pre-authentication) mode and fed to a PeerSession, as the acceptor (what any host
// that connects can send), as the connector, or as the acceptor after a genuine Hello (so the
// fuzzer's frames reach the Auth check). Never a crash, never an established session without
// the secret, and the acceptor never sends an Auth to a peer that has not proved the secret.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "lbd/replication/peer_session.hpp"
#include "lbd/replication/secure_channel.hpp"
#include "lbd/replication/wire.hpp"

namespace repl = lbd::repl;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const int mode = data[0] % 3;
  const std::span<const std::uint8_t> input(data + 1, size - 1);

  repl::PeerSessionOptions o;
  o.node_id = "node-a";
  o.secret = "fuzz-secret-fuzz-secret-fuzz-sec";
  o.role = mode == 1 ? repl::HandshakeRole::connector : repl::HandshakeRole::acceptor;
  o.incarnation = 7;
  o.nonce = repl::Nonce{9};
  repl::PeerMemory memory;
  const lb::SteadyTime now{};
  repl::PeerSession session(o, memory, now);
  repl::SecureChannel channel;
  (void)session.start(now);

  auto check = [&](const repl::SessionOutput& out) {
    if (out.established) std::abort();  // the fuzzer does not know the secret
    if (out.keys) channel.install(*out.keys);
    for (const auto& f : out.send) {
      if (o.role == repl::HandshakeRole::acceptor && std::holds_alternative<repl::Auth>(f)) {
        std::abort();  // proof before the connector proved
      }
      std::vector<std::uint8_t> bytes;
      (void)channel.write(f, bytes);
    }
    return !out.close;
  };

  if (mode == 2) {
    repl::Hello genuine{repl::kProtocolVersion, "node-b", 11, repl::Nonce{3}, 0};
    if (!check(session.on_frame(genuine, now))) return 0;
  }
  std::size_t pos = 0;
  while (pos < input.size()) {
    const std::size_t chunk = std::min<std::size_t>(input.size() - pos, 1 + input[pos] % 61);
    channel.feed(input.subspan(pos, chunk));
    pos += chunk;
    for (int guard = 0; guard < 256; ++guard) {
      auto r = channel.next();
      auto* d = std::get_if<repl::Decoded>(&r);
      if (d == nullptr) {
        if (!std::holds_alternative<repl::NeedMore>(r)) return 0;
        if (channel.buffered() > repl::kHeaderSize + repl::kMaxHandshakeFrameSize + 64) {
          std::abort();  // a stranger must not make us buffer more than one small frame
        }
        break;
      }
      if (!check(session.on_frame(d->frame, now))) return 0;
    }
  }
  return 0;
}
