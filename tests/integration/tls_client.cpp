// The blocking OpenSSL test client (see tls_client.hpp).
#include "tests/integration/tls_client.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <thread>

#include "tests/integration/lbd_harness.hpp"

namespace lbtest {

namespace {

std::string errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out;
}

/// Reads one HTTP response (header + Content-Length body) from `ssl`; "" on error.
std::string read_response(SSL* ssl) {
  std::string data;
  char buf[16384];
  for (int i = 0; i < 10000; ++i) {
    const auto end = data.find("\r\n\r\n");
    if (end != std::string::npos) {
      std::size_t length = 0;
      auto pos = data.find("Content-Length: ");
      if (pos == std::string::npos) pos = data.find("content-length: ");
      if (pos != std::string::npos && pos < end) length = std::stoul(data.substr(pos + 16));
      if (data.size() >= end + 4 + length) return data.substr(0, end + 4 + length);
    }
    const int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) return data;
    data.append(buf, static_cast<std::size_t>(n));
  }
  return data;
}

/// Runs the client's first SSL_connect into a memory BIO (the socket is non-blocking until the
/// ClientHello is out, so it returns wanting the ServerHello), then writes the hello to `fd` in
/// `pieces`, `pause` apart. The connection then goes on over `fd` as usual. False when a write
/// failed.
bool send_hello_in_pieces(SSL* ssl, int fd, const std::vector<std::size_t>& pieces,
                          std::chrono::milliseconds pause) {
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set0_wbio(ssl, out);
  const int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  SSL_connect(ssl);  // writes the ClientHello to `out`, then finds nothing to read yet
  ::fcntl(fd, F_SETFL, flags);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::string_view hello(data, n > 0 ? static_cast<std::size_t>(n) : 0);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ok = !hello.empty();
  for (std::size_t i = 0; ok && i <= pieces.size() && !hello.empty(); ++i) {
    if (i > 0) std::this_thread::sleep_for(pause);  // the client's pace is what is tested
    const auto size = i < pieces.size() ? std::min(pieces[i], hello.size()) : hello.size();
    ok = send_all(fd, hello.substr(0, size));
    hello.remove_prefix(size);
  }
  SSL_set_wfd(ssl, fd);  // frees `out`
  return ok;
}

}  // namespace

TlsResult tls_exchange(const lb::Endpoint& endpoint, const TlsClientOptions& o,
                       const std::vector<std::string>& requests) {
  TlsResult r;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  SSL_CTX* c = ctx.get();
  if (o.allow_legacy) {
    SSL_CTX_set_security_level(c, 0);
    SSL_CTX_set_cipher_list(c, "DEFAULT@SECLEVEL=0");
  }
  if (o.min_version) SSL_CTX_set_min_proto_version(c, o.min_version);
  if (o.max_version) SSL_CTX_set_max_proto_version(c, o.max_version);
  if (!o.ca_file.empty()) {
    SSL_CTX_load_verify_locations(c, o.ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  }
  if (!o.sigalgs.empty()) SSL_CTX_set1_sigalgs_list(c, o.sigalgs.c_str());
  if (!o.cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(c, o.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(c, o.key_file.c_str(), SSL_FILETYPE_PEM);
  }
  // No client session cache: freeing the context would flush it and mark the session we hand
  // out as not resumable.
  if (!o.alpn.empty()) {
    std::string wire;
    for (const auto& p : o.alpn) {
      wire += static_cast<char>(p.size());
      wire += p;
    }
    SSL_CTX_set_alpn_protos(c, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  const int fd = connect_to(endpoint);
  if (fd < 0) {
    r.error = "connect failed";
    return r;
  }
  SSL* ssl = SSL_new(c);
  SSL_set_fd(ssl, fd);
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl, o.sni.c_str());
  if (o.session) SSL_set_session(ssl, o.session.get());
  if (!o.hello_pieces.empty() && !send_hello_in_pieces(ssl, fd, o.hello_pieces, o.hello_pause)) {
    r.error = "writing the ClientHello failed";
  } else if (SSL_connect(ssl) != 1) {
    r.error = errors();
    if (r.error.empty()) r.error = "handshake failed";
  } else {
    r.handshake_ok = true;
    r.version = SSL_get_version(ssl);
    r.resumed = SSL_session_reused(ssl) == 1;
    const unsigned char* alpn = nullptr;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
    if (alpn) r.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
    if (X509* peer = SSL_get1_peer_certificate(ssl)) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
      r.peer_cn = cn;
      r.peer_key = EVP_PKEY_get_base_id(X509_get0_pubkey(peer)) == EVP_PKEY_EC ? "EC" : "RSA";
      X509_free(peer);
    }
    for (const auto& req : requests) {
      if (o.before_request) o.before_request(r.responses.size());
      if (SSL_write(ssl, req.data(), static_cast<int>(req.size())) <= 0) break;
      r.responses.push_back(read_response(ssl));
    }
    // TLS 1.3 tickets come after the handshake: a read (above) has processed them.
    if (SSL_SESSION* s = SSL_get1_session(ssl)) r.session = TlsSession(s, SSL_SESSION_free);
    SSL_shutdown(ssl);
  }
  ERR_clear_error();
  SSL_free(ssl);
  ::close(fd);
  return r;
}

std::string raw_client_hello(const char* sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, BIO_new(BIO_s_mem()), out);
  if (sni) SSL_set_tlsext_host_name(ssl, sni);
  SSL_connect(ssl);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::string bytes(data, static_cast<std::size_t>(n));
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return bytes;
}

}  // namespace lbtest
