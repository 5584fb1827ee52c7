// Builds the OpenSSL server contexts of a TLS listener (see tls_context.hpp): certificate loading
// and checks, SNI selection, ALPN, client verification and the shared session-ticket keys.
#include "lbd/tls/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "common/asio_ssl.hpp"

namespace lbd::proxy {

namespace {

// The session-id context must be the same on both nodes (resumption across a failover) and on
// every SNI context; with client verification on, OpenSSL refuses to resume without one.
constexpr unsigned char kSessionIdContext[] = "lbd";

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct CrlFree {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using CrlPtr = std::unique_ptr<X509_CRL, CrlFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

/// The newest OpenSSL error queue entries as one line; clears the queue.
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    out += reason ? reason : buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// DNS names of a certificate: subjectAltName dNSName entries, else the subject CN (lowercase).
std::vector<std::string> certificate_names(X509* x) {
  std::vector<std::string> names;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != GEN_DNS) continue;
      const auto* s = g->d.dNSName;
      names.push_back(
          lower(std::string_view(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                 static_cast<std::size_t>(ASN1_STRING_length(s)))));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {
    char cn[256];
    const int n =
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn);
    if (n > 0) names.push_back(lower(std::string_view(cn, static_cast<std::size_t>(n))));
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

int context_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

const TlsContext* owner_of(SSL* ssl) {
  // The ticket callback runs on the session context (the default one), the SNI callback on the
  // default too; every context carries the owner, so either lookup works.
  return static_cast<const TlsContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
}

int servername_cb(SSL* ssl, int*, void*) {
  const TlsContext* self = owner_of(ssl);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!self || !name) return SSL_TLSEXT_ERR_NOACK;
  SSL_CTX* chosen = self->select(name);
  if (chosen != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, chosen);
  return SSL_TLSEXT_ERR_OK;
}

// ALPN (RFC 7301): the first of the listener's protocols (config order) that the client offers.
int alpn_cb(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
            unsigned int inlen, void*) {
  const TlsContext* self = owner_of(ssl);
  if (!self) return SSL_TLSEXT_ERR_NOACK;
  const auto& wire = self->alpn_wire();
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()), in,
                            inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN (HTTP/1.1 anyway)
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// RFC 5077 §4 stateless tickets with the shared keys: the first key encrypts, any key decrypts;
// a ticket sealed with an older key is accepted and renewed (return 2).
int ticket_cb(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
              EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* hctx, int enc) {
  const TlsContext* self = owner_of(ssl);
  if (!self || self->ticket_keys().empty()) return 0;
  const auto& keys = self->ticket_keys();
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0),
                               OSSL_PARAM_construct_end()};
  if (enc) {
    const TicketKey& k = keys.front();
    if (RAND_bytes(iv, 16) != 1) return -1;
    std::memcpy(key_name, k.name, 16);
    if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes_key, iv) != 1) return -1;
    if (EVP_MAC_init(hctx, k.hmac_key, sizeof k.hmac_key, params) != 1) return -1;
    return 1;
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const TicketKey& k = keys[i];
    if (std::memcmp(key_name, k.name, 16) != 0) continue;
    if (EVP_MAC_init(hctx, k.hmac_key, sizeof k.hmac_key, params) != 1) return -1;
    if (EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), nullptr, k.aes_key, iv) != 1) return -1;
    return i == 0 ? 1 : 2;
  }
  return 0;  // unknown key: full handshake
}

// OCSP stapling (RFC 6066 §8): the response of the certificate OpenSSL chose for this client.
int status_cb(SSL* ssl, void*);

