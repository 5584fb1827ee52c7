// Reads [pool.tls] and builds the pool's TLS client context, so that a pool whose CA or client
// key cannot be used fails the config load with the position of the key that named the file.
#include "lbd/tls/upstream_tls_config.hpp"

#include "common/config/reader.hpp"
#include "lbd/tls/upstream_tls_context.hpp"

namespace lbd::proxy {

std::vector<std::string> UpstreamTlsConfig::watched_files() const {
  std::vector<std::string> files;
  if (!ca_file.empty()) files.push_back(ca_file);
  if (!cert_file.empty()) files.push_back(cert_file);
  if (!key_file.empty()) files.push_back(key_file);
  return files;
}

UpstreamTlsConfig read_pool_tls(lb::config::TableReader& t, bool& enabled) {
  UpstreamTlsConfig c;
  const auto errors_before = t.diagnostics().size();
  enabled = t.boolean("enabled", true);
  c.ca_file = t.string("ca_file", "");
  c.insecure = t.boolean("insecure", false);
  c.verify_name = t.string("verify_name", "");
  c.sni = t.string("sni", "");
  c.min_version = t.enumeration("min_version", c.min_version,
                                {{"1.2", TlsVersion::v1_2}, {"1.3", TlsVersion::v1_3}});
  c.cert_file = t.string("cert", "");
  c.key_file = t.string("key", "");
  c.session_reuse = t.boolean("session_reuse", c.session_reuse);
  t.reject_unknown_keys();
  // A disabled table is kept for later but not checked: it may name files not there yet.
  if (!enabled || t.diagnostics().size() != errors_before) return c;
  auto built = UpstreamTlsContext::build(c);
  if (!built) {
    for (auto& e : built.error()) t.error(e.key, std::move(e.message));
    return c;
  }
  c.context = std::move(*built);
  return c;
}

}  // namespace lbd::proxy
