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