std::expected<std::string, std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return std::unexpected(fmt::format("cannot read \"{}\": {}", path, std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Every PEM CRL in `path` (at least one).
std::expected<std::vector<CrlPtr>, std::string> load_crls(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(text->data(), static_cast<int>(text->size())));
  std::vector<CrlPtr> out;
  while (X509_CRL* c = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
    out.emplace_back(c);
  }
  ERR_clear_error();  // the loop ends with a "no start line" error
  if (out.empty()) return std::unexpected(fmt::format("\"{}\" holds no PEM CRL", path));
  return out;
}

struct LoadedCert {
  X509Ptr leaf;
  std::vector<X509Ptr> chain;
  PkeyPtr key;
  std::vector<std::string> names;
  std::string ocsp;  // DER OCSP response, or empty
};

std::expected<LoadedCert, TlsContext::BuildError> load_certificate(const TlsCertificateConfig& c,
                                                                   int index) {
  using E = TlsContext::BuildError;
  LoadedCert out;
  auto cert_text = read_file(c.cert_file);
  if (!cert_text) return std::unexpected(E{index, "cert", cert_text.error()});
  {
    std::unique_ptr<BIO, BioFree> bio(
        BIO_new_mem_buf(cert_text->data(), static_cast<int>(cert_text->size())));
    out.leaf.reset(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!out.leaf) {
      ERR_clear_error();
      return std::unexpected(
          E{index, "cert", fmt::format("\"{}\" holds no PEM certificate", c.cert_file)});
    }
    while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      out.chain.emplace_back(x);
    }
    ERR_clear_error();  // the loop ends with a "no start line" error
  }
  auto key_text = read_file(c.key_file);
  if (!key_text) return std::unexpected(E{index, "key", key_text.error()});
  {
    std::unique_ptr<BIO, BioFree> bio(
        BIO_new_mem_buf(key_text->data(), static_cast<int>(key_text->size())));
    out.key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!out.key) {
      ERR_clear_error();
      return std::unexpected(E{index, "key",
                               fmt::format("\"{}\" holds no PEM private key (an encrypted key "
                                           "is not supported)",
                                           c.key_file)});
    }
  }
  if (X509_check_private_key(out.leaf.get(), out.key.get()) != 1) {
    ERR_clear_error();
    return std::unexpected(E{index, "key",
                             fmt::format("the key in \"{}\" does not match the certificate in "
                                         "\"{}\"",
                                         c.key_file, c.cert_file)});
  }
  if (!c.ocsp_file.empty() && ::access(c.ocsp_file.c_str(), F_OK) == 0) {
    auto der = read_file(c.ocsp_file);
    if (!der) return std::unexpected(E{index, "ocsp_file", der.error()});
    const auto* p = reinterpret_cast<const unsigned char*>(der->data());
    OCSP_RESPONSE* resp = d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der->size()));
    const int status = resp ? OCSP_response_status(resp) : -1;
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
      return std::unexpected(
          E{index, "ocsp_file",
            fmt::format("\"{}\" is not a successful DER OCSP response", c.ocsp_file)});
    }
    out.ocsp = std::move(*der);
  }
  out.names = certificate_names(out.leaf.get());
  if (out.names.empty()) {
    return std::unexpected(
        E{index, "cert",
          fmt::format("\"{}\" has no DNS name (no subjectAltName, no CN)", c.cert_file)});
  }
  return out;
}

}  // namespace

struct TlsContext::Impl {
  std::vector<CtxPtr> contexts;             // [0] = default
  std::map<const X509*, std::string> ocsp;  // leaf (held by a context) → DER OCSP response
  std::vector<std::vector<std::string>> names;
  std::map<std::string, SSL_CTX*, std::less<>> exact;
  std::map<std::string, SSL_CTX*, std::less<>> wildcard;  // key: ".example.com"
  std::unique_ptr<boost::asio::ssl::context> asio_default;
};

TlsContext::TlsContext(ListenerTlsConfig config)
    : config_(std::move(config)), impl_(std::make_unique<Impl>()) {
  for (const auto& p : config_.alpn) {
    alpn_wire_ += static_cast<char>(p.size());
    alpn_wire_ += p;
  }
}

TlsContext::~TlsContext() = default;

boost::asio::ssl::context& TlsContext::asio_context() const { return *impl_->asio_default; }

SSL_CTX* TlsContext::select(std::string_view server_name) const {
  const std::string name = lower(server_name);
  if (auto it = impl_->exact.find(name); it != impl_->exact.end()) return it->second;
  if (const auto dot = name.find('.'); dot != std::string::npos && dot > 0) {
    if (auto it = impl_->wildcard.find(std::string_view(name).substr(dot));
        it != impl_->wildcard.end()) {
      return it->second;
    }
  }
  return impl_->contexts.front().get();
}

