// Test-time certificates with the OpenSSL API (see test_pki.hpp).
#include "tests/support/test_pki.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lbtest {

namespace {

EVP_PKEY* make_key(KeyType type) {
  EVP_PKEY* k = type == KeyType::ec_p256 ? EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256")
                                         : EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
  if (!k) throw std::runtime_error("test pki: key generation failed");
  return k;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("test pki: bad extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* make_cert(EVP_PKEY* key, const std::string& cn, long serial, X509* issuer) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("lbpair tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  return x;
}

void write_pem(const std::string& path, X509* cert, EVP_PKEY* key) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("test pki: cannot write " + path);
  if (cert) PEM_write_X509(f, cert);
  if (key) PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
}

}  // namespace

TestPki::TestPki(const std::string& ca_name) {
  char tmpl[] = "/tmp/lbpair-pki-XXXXXX";
  if (!::mkdtemp(tmpl)) throw std::runtime_error("test pki: mkdtemp failed");
  dir_ = tmpl;
  EVP_PKEY* key = make_key(KeyType::ec_p256);
  X509* cert = make_cert(key, ca_name, serial_++, nullptr);
  add_ext(cert, cert, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert, cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert, cert, NID_subject_key_identifier, "hash");
  X509_sign(cert, key, EVP_sha256());
  ca_ = {path("ca.pem"), path("ca.key")};
  write_pem(ca_.cert, cert, nullptr);
  write_pem(ca_.key, nullptr, key);
  ca_key_ = key;
  ca_cert_ = cert;
}

TestPki::~TestPki() {
  EVP_PKEY_free(static_cast<EVP_PKEY*>(ca_key_));
  X509_free(static_cast<X509*>(ca_cert_));
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

PemFiles TestPki::issue(const std::string& file_stem, const std::string& cn,
                        const std::vector<std::string>& names, KeyType type, bool client) {
  auto* ca_cert = static_cast<X509*>(ca_cert_);
  auto* ca_key = static_cast<EVP_PKEY*>(ca_key_);
  EVP_PKEY* key = make_key(type);
  X509* cert = make_cert(key, cn, serial_++, ca_cert);
  add_ext(cert, ca_cert, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, ca_cert, NID_ext_key_usage, client ? "clientAuth" : "serverAuth");
  add_ext(cert, ca_cert, NID_authority_key_identifier, "keyid");
  if (!names.empty()) {
    std::string san;
    for (const auto& n : names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
    add_ext(cert, ca_cert, NID_subject_alt_name, san);
  }
  X509_sign(cert, ca_key, EVP_sha256());
  PemFiles out{path(file_stem + ".pem"), path(file_stem + ".key"), serial_ - 1};
  write_pem(out.cert, cert, nullptr);
  write_pem(out.key, nullptr, key);
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

std::string TestPki::crl(const std::string& file_stem, const std::vector<long>& revoked,
                         long valid_for_s) {
  auto* ca_cert = static_cast<X509*>(ca_cert_);
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);  // v2
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca_cert));
  ASN1_TIME* t = ASN1_TIME_new();
  X509_gmtime_adj(t, -3600);
  X509_CRL_set1_lastUpdate(crl, t);
  X509_gmtime_adj(t, valid_for_s - 3600);
  X509_CRL_set1_nextUpdate(crl, t);
  for (long serial : revoked) {
    X509_REVOKED* r = X509_REVOKED_new();
    ASN1_INTEGER* sn = ASN1_INTEGER_new();
    ASN1_INTEGER_set(sn, serial);
    X509_REVOKED_set_serialNumber(r, sn);
    X509_gmtime_adj(t, -60);
    X509_REVOKED_set_revocationDate(r, t);
    ASN1_ENUMERATED* reason = ASN1_ENUMERATED_new();
    ASN1_ENUMERATED_set(reason, CRL_REASON_KEY_COMPROMISE);
    X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, 0);
    ASN1_ENUMERATED_free(reason);
    ASN1_INTEGER_free(sn);
    X509_CRL_add0_revoked(crl, r);
  }
  ASN1_TIME_free(t);
  X509_CRL_sort(crl);
  X509_CRL_sign(crl, static_cast<EVP_PKEY*>(ca_key_), EVP_sha256());
  const auto out = path(file_stem + ".pem");
  FILE* f = std::fopen(out.c_str(), "w");
  if (!f) throw std::runtime_error("test pki: cannot write " + out);
  PEM_write_X509_CRL(f, crl);
  std::fclose(f);
  X509_CRL_free(crl);
  return out;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace lbtest
