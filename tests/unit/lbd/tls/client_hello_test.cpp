// SNI extraction from ClientHello bytes made by OpenSSL's client at test time (TLS 1.2 and 1.3
// hellos), and every kind of truncated, fragmented or malformed input.
#include "lbd/tls/client_hello.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "lbd/config.hpp"
#include "lbd/l4/sni_route.hpp"

using lbd::proxy::parse_client_hello_sni;
using lbd::proxy::SniStatus;
using Bytes = std::vector<std::uint8_t>;

namespace {

/// The first flight of OpenSSL's client: one handshake record holding the ClientHello.
Bytes client_hello(const char* sni, int max_version = 0) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (max_version) SSL_CTX_set_max_proto_version(ctx, max_version);
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  if (sni) SSL_set_tlsext_host_name(ssl, sni);
  SSL_connect(ssl);  // wants to read the ServerHello: the ClientHello is in `out`
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  Bytes bytes(data, data + n);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return bytes;
}

auto parse(const Bytes& b) { return parse_client_hello_sni(b); }

std::size_t find(const Bytes& b, std::string_view s) {
  auto it = std::search(b.begin(), b.end(), s.begin(), s.end());
  REQUIRE(it != b.end());
  return static_cast<std::size_t>(it - b.begin());
}

}  // namespace

TEST_CASE("client hello: the server name of TLS 1.3 and TLS 1.2 hellos is found, lowercased") {
  for (const int version : {0, TLS1_2_VERSION}) {
    const auto r = parse(client_hello("Api.Example.COM", version));
    CHECK(r.status == SniStatus::found);
    CHECK(r.name == "api.example.com");
  }
  const auto none = parse(client_hello(nullptr));
  CHECK(none.status == SniStatus::no_sni);
  CHECK(none.name.empty());
}

TEST_CASE("client hello: every strict prefix asks for more bytes") {
  const auto hello = client_hello("a.example.com");
  for (std::size_t n = 0; n < hello.size(); ++n) {
    const Bytes prefix(hello.begin(), hello.begin() + static_cast<std::ptrdiff_t>(n));
    CHECK_MESSAGE(parse(prefix).status == SniStatus::need_more, n);
  }
  auto longer = hello;
  longer.insert(longer.end(), {23, 3, 3, 0, 1, 0});  // bytes after the hello are not looked at
  CHECK(parse(longer).name == "a.example.com");
}

TEST_CASE("client hello: a hello fragmented over several records is reassembled") {
  const auto hello = client_hello("frag.example.com");
  const Bytes body(hello.begin() + 5, hello.end());
  for (const std::size_t piece : {1u, 7u, 100u}) {
    Bytes records;
    for (std::size_t pos = 0; pos < body.size(); pos += piece) {
      const auto len = std::min(piece, body.size() - pos);
      records.insert(records.end(), {22, 3, 1, static_cast<std::uint8_t>(len >> 8),
                                     static_cast<std::uint8_t>(len & 0xff)});
      records.insert(records.end(), body.begin() + static_cast<std::ptrdiff_t>(pos),
                     body.begin() + static_cast<std::ptrdiff_t>(pos + len));
    }
    CAPTURE(piece);
    CHECK(parse(records).name == "frag.example.com");
    const Bytes cut(records.begin(), records.end() - 1);
    CHECK(parse(cut).status == SniStatus::need_more);
  }
}

