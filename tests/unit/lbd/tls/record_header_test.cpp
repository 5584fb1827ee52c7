// The first TLS record's size from its header: real ClientHellos made by OpenSSL's client at test
// time, every prefix of a header, and the bytes that are not a TLS handshake record.
#include "lbd/tls/record_header.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <string_view>
#include <vector>

#include <doctest/doctest.h>

using lbd::proxy::first_record_need;
using lbd::proxy::FirstRecordNeed;
using Bytes = std::vector<std::uint8_t>;

namespace {

/// OpenSSL client's first flight: one handshake record holding the ClientHello.
Bytes client_hello(int max_version = 0) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (max_version) SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, BIO_new(BIO_s_mem()), out);
  SSL_set_tlsext_host_name(ssl, "a.example.com");
  SSL_connect(ssl);  // wants the ServerHello: the ClientHello is in `out`
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  Bytes bytes(data, data + n);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return bytes;
}

FirstRecordNeed need(std::string_view bytes) {
  return first_record_need(
      std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
}

}  // namespace

TEST_CASE("tls record header: a real ClientHello's header gives the size of the whole hello") {
  for (const int version : {0, TLS1_2_VERSION}) {
    const Bytes hello = client_hello(version);
    REQUIRE(hello.size() > 5);
    for (std::size_t n = 5; n <= hello.size(); n += 7) {
      const auto r = first_record_need(std::span(hello).first(n));
      CHECK(r.tls);
      CHECK(r.bytes == hello.size());
    }
  }
}

TEST_CASE(
    "tls record header: an incomplete header that may still be TLS needs the 5 header bytes") {
  const Bytes hello = client_hello();
  for (std::size_t n = 0; n < 5; ++n) {
    const auto r = first_record_need(std::span(hello).first(n));
    CHECK(r.tls);
    CHECK(r.bytes == 5);
  }
}

TEST_CASE("tls record header: the largest first record is 2^14 bytes of payload") {
  CHECK(need(std::string_view("\x16\x03\x01\x40\x00", 5)).bytes == 5 + 16384);
  CHECK(need(std::string_view("\x16\x03\x01\x00\x01", 5)).bytes == 6);
  CHECK(need(std::string_view("\x16\x03\x03\x02\x00", 5)).bytes == 5 + 512);
  CHECK_FALSE(need(std::string_view("\x16\x03\x01\x40\x01", 5)).tls);  // record_overflow
  CHECK_FALSE(need(std::string_view("\x16\x03\x01\xff\xff", 5)).tls);
  CHECK_FALSE(need(std::string_view("\x16\x03\x01\x00\x00", 5)).tls);  // an empty fragment
}

TEST_CASE("tls record header: bytes that are not a handshake record are not TLS, from the first") {
  CHECK_FALSE(need("G").tls);  // plain HTTP on the TLS port
  CHECK_FALSE(need("GET / HTTP/1.1\r\n").tls);
  CHECK_FALSE(need("PRI * HTTP/2.0\r\n").tls);
  CHECK_FALSE(need(std::string_view("\x17\x03\x03\x00\x10", 5)).tls);  // application data
  CHECK_FALSE(need(std::string_view("\x15\x03\x03\x00\x02", 5)).tls);  // an alert
  CHECK_FALSE(need(std::string_view("\x16\x02", 2)).tls);              // not version 3.x
  CHECK_FALSE(need(std::string_view("\x80\x2e\x01\x03\x01", 5)).tls);  // an SSLv2 hello
  CHECK_FALSE(need(std::string_view("\x16\x04\x01\x00\x10", 5)).tls);
}
