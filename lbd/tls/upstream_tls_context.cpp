// Builds the OpenSSL client context of a pool with [pool.tls] (see upstream_tls_context.hpp):
// CA and client-certificate loading, per-connection name checks, the per-server session cache.
#include "lbd/tls/upstream_tls_context.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cstring>
#include <fstream>
#include <mutex>

#include <fmt/format.h>

#include "common/asio_ssl.hpp"

namespace lbd::proxy {

namespace {

// ALPN (RFC 7301): lbd speaks HTTP/1.1 to backends; offering it lets an ALPN-strict server
// (one that refuses clients without a common protocol) accept us.
constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += reason ? reason : buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

bool readable(const std::string& path, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (in) return true;
  why = fmt::format("cannot read \"{}\": {}", path, std::strerror(errno));
  return false;
}

/// One server's cached session. Map nodes never move, so an SSL carries a pointer to its entry
/// (ex_data) into the new-session callback.
struct SessionEntry {
  std::mutex* mutex = nullptr;
  SSL_SESSION* session = nullptr;
};

int entry_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// A new session (TLS 1.2 after the handshake, TLS 1.3 when the server's ticket arrives, which
// is after the handshake): keep the newest per server. A copy: OpenSSL marks the connection's
// own session object not resumable when the connection is freed without a close_notify sent,
// which is how idle backend connections end.
int new_session_cb(SSL* ssl, SSL_SESSION* received) {
  auto* entry = static_cast<SessionEntry*>(SSL_get_ex_data(ssl, entry_index()));
  if (!entry || !SSL_SESSION_is_resumable(received)) return 0;
  SSL_SESSION* session = SSL_SESSION_dup(received);
  if (!session) return 0;
  SSL_SESSION* old = nullptr;
  {
    std::lock_guard lock(*entry->mutex);
    old = entry->session;
    entry->session = session;
  }
  if (old) SSL_SESSION_free(old);
  return 0;  // OpenSSL keeps its reference to `received`
}

using BuildErrors = std::vector<UpstreamTlsContext::BuildError>;

// The keys of [pool.tls] that exclude or need each other.
BuildErrors check_keys(const UpstreamTlsConfig& config) {
  BuildErrors errors;
  if (config.insecure && !config.ca_file.empty()) {
    errors.push_back({"insecure",
                      "insecure = true and ca_file exclude each other: verify "
                      "against ca_file, or set insecure to skip verification"});
  }
  if (config.insecure && !config.verify_name.empty()) {
    errors.push_back({"verify_name",
                      "verify_name does nothing with insecure = true (to send "
                      "a server name, use sni)"});
  }
  if (!config.insecure && config.ca_file.empty()) {
    errors.push_back({"ca_file",
                      "[pool.tls] needs ca_file (the CA bundle the servers' "
                      "certificates chain to), or insecure = true to skip "
                      "verification; there is no default CA store"});
  }
  if (config.cert_file.empty() != config.key_file.empty()) {
    errors.push_back(
        {config.key_file.empty() ? "key" : "cert", "a client certificate needs both cert and key"});
  }
  return errors;
}

// Verification of the servers' certificates against ca_file (none with insecure = true).
void set_server_verification(SSL_CTX* c, const UpstreamTlsConfig& config, BuildErrors& errors) {
  if (config.insecure) {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    return;
  }
  std::string why;
  if (!readable(config.ca_file, why)) {
    errors.push_back({"ca_file", why});
  } else if (SSL_CTX_load_verify_locations(c, config.ca_file.c_str(), nullptr) != 1) {
    errors.push_back({"ca_file", fmt::format("\"{}\" holds no usable PEM CA certificate: {}",
                                             config.ca_file, openssl_errors())});
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
}

// lbd's client certificate (cert_file and key_file, both set), checked to match.
void load_client_certificate(SSL_CTX* c, const UpstreamTlsConfig& config, BuildErrors& errors) {
  const auto mismatch = [&config] {
    return fmt::format("the key in \"{}\" does not match the certificate in \"{}\"",
                       config.key_file, config.cert_file);
  };
  std::string why;
  if (!readable(config.cert_file, why)) {
    errors.push_back({"cert", why});
  } else if (SSL_CTX_use_certificate_chain_file(c, config.cert_file.c_str()) != 1) {
    errors.push_back({"cert", fmt::format("\"{}\" holds no usable PEM certificate: {}",
                                          config.cert_file, openssl_errors())});
  } else if (!readable(config.key_file, why)) {
    errors.push_back({"key", why});
  } else if (SSL_CTX_use_PrivateKey_file(c, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      errors.push_back({"key", mismatch()});
    } else {
      errors.push_back({"key", fmt::format("\"{}\" holds no usable PEM private key (an "
                                           "encrypted key is not supported): {}",
                                           config.key_file, openssl_errors())});
    }
  } else if (SSL_CTX_check_private_key(c) != 1) {
    ERR_clear_error();
    errors.push_back({"key", mismatch()});
  }
}

}  // namespace

struct UpstreamTlsContext::Impl {
  std::unique_ptr<SSL_CTX, SslCtxFree> ctx;
  std::unique_ptr<boost::asio::ssl::context> asio;
  mutable std::mutex sessions_mutex;
  mutable std::map<std::string, SessionEntry, std::less<>> sessions;  // by server endpoint
  mutable std::mutex errors_mutex;
  mutable std::map<std::string, std::uint64_t> errors;

