// The setup most TLS integration tests share: a test CA, one certificate for a.example.com, an
// HTTP origin behind a TestBackend, and an in-process lbd terminating TLS on its "web" listener.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/lbd_harness.hpp"
#include "tests/support/test_pki.hpp"

namespace lbtest {

/// [listener.tls] with the given certificates (first = default) and extra lines.
inline std::string tls_section(const std::vector<PemFiles>& certs, const std::string& extra = "") {
  std::string s = "[listener.tls]\n" + extra + "\n";
  for (const auto& c : certs) {
    s += fmt::format("[[listener.tls.certificate]]\ncert = \"{}\"\nkey = \"{}\"\n", c.cert, c.key);
  }
  return s;
}

/// One http listener "web" on 127.0.0.1:0 with `section` ([listener.tls]) in front of `backend`.
inline std::string tls_config(const std::string& backend, const std::string& section) {
  HttpConfig cfg{.pools = {{"app", {backend}}}};
  cfg.routes = section;
  return cfg.text();
}

/// A TLS-terminating lbd in this process with one certificate (CN and SAN a.example.com, signed
/// by `pki`) and `origin` behind it. Members are built in declaration order.
class TlsLbd {
 public:
  /// `tls_extra(pki)` returns lines for [listener.tls] (they may name the fixture CA's files).
  /// Fails the test (REQUIRE) when lbd does not start.
  explicit TlsLbd(const std::function<std::string(const TestPki&)>& tls_extra = {})
      : cert(pki.issue("a", "a.example.com", {"a.example.com"})),
        origin("o"),
        backend(origin.handler()),
        lbd(config(tls_extra ? tls_extra(pki) : "")) {}

  /// The config of an lbd like this one (same certificate and backend) with other TLS lines.
  std::string config(const std::string& tls_extra) const {
    return tls_config(backend.address(), tls_section({cert}, tls_extra));
  }
  lb::Endpoint endpoint() const { return lbd.endpoint("web"); }

  TestPki pki;
  const PemFiles cert;
  Origin origin;
  TestBackend backend;
  InProcessLbd lbd;
};

}  // namespace lbtest
