// The libnftables runner: see runner.hpp.
#include "common/nft/runner.hpp"

#include <nftables/libnftables.h>

namespace lb::nft {

namespace {

class LibNftablesRunner final : public NftRunner {
 public:
  explicit LibNftablesRunner(nft_ctx* ctx) : ctx_(ctx) {}
  ~LibNftablesRunner() override { nft_ctx_free(ctx_); }
  LibNftablesRunner(const LibNftablesRunner&) = delete;
  LibNftablesRunner& operator=(const LibNftablesRunner&) = delete;

  lb::Result<std::string> run(const std::string& commands) override {
    // A buffer of commands is one batch: the kernel commits all of it or none.
    const int rc = nft_run_cmd_from_buffer(ctx_, commands.c_str());
    const char* out = nft_ctx_get_output_buffer(ctx_);
    const char* err = nft_ctx_get_error_buffer(ctx_);
    std::string output = out != nullptr ? out : "";
    std::string error = err != nullptr ? err : "";
    // Reading a buffer resets it; the next command starts empty.
    if (rc != 0) return lb::fail(error.empty() ? "nft: transaction failed" : error);
    return output;
  }

 private:
  nft_ctx* ctx_;
};

}  // namespace

lb::Result<std::unique_ptr<NftRunner>> make_libnftables_runner() {
  nft_ctx* ctx = nft_ctx_new(NFT_CTX_DEFAULT);
  if (ctx == nullptr) return lb::fail("libnftables: cannot create a context");
  // Output and errors go to buffers we read, never to lbd's stdout/stderr.
  if (nft_ctx_buffer_output(ctx) != 0 || nft_ctx_buffer_error(ctx) != 0) {
    nft_ctx_free(ctx);
    return lb::fail("libnftables: cannot buffer output");
  }
  return std::unique_ptr<NftRunner>(new LibNftablesRunner(ctx));
}

}  // namespace lb::nft