  ~Impl() {
    for (auto& [key, e] : sessions) {
      if (e.session) SSL_SESSION_free(e.session);
    }
  }
};

UpstreamTlsContext::UpstreamTlsContext(UpstreamTlsConfig config)
    : config_(std::move(config)), impl_(std::make_unique<Impl>()) {}

UpstreamTlsContext::~UpstreamTlsContext() = default;

boost::asio::ssl::context& UpstreamTlsContext::asio_context() const { return *impl_->asio; }

std::expected<std::shared_ptr<const UpstreamTlsContext>,
              std::vector<UpstreamTlsContext::BuildError>>
UpstreamTlsContext::build(const UpstreamTlsConfig& config) {
  std::vector<BuildError> errors = check_keys(config);
  if (!errors.empty()) return std::unexpected(std::move(errors));

  std::shared_ptr<UpstreamTlsContext> self(new UpstreamTlsContext(config));
  self->config_.context.reset();
  auto& impl = *self->impl_;
  ERR_clear_error();
  impl.ctx.reset(SSL_CTX_new(TLS_client_method()));
  if (!impl.ctx) {
    errors.push_back({"enabled", fmt::format("SSL_CTX_new failed: {}", openssl_errors())});
    return std::unexpected(std::move(errors));
  }
  SSL_CTX* c = impl.ctx.get();
  // Same policy as the listeners: security level 2, never below TLS 1.2.
  SSL_CTX_set_security_level(c, 2);
  SSL_CTX_set_min_proto_version(
      c, config.min_version == TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  // Pooled idle connections keep no record buffers.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_protos(c, kAlpn, sizeof kAlpn);
  set_server_verification(c, config, errors);
  if (!config.cert_file.empty()) load_client_certificate(c, config, errors);
  if (config.session_reuse) {
    // Sessions are kept by lbd per server (prepare / new_session_cb), not in OpenSSL's cache,
    // which is keyed for servers and never looked up by a client.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c, new_session_cb);
  } else {
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  SSL_CTX_up_ref(c);  // asio's context owns one reference
  impl.asio = std::make_unique<boost::asio::ssl::context>(c);
  return self;
}

void UpstreamTlsContext::prepare(SSL* ssl, const lb::Endpoint& server) const {
  const auto& sni = config_.effective_sni();
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  if (!config_.insecure) {
    if (!config_.verify_name.empty()) {
      SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl, config_.verify_name.c_str());
    } else {
      const auto& a = server.address.unmapped();
      X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl), a.data(), a.is_v4() ? 4 : 16);
    }
  }
  if (!config_.session_reuse) return;
  const std::string key = server.to_string();
  std::lock_guard lock(impl_->sessions_mutex);
  auto& entry = impl_->sessions[key];
  entry.mutex = &impl_->sessions_mutex;
  SSL_set_ex_data(ssl, entry_index(), &entry);
  if (entry.session) SSL_set_session(ssl, entry.session);
}

void UpstreamTlsContext::count_error(const std::string& reason) const {
  std::lock_guard lock(impl_->errors_mutex);
  ++impl_->errors[reason];
}

void UpstreamTlsContext::count_success(bool resumed) const {
  (resumed ? resumed_ : full_).fetch_add(1, std::memory_order_relaxed);
}

std::map<std::string, std::uint64_t> UpstreamTlsContext::handshake_errors() const {
  std::lock_guard lock(impl_->errors_mutex);
  return impl_->errors;
}

}  // namespace lbd::proxy