std::vector<std::vector<std::string>> TlsContext::names() const { return impl_->names; }

const std::string* TlsContext::ocsp_response(const x509_st* leaf) const {
  auto it = impl_->ocsp.find(leaf);
  return it == impl_->ocsp.end() ? nullptr : &it->second;
}

namespace {

int status_cb(SSL* ssl, void*) {
  const TlsContext* self = owner_of(ssl);
  const std::string* der = self ? self->ocsp_response(SSL_get_certificate(ssl)) : nullptr;
  if (!der) return SSL_TLSEXT_ERR_NOACK;
  auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(der->data(), der->size()));
  if (!copy) return SSL_TLSEXT_ERR_NOACK;
  SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der->size()));  // takes `copy`
  return SSL_TLSEXT_ERR_OK;
}

using BuildErrors = std::vector<TlsContext::BuildError>;

/// What a listener's contexts are made of, read from its files before any context is made.
struct BuildInputs {
  std::vector<LoadedCert> certs;
  std::vector<TicketKey> ticket_keys;
  std::vector<CrlPtr> crls;
};

/// Loads the certificates, ticket keys and CRLs of `config` and checks the keys that depend on
/// each other; every problem lands in `errors`.
BuildInputs load_inputs(const ListenerTlsConfig& config, BuildErrors& errors) {
  BuildInputs in;
  if (config.certificates.empty()) {
    errors.push_back(
        {-1, "certificate", "a TLS listener needs at least one [[listener.tls.certificate]]"});
  }
  for (std::size_t i = 0; i < config.certificates.size(); ++i) {
    auto c = load_certificate(config.certificates[i], static_cast<int>(i));
    if (!c) {
      errors.push_back(std::move(c.error()));
    } else {
      in.certs.push_back(std::move(*c));
    }
  }
  if (!config.ticket_key_file.empty()) {
    auto text = read_file(config.ticket_key_file);
    if (!text) {
      errors.push_back({-1, "ticket_key_file", text.error()});
    } else if (auto keys = parse_ticket_keys(*text); !keys) {
      errors.push_back(
          {-1, "ticket_key_file", fmt::format("\"{}\": {}", config.ticket_key_file, keys.error())});
    } else {
      in.ticket_keys = std::move(*keys);
    }
  }
  if (config.verify_client != VerifyClient::none && config.client_ca.empty()) {
    errors.push_back({-1, "verify_client", "verify_client needs client_ca"});
  }
  if (config.verify_client == VerifyClient::none && !config.client_ca.empty()) {
    errors.push_back({-1, "client_ca",
                      "client_ca is set but verify_client = \"none\"; set \"required\" or "
                      "\"optional\""});
  }
  if (!config.crl_file.empty()) {
    if (config.client_ca.empty()) {
      errors.push_back(
          {-1, "crl_file", "crl_file needs client_ca (it checks client certificates)"});
    } else if (auto loaded = load_crls(config.crl_file); !loaded) {
      errors.push_back({-1, "crl_file", loaded.error()});
    } else {
      in.crls = std::move(*loaded);
    }
  }
  return in;
}

/// `what` and the OpenSSL error queue (cleared) as a build error.
void add_openssl_error(BuildErrors& errors, int index, std::string key, std::string_view what) {
  errors.push_back({index, std::move(key), fmt::format("{}: {}", what, openssl_errors())});
}

