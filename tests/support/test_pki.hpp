// Certificates made at test time with the OpenSSL API: a CA, leaf certificates signed by it (with
// DNS names, ECDSA P-256 or RSA-2048 keys), written as PEM files into a temporary directory that
// is removed with the object. Short validity; nothing is ever read from the host.
#pragma once

#include <string>
#include <vector>

namespace lbtest {

enum class KeyType { ec_p256, rsa2048 };

struct PemFiles {
  std::string cert;  // PEM chain file (leaf only)
  std::string key;   // PEM private key file
  long serial = 0;   // the certificate's serial number (for CRLs)
};

class TestPki {
 public:
  /// Makes a temporary directory and a self-signed CA named `ca_name`.
  explicit TestPki(const std::string& ca_name = "lbpair test CA");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  /// The CA certificate file (PEM), for clients' --cacert or a listener's client_ca.
  const std::string& ca_file() const { return ca_.cert; }
  /// A leaf certificate with subject CN = `cn` and the DNS `names` (SAN), signed by the CA.
  /// `file_stem` names the two files in the directory. `client` = clientAuth usage.
  PemFiles issue(const std::string& file_stem, const std::string& cn,
                 const std::vector<std::string>& names, KeyType type = KeyType::ec_p256,
                 bool client = false);
  /// A CRL (PEM, version 2, valid from an hour ago for `valid_for_s` seconds) signed by the CA
  /// that revokes the certificates with the given serials (reason keyCompromise); written to
  /// `file_stem`.pem, whose path is returned. An empty list makes a CRL revoking nothing.
  std::string crl(const std::string& file_stem, const std::vector<long>& revoked,
                  long valid_for_s = 86400);
  /// A path in the temporary directory (for other files of the test).
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
  PemFiles ca_;
  void* ca_key_ = nullptr;   // EVP_PKEY*
  void* ca_cert_ = nullptr;  // X509*
  long serial_ = 1;
};

/// Writes `text` to `path` (replacing it).
void write_file(const std::string& path, const std::string& text);
/// Reads a whole file ("" when missing).
std::string read_file(const std::string& path);

}  // namespace lbtest
