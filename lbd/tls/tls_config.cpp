// Reads [listener.tls] and builds its TLS context, so that a listener whose certificate or key
// cannot be used fails the config load with the position of the key that named the file.
#include "lbd/tls/tls_config.hpp"

#include <fmt/format.h>

#include "common/config/reader.hpp"
#include "lbd/tls/tls_context.hpp"

namespace lbd::proxy {

std::vector<std::string> ListenerTlsConfig::watched_files() const {
  std::vector<std::string> files;
  for (const auto& c : certificates) {
    files.push_back(c.cert_file);
    files.push_back(c.key_file);
    if (!c.ocsp_file.empty()) files.push_back(c.ocsp_file);
  }
  if (!client_ca.empty()) files.push_back(client_ca);
  if (!crl_file.empty()) files.push_back(crl_file);
  if (!ticket_key_file.empty()) files.push_back(ticket_key_file);
  return files;
}

namespace {

bool valid_header_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) return false;
  }
  return true;
}

}  // namespace

ListenerTlsConfig read_listener_tls(lb::config::TableReader& t) {
  ListenerTlsConfig c;
  const auto errors_before = t.diagnostics().size();
  auto cert_tables = t.tables("certificate");
  for (auto& ct : cert_tables) {
    TlsCertificateConfig cert;
    if (auto f = ct.required_string("cert")) cert.cert_file = *f;
    if (auto f = ct.required_string("key")) cert.key_file = *f;
    cert.ocsp_file = ct.string("ocsp_file", "");
    ct.reject_unknown_keys();
    c.certificates.push_back(std::move(cert));
  }
  c.min_version = t.enumeration("min_version", c.min_version,
                                {{"1.2", TlsVersion::v1_2}, {"1.3", TlsVersion::v1_3}});
  c.client_ca = t.string("client_ca", "");
  c.verify_client = t.enumeration("verify_client", c.verify_client,
                                  {{"none", VerifyClient::none},
                                   {"optional", VerifyClient::optional},
                                   {"required", VerifyClient::required}});
  c.crl_file = t.string("crl_file", "");
  c.client_subject_header = t.string("client_subject_header", c.client_subject_header);
  if (!valid_header_name(c.client_subject_header)) {
    t.error("client_subject_header",
            fmt::format("\"{}\" is not a valid header name", c.client_subject_header));
  }
  c.ticket_key_file = t.string("ticket_key_file", "");
  if (t.has("alpn")) {
    c.alpn = t.string_array("alpn");
    if (c.alpn.empty()) t.error("alpn", "alpn needs at least one protocol (\"h2\", \"http/1.1\")");
    for (const auto& p : c.alpn) {
      if (p != "h2" && p != "http/1.1") {
        t.error("alpn", fmt::format("unknown protocol \"{}\" (\"h2\" or \"http/1.1\")", p));
      }
    }
  }
  t.reject_unknown_keys();

  // Loading files of a table that is already wrong would only add confusing follow-up errors.
  if (t.diagnostics().size() != errors_before) return c;
  auto built = TlsContext::build(c);
  if (built) {
    c.context = std::move(*built);
    return c;
  }
  for (auto& e : built.error()) {
    if (e.certificate >= 0 && static_cast<std::size_t>(e.certificate) < cert_tables.size()) {
      cert_tables[static_cast<std::size_t>(e.certificate)].error(e.key, std::move(e.message));
    } else if (e.key == "certificate") {
      t.error_here(std::move(e.message));
    } else {
      t.error(e.key, std::move(e.message));
    }
  }
  return c;
}

}  // namespace lbd::proxy