/// Client verification of one context: the CA list, the CRLs, the verify mode. False (with
/// `errors`) when the CA file cannot be loaded.
bool set_client_verification(SSL_CTX* c, const ListenerTlsConfig& config,
                             const std::vector<CrlPtr>& crls, BuildErrors& errors) {
  if (SSL_CTX_load_verify_locations(c, config.client_ca.c_str(), nullptr) != 1) {
    add_openssl_error(errors, -1, "client_ca",
                      fmt::format("cannot load CA file \"{}\"", config.client_ca));
    return false;
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca.c_str());
  if (!names) {
    add_openssl_error(errors, -1, "client_ca",
                      fmt::format("no CA certificate in \"{}\"", config.client_ca));
    return false;
  }
  SSL_CTX_set_client_CA_list(c, names);
  if (!crls.empty()) {
    // The leaf's issuer must have a current CRL in the file: a client certificate whose
    // CA has none, or whose CRL expired, is refused too (fail closed).
    X509_STORE* store = SSL_CTX_get_cert_store(c);
    for (const auto& crl : crls) X509_STORE_add_crl(store, crl.get());
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
  }
  int mode = SSL_VERIFY_PEER;
  if (config.verify_client == VerifyClient::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  SSL_CTX_set_verify(c, mode, nullptr);
  return true;
}

/// A new server context with the listener's policy and callbacks (`owner` in its ex_data), no
/// certificate yet; nullptr (with `errors`) on failure.
CtxPtr make_server_context(const ListenerTlsConfig& config, TlsContext* owner,
                           const std::vector<CrlPtr>& crls, BuildErrors& errors) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    add_openssl_error(errors, -1, "certificate", "SSL_CTX_new failed");
    return nullptr;
  }
  SSL_CTX* c = ctx.get();
  // OpenSSL's default cipher lists at security level 2 (≥ 112-bit keys: RSA ≥ 2048, no SHA-1
  // signatures, no RC4/3DES); TLS 1.0 and 1.1 are never enabled.
  SSL_CTX_set_security_level(c, 2);
  SSL_CTX_set_min_proto_version(
      c, config.min_version == TlsVersion::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
  SSL_CTX_set_options(
      c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Idle keep-alive connections keep no record buffers (as HAProxy does).
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_session_id_context(c, kSessionIdContext, sizeof kSessionIdContext - 1);
  SSL_CTX_set_num_tickets(c, 1);
  SSL_CTX_set_ex_data(c, context_index(), owner);
  SSL_CTX_set_tlsext_servername_callback(c, servername_cb);
  SSL_CTX_set_alpn_select_cb(c, alpn_cb, nullptr);
  if (!owner->ticket_keys().empty()) SSL_CTX_set_tlsext_ticket_key_evp_cb(c, ticket_cb);
  if (!config.client_ca.empty() && !set_client_verification(c, config, crls, errors)) {
    return nullptr;
  }
  SSL_CTX_set_tlsext_status_cb(c, status_cb);
  return ctx;
}

}  // namespace

std::expected<std::shared_ptr<const TlsContext>, std::vector<TlsContext::BuildError>>
TlsContext::build(const ListenerTlsConfig& config) {
  std::vector<BuildError> errors;
  std::shared_ptr<TlsContext> self(new TlsContext(config));
  auto& impl = *self->impl_;
  auto inputs = load_inputs(config, errors);
  if (!errors.empty()) return std::unexpected(std::move(errors));
  self->ticket_keys_ = std::move(inputs.ticket_keys);
  const auto& certs = inputs.certs;

  // Group the certificates by their exact name set: RSA and ECDSA certificates for the same names
  // go into one context, where OpenSSL serves the one the client's signature algorithms allow.
  std::vector<std::size_t> group_of(certs.size());
  for (std::size_t i = 0; i < certs.size(); ++i) {
    auto it = std::find(impl.names.begin(), impl.names.end(), certs[i].names);
    group_of[i] = static_cast<std::size_t>(it - impl.names.begin());
    if (it == impl.names.end()) impl.names.push_back(certs[i].names);
  }
  for (std::size_t g = 0; g < impl.names.size(); ++g) {
    CtxPtr ctx = make_server_context(config, self.get(), inputs.crls, errors);
    if (!ctx) break;
    SSL_CTX* c = ctx.get();
    for (std::size_t i = 0; i < certs.size(); ++i) {
      if (group_of[i] != g) continue;
      if (!certs[i].ocsp.empty()) impl.ocsp.emplace(certs[i].leaf.get(), certs[i].ocsp);
      STACK_OF(X509)* chain = sk_X509_new_null();
      for (auto& x : certs[i].chain) sk_X509_push(chain, x.get());
      const int ok = SSL_CTX_use_cert_and_key(c, certs[i].leaf.get(), certs[i].key.get(), chain, 1);
      sk_X509_free(chain);  // the context took its own references
      if (ok != 1) {
        add_openssl_error(errors, static_cast<int>(i), "cert",
                          fmt::format("\"{}\" cannot be used", config.certificates[i].cert_file));
      }
    }
    for (const auto& name : impl.names[g]) {
      auto& map = name.starts_with("*.") ? impl.wildcard : impl.exact;
      map.emplace(name.starts_with("*.") ? name.substr(1) : name, c);  // first context wins
    }
    impl.contexts.push_back(std::move(ctx));
  }
  if (!errors.empty()) return std::unexpected(std::move(errors));
  SSL_CTX_up_ref(impl.contexts.front().get());  // asio's context owns one reference
  impl.asio_default = std::make_unique<boost::asio::ssl::context>(impl.contexts.front().get());
  return self;
}