TEST_CASE("client hello: malformed input is refused with a reason") {
  const auto hello = client_hello("a.example.com");
  auto mutate = [&](std::size_t at, std::uint8_t v) {
    auto b = hello;
    b.at(at) = v;
    return parse(b);
  };
  CHECK(mutate(0, 23).status == SniStatus::invalid);  // application data, not handshake
  CHECK(mutate(1, 2).status == SniStatus::invalid);   // record version 2.x
  CHECK(mutate(5, 2).status == SniStatus::invalid);   // a ServerHello
  CHECK(std::string(mutate(5, 2).error) == "first handshake message is not a ClientHello");
  CHECK(mutate(3, 0x50).status == SniStatus::invalid);  // record longer than TLS allows
  CHECK(parse(Bytes{22, 3, 1, 0, 0}).status == SniStatus::invalid);  // empty record
  // SSLv2-style and plain-text starts.
  CHECK(parse(Bytes{0x80, 0x2e, 0x01, 0x03, 0x01}).status == SniStatus::invalid);
  const std::string get = "GET / HTTP/1.1\r\n";
  CHECK(parse(Bytes(get.begin(), get.end())).status == SniStatus::invalid);

  // The host name itself: bad characters, an empty label.
  const auto at = find(hello, "a.example.com");
  CHECK(mutate(at + 1, '/').status == SniStatus::invalid);
  CHECK(mutate(at, '.').status == SniStatus::invalid);
  CHECK(mutate(at + 12, '.').status == SniStatus::invalid);  // trailing dot
  // Lengths of the name entry, the name list and the extension, each one too large / too small.
  for (const std::size_t len_at : {at - 2, at - 5, at - 7}) {
    CAPTURE(len_at);
    auto b = hello;
    b[len_at + 1] = static_cast<std::uint8_t>(b[len_at + 1] + 1);
    CHECK(parse(b).status == SniStatus::invalid);
    b = hello;
    b[len_at + 1] = static_cast<std::uint8_t>(b[len_at + 1] - 1);
    CHECK(parse(b).status == SniStatus::invalid);
  }
}

TEST_CASE("client hello: no mutation or random input crashes the parser") {
  const auto hello = client_hello("fuzz.example.com");
  std::size_t found = 0;
  for (std::size_t i = 0; i < hello.size(); ++i) {
    for (const std::uint8_t v : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      auto b = hello;
      b[i] = v;
      const auto r = parse(b);
      if (r.status == SniStatus::found) {
        ++found;
        CHECK(r.name.size() <= 253);
      }
    }
  }
  CHECK(found > 0);
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    Bytes b(rng() % 600);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    if (!b.empty() && i % 2 == 0) b[0] = 22;  // get past the first check half of the time
    if (b.size() > 1 && i % 2 == 0) b[1] = 3;
    const auto r = parse(b);
    CHECK(r.name.size() <= 253);
  }
}

TEST_CASE("sni route: exact names first, then one-label wildcards in rule order, else default") {
  lbd::ListenerConfig l;
  l.default_pool = "default";
  l.sni_routes = {{{"*.example.com"}, "wild"},
                  {{"a.example.com", "b.example.org"}, "exact"},
                  {{"*.example.com"}, "second-wild"}};
  CHECK(lbd::proxy::sni_pool(l, "a.example.com") == "exact");
  CHECK(lbd::proxy::sni_pool(l, "b.example.org") == "exact");
  CHECK(lbd::proxy::sni_pool(l, "x.example.com") == "wild");
  CHECK(lbd::proxy::sni_pool(l, "y.x.example.com") == "default");
  CHECK(lbd::proxy::sni_pool(l, "example.com") == "default");
  CHECK(lbd::proxy::sni_pool(l, "") == "default");
}

TEST_CASE("sni route config: tcp only, known pools, DNS names or wildcards") {
  auto errors = [](const std::string& listener_extra) {
    lb::config::Diagnostics diags;
    lbd::load_config_from_string(R"([[listener]]
name = "tls"
bind = "127.0.0.1:8443"
pool = "app"
)" + listener_extra + R"(
[[pool]]
name = "app"
[[pool.server]]
name = "a1"
address = "127.0.0.1:9001"
)",
                                 "t.toml", diags);
    return diags.to_string();
  };
  CHECK(errors("mode = \"tcp\"\n[[listener.sni_route]]\nserver_name = [\"A.example.com\", "
               "\"*.example.org\"]\npool = \"app\"\n") == "");
  CHECK(errors("mode = \"http\"\n[[listener.sni_route]]\nserver_name = \"a\"\npool = \"app\"\n")
            .find("needs mode = \"tcp\"") != std::string::npos);
  CHECK(errors("mode = \"tcp\"\n[[listener.sni_route]]\nserver_name = \"a\"\npool = \"nope\"\n")
            .find("t.toml:8:8: listener[0].sni_route[0].pool: unknown pool \"nope\"") !=
        std::string::npos);
  CHECK(errors("mode = \"tcp\"\n[[listener.sni_route]]\nserver_name = \"a b\"\npool = \"app\"\n")
            .find("is not a DNS name") != std::string::npos);
  CHECK(errors("mode = \"tcp\"\n[[listener.sni_route]]\npool = \"app\"\n")
            .find("needs at least one server_name") != std::string::npos);
}
