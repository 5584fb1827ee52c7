// The blocking HTTPS origin of the upstream-TLS tests (see tls_origin.hpp).
#include "tests/integration/tls_origin.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <doctest/doctest.h>
#include <fmt/format.h>

namespace lbtest {

namespace {

bool ssl_write_all(SSL* ssl, std::string_view s) {
  while (!s.empty()) {
    const int n = SSL_write(ssl, s.data(), static_cast<int>(s.size()));
    if (n <= 0) return false;
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

/// Case-insensitive search for a header line start ("\r\nupgrade:") in `head`.
bool has_header(std::string head, std::string_view name) {
  for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return head.find(fmt::format("\r\n{}:", name)) != std::string::npos;
}

}  // namespace

TlsOrigin::TlsOrigin(std::string name, const PemFiles& cert, TlsOriginOptions options)
    : name_(std::move(name)), options_(std::move(options)) {
  const auto& client_ca = options_.client_ca;
  ctx_ = SSL_CTX_new(TLS_server_method());
  REQUIRE(ctx_);
  REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_, cert.cert.c_str()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, cert.key.c_str(), SSL_FILETYPE_PEM) == 1);
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  if (!client_ca.empty()) {
    REQUIRE(SSL_CTX_load_verify_locations(ctx_, client_ca.c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  static constexpr unsigned char kSid[] = "tls-origin";
  SSL_CTX_set_session_id_context(ctx_, kSid, sizeof kSid - 1);
  backend_ = std::make_unique<TestBackend>([this](int fd) { serve(fd); });
}

TlsOrigin::~TlsOrigin() {
  backend_.reset();
  SSL_CTX_free(ctx_);
}

std::vector<std::string> TlsOrigin::server_names() const {
  std::lock_guard lock(mutex_);
  return server_names_;
}

void TlsOrigin::serve(int fd) {
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx_), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  if (SSL_accept(ssl.get()) != 1) {
    ERR_clear_error();
    ++failed_;
    return;
  }
  ++handshakes_;
  if (SSL_session_reused(ssl.get())) ++resumed_;
  {
    const char* sni = SSL_get_servername(ssl.get(), TLSEXT_NAMETYPE_host_name);
    std::lock_guard lock(mutex_);
    server_names_.emplace_back(sni ? sni : "");
  }
  std::string data;
  char buf[16384];
  for (int round = 0; round < 10000; ++round) {
    const auto end = data.find("\r\n\r\n");
    if (end == std::string::npos) {
      const int n = SSL_read(ssl.get(), buf, sizeof buf);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    const std::string head = data.substr(0, end + 2);
    data.erase(0, end + 4);
    std::size_t length = 0;
    std::string lower = head;
    for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto pos = lower.find("\r\ncontent-length:"); pos != std::string::npos) {
      length = std::stoul(lower.substr(pos + 17));
    }
    while (data.size() < length) {
      const int n = SSL_read(ssl.get(), buf, sizeof buf);
      if (n <= 0) return;
      data.append(buf, static_cast<std::size_t>(n));
    }
    data.erase(0, length);
    ++requests_;
    const auto sp1 = head.find(' ');
    const auto sp2 = head.find(' ', sp1 + 1);
    const std::string path = head.substr(sp1 + 1, sp2 - sp1 - 1);
    if (has_header(head, "upgrade")) {
      if (!ssl_write_all(ssl.get(),
                         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\n\r\n")) {
        return;
      }
      if (!data.empty() && !ssl_write_all(ssl.get(), data)) return;
      for (;;) {  // echo until the peer's close_notify or EOF, then close_notify back
        const int n = SSL_read(ssl.get(), buf, sizeof buf);
        if (n <= 0) break;
        if (!ssl_write_all(ssl.get(), std::string_view(buf, static_cast<std::size_t>(n)))) return;
      }
      SSL_shutdown(ssl.get());
      return;
    }
    const std::string body = fmt::format("{} {}", name_, path);
    if (!ssl_write_all(ssl.get(), fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n"
                                              "X-Backend: {}\r\n\r\n{}",
                                              body.size(), name_, body))) {
      return;
    }
    if (options_.late_ticket) {
      // After a pause, so that it reaches lbd's connection while it sits idle in the pool.
      ::usleep(30'000);
      SSL_new_session_ticket(ssl.get());
      if (SSL_do_handshake(ssl.get()) == 1) ++late_tickets_;
    }
  }
  SSL_shutdown(ssl.get());
}

}  // namespace lbtest
