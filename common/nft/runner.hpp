// Runs nftables command text as one transaction: the seam between nftables users (lbd's forward
// manager, vrrpd's handover) and the kernel. The real runner uses libnftables in-process (no `nft`
// child per change); tests use a recording fake.
#pragma once

#include <memory>
#include <string>

#include "common/error.hpp"

namespace lb::nft {

class NftRunner {
 public:
  virtual ~NftRunner() = default;
  /// Runs `commands` (nft syntax, several lines) as one atomic transaction; returns what nft
  /// printed (list commands), or nft's error text. Not thread-safe: one caller thread.
  virtual lb::Result<std::string> run(const std::string& commands) = 0;
};

/// The libnftables runner (needs CAP_NET_ADMIN in the namespace the process runs in). Failure only
/// when libnftables cannot make a context.
lb::Result<std::unique_ptr<NftRunner>> make_libnftables_runner();

}  // namespace lb::nft