std::expected<std::vector<TicketKey>, std::string> parse_ticket_keys(std::string_view text) {
  std::vector<TicketKey> keys;
  int line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const auto eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view{} : text.substr(eol + 1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back())))
      line.remove_suffix(1);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.front())))
      line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    // 80 bytes are 108 base64 characters (with "=" padding).
    if (line.size() != 108) {
      return std::unexpected(
          fmt::format("line {}: expected 108 base64 characters (80 bytes), "
                      "got {} (make one with `openssl rand -base64 80`)",
                      line_no, line.size()));
    }
    unsigned char raw[84];
    const int n = EVP_DecodeBlock(raw, reinterpret_cast<const unsigned char*>(line.data()),
                                  static_cast<int>(line.size()));
    // 108 characters decode to 81 bytes: 80 and one of "=" padding.
    if (n != 81 || line[107] != '=' || line[106] == '=') {
      return std::unexpected(fmt::format("line {}: not valid base64 of 80 bytes", line_no));
    }
    TicketKey k;
    std::memcpy(k.name, raw, 16);
    std::memcpy(k.aes_key, raw + 16, 32);
    std::memcpy(k.hmac_key, raw + 48, 32);
    keys.push_back(k);
  }
  if (keys.empty()) return std::unexpected("no key in the file");
  return keys;
}

TlsConnectionInfo connection_info(SSL* ssl) {
  TlsConnectionInfo info;
  info.version = SSL_get_version(ssl);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) info.cipher = SSL_CIPHER_get_name(c);
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn) info.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) info.server_name = sni;
  if (X509* peer = SSL_get0_peer_certificate(ssl);
      peer && SSL_get_verify_result(ssl) == X509_V_OK) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    X509_NAME_print_ex(bio.get(), X509_get_subject_name(peer), 0,
                       XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio.get(), &data);
    if (len > 0) info.client_subject.assign(data, static_cast<std::size_t>(len));
  }
  return info;
}

void mark_tls_shutdown_sent(SSL* ssl) { SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN); }

std::string handshake_error_reason(const boost::system::error_code& ec, bool timed_out,
                                   const SSL* ssl) {
  auto reason = handshake_error_reason(ec, timed_out);
  if (ssl && reason == "certificate verify failed") {
    // Revocation is the operator's decision, not a broken client: name it and the CRL problems.
    switch (const long v = SSL_get_verify_result(ssl)) {
      case X509_V_ERR_CERT_REVOKED:
      case X509_V_ERR_UNABLE_TO_GET_CRL:
      case X509_V_ERR_CRL_HAS_EXPIRED:
      case X509_V_ERR_CRL_NOT_YET_VALID:
      case X509_V_ERR_CRL_SIGNATURE_FAILURE:
        return X509_verify_cert_error_string(v);
      default:
        break;
    }
  }
  return reason;
}

std::string handshake_error_reason(const boost::system::error_code& ec, bool timed_out) {
  if (timed_out) return "timeout";
  if (ec == boost::asio::ssl::error::stream_truncated || ec == boost::asio::error::eof ||
      ec == boost::asio::error::connection_reset) {
    return "eof";
  }
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    if (const char* r = ERR_reason_error_string(static_cast<unsigned long>(ec.value()))) return r;
    return "tls error";
  }
  return "io error";
}

}  // namespace lbd::proxy
