// A blocking HTTPS origin for the upstream-TLS tests, on lbtest::TestBackend: OpenSSL server
// handshake on each accepted connection (recording SNI, resumption, failures), then keep-alive
// HTTP/1.1 answering "name path", or a 101 and a byte echo for an Upgrade request.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/integration/lbd_harness.hpp"
#include "tests/support/test_pki.hpp"

struct ssl_ctx_st;

namespace lbtest {

struct TlsOriginOptions {
  std::string client_ca;     // non-empty: require a client certificate signed by it
  bool late_ticket = false;  // send a TLS 1.3 session ticket after each response, while idle
};

class TlsOrigin {
 public:
  /// Serves `cert` (TLS 1.2 and 1.3, session tickets on).
  TlsOrigin(std::string name, const PemFiles& cert, TlsOriginOptions options = {});
  ~TlsOrigin();
  TlsOrigin(const TlsOrigin&) = delete;
  TlsOrigin& operator=(const TlsOrigin&) = delete;

  std::string address() const { return backend_->address(); }
  lb::Endpoint endpoint() const { return backend_->endpoint(); }
  /// TCP connections accepted.
  int connections() const { return backend_->connections(); }
  int handshakes() const { return handshakes_.load(); }
  int resumed() const { return resumed_.load(); }
  int failed_handshakes() const { return failed_.load(); }
  /// HTTP requests answered.
  int requests() const { return requests_.load(); }
  /// Session tickets sent after a response (late_ticket).
  int late_tickets() const { return late_tickets_.load(); }
  /// The SNI of each completed handshake ("" when none was sent).
  std::vector<std::string> server_names() const;

 private:
  void serve(int fd);

  std::string name_;
  TlsOriginOptions options_;
  ssl_ctx_st* ctx_ = nullptr;
  std::atomic<int> handshakes_{0};
  std::atomic<int> resumed_{0};
  std::atomic<int> failed_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> late_tickets_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> server_names_;
  std::unique_ptr<TestBackend> backend_;  // last: its threads stop before the rest goes
};

}  // namespace lbtest
