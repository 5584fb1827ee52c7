// TLS termination on mode = "http" listeners through a real lbd Server in this
// process, with certificates made at test time: SNI and wildcard selection, RSA next to ECDSA,
// versions, ALPN, forwarding headers, bad input, mTLS, shared session tickets, real clients.
#include <openssl/ssl.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <thread>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "common/config/parsers.hpp"
#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"
#include "tests/integration/tls_client.hpp"
#include "tests/integration/tls_fixture.hpp"
#include "tests/support/process.hpp"
#include "tests/support/test_pki.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

std::string get_close(std::string_view path, std::string_view host = "a.example.com") {
  return fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", path, host);
}

}  // namespace

TEST_CASE("tls: SNI picks the exact certificate, the wildcard one, else the default") {
  TestPki pki;
  const auto def = pki.issue("default", "default.test", {"default.test"});
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  const auto wild = pki.issue("wild", "wild", {"*.wild.example.com"});
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({def, a, wild})));
  const auto ep = lbd.endpoint("web");

  auto cn_for = [&](const std::string& sni) {
    auto r = tls_exchange(ep, {.sni = sni, .ca_file = pki.ca_file()});
    CHECK_MESSAGE(r.handshake_ok, sni, " ", r.error);
    return r.peer_cn;
  };
  CHECK(cn_for("a.example.com") == "a.example.com");
  CHECK(cn_for("A.Example.COM") == "a.example.com");
  CHECK(cn_for("x.wild.example.com") == "wild");
  CHECK(cn_for("deep.x.wild.example.com") == "default.test");  // a wildcard covers one label
  CHECK(cn_for("wild.example.com") == "default.test");
  CHECK(cn_for("unknown.test") == "default.test");
  CHECK(cn_for("") == "default.test");
}

TEST_CASE("tls: RSA and ECDSA certificates for one name are chosen by the client's algorithms") {
  TestPki pki;
  const auto ec = pki.issue("ec", "both.test", {"both.test"}, KeyType::ec_p256);
  const auto rsa = pki.issue("rsa", "both.test", {"both.test"}, KeyType::rsa2048);
  Origin origin("o");
  TestBackend backend(origin.handler());
  InProcessLbd lbd(tls_config(backend.address(), tls_section({ec, rsa})));
  const auto ep = lbd.endpoint("web");

  auto r =
      tls_exchange(ep, {.sni = "both.test", .ca_file = pki.ca_file(), .sigalgs = "ECDSA+SHA256"});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  CHECK(r.peer_key == "EC");
  r = tls_exchange(
      ep, {.sni = "both.test", .ca_file = pki.ca_file(), .sigalgs = "RSA-PSS+SHA256:RSA+SHA256"});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  CHECK(r.peer_key == "RSA");
  r = tls_exchange(ep, {.sni = "both.test",
                        .ca_file = pki.ca_file(),
                        .max_version = TLS1_2_VERSION,
                        .sigalgs = "RSA+SHA256"});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  CHECK(r.peer_key == "RSA");
  CHECK(r.version == "TLSv1.2");
}

TEST_CASE("tls: TLS 1.1 is refused and counted, min_version 1.3 refuses TLS 1.2") {
  TlsLbd f;
  auto& lbd = f.lbd;
  auto r =
      tls_exchange(lbd.endpoint("web"),
                   {.sni = "a.example.com", .max_version = TLS1_1_VERSION, .allow_legacy = true});
  CHECK_FALSE(r.handshake_ok);
  r = tls_exchange(lbd.endpoint("web"), {.sni = "a.example.com", .max_version = TLS1_2_VERSION});
  CHECK(r.handshake_ok);
  CHECK(r.version == "TLSv1.2");
  REQUIRE(wait_until([&] { return !lbd.server().tls_handshake_errors("web").empty(); },
                     std::chrono::seconds(2)));
  const auto errors = lbd.server().tls_handshake_errors("web");
  CHECK(errors.size() == 1);
  CHECK(errors.begin()->first == "unsupported protocol");
  CHECK(errors.begin()->second == 1);

  InProcessLbd strict(f.config("min_version = \"1.3\""));
  r = tls_exchange(strict.endpoint("web"), {.sni = "a.example.com", .max_version = TLS1_2_VERSION});
  CHECK_FALSE(r.handshake_ok);
  r = tls_exchange(strict.endpoint("web"), {.sni = "a.example.com"});
  CHECK(r.handshake_ok);
  CHECK(r.version == "TLSv1.3");
}

TEST_CASE("tls: ALPN selects h2 first, then http/1.1, and nothing the listener does not speak") {
  TlsLbd f;
  auto& lbd = f.lbd;
  auto r = tls_exchange(lbd.endpoint("web"), {.alpn = {"http/1.1", "h2"}});
  REQUIRE(r.handshake_ok);
  CHECK(r.alpn == "h2");  // the server's preference (alpn = ["h2", "http/1.1"] by default)
  r = tls_exchange(lbd.endpoint("web"), {.alpn = {"http/1.1"}});
  REQUIRE(r.handshake_ok);
  CHECK(r.alpn == "http/1.1");
  r = tls_exchange(lbd.endpoint("web"), {.alpn = {"spdy/3.1"}});
  REQUIRE(r.handshake_ok);
  CHECK(r.alpn == "");
}

TEST_CASE("tls: requests through TLS reach the backend with X-Forwarded-Proto https, keep-alive") {
  TlsLbd f;
  auto& lbd = f.lbd;
  auto r = tls_exchange(lbd.endpoint("web"), {.sni = "a.example.com", .ca_file = f.pki.ca_file()},
                        {get_close("/one"), get_close("/two")});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  REQUIRE(r.responses.size() == 2);
  CHECK(r.responses[0].starts_with("HTTP/1.1 200"));
  CHECK(r.responses[0].ends_with("o /one"));
  CHECK(r.responses[1].ends_with("o /two"));
  REQUIRE(f.origin.count() == 2);
  const auto req = f.origin.seen().at(0);
  CHECK(header(req.base(), "X-Forwarded-Proto") == "https");
  CHECK(header(req.base(), "Forwarded") == "for=127.0.0.1;host=a.example.com;proto=https");
  CHECK(header(req.base(), "X-Client-Subject") == "<none>");
}

TEST_CASE("tls: plain HTTP sent to the TLS port gets a plain-text 400 and is counted") {
  TlsLbd f;
  auto& lbd = f.lbd;
  const int fd = connect_to(lbd.endpoint("web"));
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, get("/")));
  const auto answer = read_to_eof(fd);
  ::close(fd);
  CHECK(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"));
  CHECK(answer.ends_with("This port expects HTTPS (TLS), not HTTP\n"));
  CHECK(f.origin.count() == 0);
  REQUIRE(
      wait_until([&] { return lbd.server().tls_handshake_errors("web").contains("http request"); },
                 std::chrono::seconds(2)));
}

TEST_CASE("tls: a failed handshake does not disturb a concurrent good connection") {
  TlsLbd f;
  auto& lbd = f.lbd;
  const auto ep = lbd.endpoint("web");
  // A good client mid-handshake-free keep-alive, while garbage and half handshakes arrive.
  std::thread bad([&] {
    for (int i = 0; i < 20; ++i) {
      const int fd = connect_to(ep);
      if (fd < 0) continue;
      send_all(fd, std::string("\x16\x03\x01\x00\x05garbagegarbage", 20));
      read_to_eof(fd);
      ::close(fd);
    }
  });
  std::vector<std::string> requests;
  for (int i = 0; i < 20; ++i) requests.push_back(get_close(fmt::format("/{}", i)));
  auto r = tls_exchange(ep, {.sni = "a.example.com"}, requests);
  bad.join();
  REQUIRE(r.handshake_ok);
  REQUIRE(r.responses.size() == 20);
  for (int i = 0; i < 20; ++i) CHECK(r.responses[i].ends_with(fmt::format("o /{}", i)));
  REQUIRE(wait_until(
      [&] {
        std::uint64_t n = 0;
        for (const auto& [reason, count] : lbd.server().tls_handshake_errors("web")) n += count;
        return n == 20;
      },
      std::chrono::seconds(3)));
}

TEST_CASE("tls: curl with --resolve and --cacert gets the response over TLS") {
  TlsLbd f;
  auto& lbd = f.lbd;
  const auto port = lbd.endpoint("web").port;
  const auto res = run_command(fmt::format(
      "curl -sS --max-time 5 --http1.1 --resolve a.example.com:{0}:127.0.0.1 --cacert {1} "
      "-w ' %{{http_version}} %{{ssl_verify_result}}' https://a.example.com:{0}/curl 2>&1",
      port, f.pki.ca_file()));
  CHECK(res.exit_code == 0);
  CHECK(res.output == "o /curl 1.1 0");
}

TEST_CASE("tls: mTLS accepts the right client, passes its subject and refuses the others") {
  TlsLbd f([](const TestPki& pki) {
    return fmt::format(
        "client_ca = \"{}\"\nverify_client = \"required\"\nclient_subject_header = "
        "\"X-SSL-Subject\"\n",
        pki.ca_file());
  });
  auto& lbd = f.lbd;
  auto& origin = f.origin;
  TestPki other("another CA");
  const auto good = f.pki.issue("client", "alice", {}, KeyType::ec_p256, true);
  const auto stranger = other.issue("client", "mallory", {}, KeyType::ec_p256, true);
  const auto ep = lbd.endpoint("web");
  const std::string forged = "GET /f HTTP/1.1\r\nHost: a\r\nX-SSL-Subject: CN=admin\r\n\r\n";

  auto r = tls_exchange(ep, {.sni = "a.example.com", .cert_file = good.cert, .key_file = good.key},
                        {forged});
  REQUIRE_MESSAGE(r.handshake_ok, r.error);
  REQUIRE(r.responses.size() == 1);
  CHECK(r.responses[0].starts_with("HTTP/1.1 200"));
  REQUIRE(origin.count() == 1);
  CHECK(header(origin.seen().at(0).base(), "X-SSL-Subject") == "CN=alice,O=lbpair tests");

  // No certificate: in TLS 1.3 the client learns it from the alert after its Finished, so the
  // refusal shows as a failed request rather than a failed handshake.
  for (const auto& files : {PemFiles{}, stranger}) {
    r = tls_exchange(ep, {.sni = "a.example.com", .cert_file = files.cert, .key_file = files.key},
                     {forged});
    CHECK((!r.handshake_ok || r.responses.empty() || r.responses[0].empty()));
  }
  CHECK(origin.count() == 1);
  REQUIRE(wait_until(
      [&] {
        const auto e = lbd.server().tls_handshake_errors("web");
        return e.contains("peer did not return a certificate") &&
               e.contains("certificate verify failed");
      },
      std::chrono::seconds(2)));
}

TEST_CASE("tls: mTLS optional lets a client without a certificate in, without the header") {
  TlsLbd f([](const TestPki& pki) {
    return fmt::format("client_ca = \"{}\"\nverify_client = \"optional\"\n", pki.ca_file());
  });
  auto& lbd = f.lbd;
  auto& origin = f.origin;
  auto r = tls_exchange(lbd.endpoint("web"), {.sni = "a.example.com"},
                        {"GET / HTTP/1.1\r\nHost: a\r\nX-Client-Subject: CN=admin\r\n\r\n"});
  REQUIRE(r.handshake_ok);
  REQUIRE(r.responses.size() == 1);
  CHECK(r.responses[0].starts_with("HTTP/1.1 200"));
  REQUIRE(origin.count() == 1);
  CHECK(header(origin.seen().at(0).base(), "X-Client-Subject") == "<none>");
}

TEST_CASE("tls: a session from one lbd resumes on another that shares the ticket-key file") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  const std::string k1 = std::string(107, 'Q') + "=";
  const std::string k2 = std::string(107, 'w') + "=";
  write_file(pki.path("keys-1"), k1 + "\n" + k2 + "\n");
  write_file(pki.path("keys-other"), k2 + "\n");
  Origin origin("o");
  TestBackend backend(origin.handler());
  auto section = [&](const std::string& file, const std::string& version) {
    return tls_section({a}, fmt::format("ticket_key_file = \"{}\"\nmin_version = \"{}\"\n",
                                        pki.path(file), version));
  };
  for (const std::string version : {"1.2", "1.3"}) {
    CAPTURE(version);
    const int max = version == "1.2" ? TLS1_2_VERSION : TLS1_3_VERSION;
    InProcessLbd node_a(tls_config(backend.address(), section("keys-1", version)));
    InProcessLbd node_b(tls_config(backend.address(), section("keys-1", version)));
    InProcessLbd stranger(tls_config(backend.address(), section("keys-other", version)));
    auto first = tls_exchange(node_a.endpoint("web"), {.sni = "a.example.com", .max_version = max},
                              {get_close("/")});
    REQUIRE(first.handshake_ok);
    REQUIRE(first.session);
    CHECK_FALSE(first.resumed);
    auto again = tls_exchange(
        node_b.endpoint("web"),
        {.sni = "a.example.com", .max_version = max, .session = first.session}, {get_close("/")});
    REQUIRE(again.handshake_ok);
    CHECK(again.resumed);
    REQUIRE(again.responses.size() == 1);
    CHECK(again.responses[0].starts_with("HTTP/1.1 200"));
    // A node whose file lacks the key that sealed the ticket (the first) makes a full handshake.
    auto refused =
        tls_exchange(stranger.endpoint("web"),
                     {.sni = "a.example.com", .max_version = max, .session = first.session});
    REQUIRE(refused.handshake_ok);
    CHECK_FALSE(refused.resumed);
  }
}

TEST_CASE("tls: openssl s_client resumes on a second lbd process with the same ticket keys") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});
  write_file(pki.path("keys"), std::string(107, 'k') + "=\n");
  Origin origin("o");
  TestBackend backend(origin.handler());
  std::vector<std::string> addresses;
  std::vector<std::unique_ptr<TempConfig>> configs;  // TempConfig must not move
  std::vector<ChildProcess> nodes;
  for (int i = 0; i < 2; ++i) {
    addresses.push_back(dead_address());
    HttpConfig cfg{.pools = {{"app", {backend.address()}}}, .bind = addresses.back()};
    cfg.routes = tls_section({a}, fmt::format("ticket_key_file = \"{}\"\n", pki.path("keys")));
    configs.push_back(std::make_unique<TempConfig>(cfg.text()));
    nodes.emplace_back(std::vector<std::string>{lbd_binary(), "-c", configs.back()->path()},
                       pki.path(fmt::format("lbd-{}.log", i)));
  }
  for (const auto& address : addresses) {
    REQUIRE(wait_until(
        [&] {
          const int fd = connect_to(*lb::config::parse_endpoint(address));
          if (fd >= 0) ::close(fd);
          return fd >= 0;
        },
        std::chrono::seconds(10)));
  }
  const auto s_client = [&](const std::string& address, const std::string& sess) {
    return run_command(fmt::format(
        "printf 'GET /s HTTP/1.1\\r\\nHost: a\\r\\nConnection: close\\r\\n\\r\\n' | timeout 5 "
        "openssl s_client -connect {} -servername a.example.com -CAfile {} -verify_return_error "
        "-ign_eof {} 2>&1",
        address, pki.ca_file(), sess));
  };
  const auto first = s_client(addresses[0], "-sess_out " + pki.path("sess.pem"));
  CHECK(first.output.find("\nNew, TLSv1.3") != std::string::npos);
  CHECK(first.output.find("o /s") != std::string::npos);
  const auto second = s_client(addresses[1], "-sess_in " + pki.path("sess.pem"));
  CHECK(second.output.find("\nReused, TLSv1.3") != std::string::npos);
  CHECK(second.output.find("o /s") != std::string::npos);
}

TEST_CASE(
    "tls: certificates reload when their files change, under traffic, and a broken one is kept "
    "out") {
  TestPki pki;
  const auto one = pki.issue("one", "one", {"a.example.com"});
  const auto two = pki.issue("two", "two", {"a.example.com"});
  // The config names files behind a directory symlink, swapped atomically like a deploy does.
  for (const auto& [dir, files] : {std::pair{"v1", one}, std::pair{"v2", two}}) {
    std::filesystem::create_directory(pki.path(dir));
    std::filesystem::copy_file(files.cert, pki.path(fmt::format("{}/cert.pem", dir)));
    std::filesystem::copy_file(files.key, pki.path(fmt::format("{}/key.pem", dir)));
  }
  std::filesystem::create_directory_symlink(pki.path("v1"), pki.path("current"));
  Origin origin("o");
  TestBackend backend(origin.handler());
  HttpConfig cfg{.pools = {{"app", {backend.address()}}}};
  cfg.routes = tls_section({{pki.path("current/cert.pem"), pki.path("current/key.pem")}});
  const std::string text = cfg.text();
  InProcessLbd lbd("[global]\ntls_watch_interval = \"20ms\"\n" + text.substr(text.find("workers")));
  const auto ep = lbd.endpoint("web");
  auto served_cn = [&] { return tls_exchange(ep, {.sni = "a.example.com"}).peer_cn; };
  REQUIRE(served_cn() == "one");

  // Traffic on new connections all through the swaps: every one must succeed.
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread traffic([&] {
    while (!stop && ok + failed < 2000) {
      auto r = tls_exchange(ep, {.sni = "a.example.com"}, {get_close("/t")});
      (r.responses.size() == 1 && r.responses[0].ends_with("o /t") ? ok : failed)++;
    }
  });
  // And one keep-alive connection that spans the swap: its handshake (with "one") is done before
  // the swap starts, its second request goes once new connections get "two".
  std::atomic<bool> handshake_done{false};
  auto long_lived = std::async(std::launch::async, [&] {
    return tls_exchange(ep,
                        {.sni = "a.example.com",
                         .before_request =
                             [&](std::size_t i) {
                               if (i == 0) handshake_done = true;
                               if (i == 1) wait_until([&] { return served_cn() == "two"; }, 3000ms);
                             }},
                        {get_close("/1"), get_close("/2")});
  });
  REQUIRE(wait_until([&] { return handshake_done.load(); }, 3000ms));
  std::filesystem::create_directory_symlink(pki.path("v2"), pki.path("next"));
  std::filesystem::rename(pki.path("next"), pki.path("current"));
  CHECK(wait_until([&] { return served_cn() == "two"; }, 3000ms));
  const auto kept = long_lived.get();
  REQUIRE(kept.responses.size() == 2);
  CHECK(kept.peer_cn == "one");
  CHECK(kept.responses[1].ends_with("o /2"));

  // A broken certificate: the reload fails, the running one stays.
  const auto failed_before = lbd.server().reloads_failed();
  write_file(pki.path("v2/cert.pem"), "-----BEGIN CERTIFICATE-----\nbroken\n");
  CHECK(wait_until([&] { return lbd.server().reloads_failed() > failed_before; }, 3000ms));
  CHECK(served_cn() == "two");
  wait_until([&] { return ok > 20; }, 3000ms);
  stop = true;
  traffic.join();
  CHECK(failed == 0);
  CHECK(ok > 0);
}

namespace {

std::string passthrough_config(const std::vector<std::pair<std::string, std::string>>& pools,
                               const std::string& routes) {
  std::string s =
      "[global]\nworkers = 1\nlog_level = \"warn\"\n[timeouts]\nrequest_header = "
      "\"500ms\"\n[[listener]]\nname = \"tls\"\nbind = \"127.0.0.1:0\"\nmode = "
      "\"tcp\"\npool = \"" +
      pools.at(0).first + "\"\n" + routes + "\n";
  for (const auto& [name, address] : pools) {
    s += fmt::format(
        "[[pool]]\nname = \"{0}\"\n[[pool.server]]\nname = \"{0}1\"\naddress = "
        "\"{1}\"\n",
        name, address);
  }
  return s;
}

}  // namespace

TEST_CASE("tls pass-through: the ClientHello's server name picks the pool, bytes untouched") {
  TestBackend fallback(TestBackend::hello("default"));
  TestBackend a(TestBackend::hello("a"));
  TestBackend wild(TestBackend::hello("wild"));
  TestBackend echo(TestBackend::echo());
  InProcessLbd lbd(passthrough_config(
      {{"fallback", fallback.address()},
       {"a", a.address()},
       {"wild", wild.address()},
       {"echo", echo.address()}},
      "[[listener.sni_route]]\nserver_name = \"a.example.com\"\npool = \"a\"\n"
      "[[listener.sni_route]]\nserver_name = [\"*.example.org\"]\npool = \"wild\"\n"
      "[[listener.sni_route]]\nserver_name = \"echo.test\"\npool = \"echo\"\n"));
  const auto ep = lbd.endpoint("tls");
  auto first_line = [&](const std::string& bytes) {
    const int fd = connect_to(ep);
    REQUIRE(fd >= 0);
    // Sent in two pieces: the peek must wait for the rest of the hello.
    send_all(fd, bytes.substr(0, bytes.size() / 2));
    std::this_thread::sleep_for(5ms);
    send_all(fd, bytes.substr(bytes.size() / 2));
    auto line = read_line(fd);
    ::close(fd);
    return line;
  };
  CHECK(first_line(raw_client_hello("a.example.com")) == "a");
  CHECK(first_line(raw_client_hello("A.EXAMPLE.COM")) == "a");
  CHECK(first_line(raw_client_hello("x.example.org")) == "wild");
  CHECK(first_line(raw_client_hello("unknown.test")) == "default");
  CHECK(first_line(raw_client_hello(nullptr)) == "default");
  CHECK(first_line("not TLS at all\n") == "default");

  const auto hello = raw_client_hello("echo.test");
  const int fd = connect_to(ep);
  REQUIRE(fd >= 0);
  REQUIRE(send_all(fd, hello + "and more"));
  CHECK(read_exact(fd, hello.size() + 8) == hello + "and more");
  ::close(fd);

  // A client that sends nothing is closed after timeouts.request_header, no backend touched.
  const int silent = connect_to(ep);
  REQUIRE(silent >= 0);
  CHECK(closed_by_peer(silent, 3000ms));
  ::close(silent);
  CHECK(fallback.connections() == 3);
}

TEST_CASE("tls pass-through: curl reaches a TLS-terminating lbd through an SNI-routing lbd") {
  TlsLbd f;
  auto& terminator = f.lbd;
  TestBackend other(TestBackend::hello("other"));
  InProcessLbd router(passthrough_config(
      {{"other", other.address()}, {"inner", terminator.endpoint("web").to_string()}},
      "[[listener.sni_route]]\nserver_name = \"a.example.com\"\npool = \"inner\"\n"));
  const auto port = router.endpoint("tls").port;
  const auto res = run_command(
      fmt::format("curl -sS --max-time 5 --resolve a.example.com:{0}:127.0.0.1 --cacert {1} "
                  "https://a.example.com:{0}/through 2>&1",
                  port, f.pki.ca_file()));
  CHECK(res.exit_code == 0);
  CHECK(res.output == "o /through");
  CHECK(other.connections() == 0);
}

TEST_CASE("tls: an OCSP response from ocsp_file is stapled for clients that ask") {
  TestPki pki;
  const auto a = pki.issue("a", "a.example.com", {"a.example.com"});  // serial 2
  const auto b = pki.issue("b", "b.example.com", {"b.example.com"});
  write_file(pki.path("index.txt"),
             "V\t301231000000Z\t\t02\tunknown\t/O=lbpair tests/CN=a.example.com\n");
  const auto made = run_command(fmt::format(
      "cd {0} && openssl ocsp -issuer ca.pem -cert a.pem -no_nonce -reqout req.der && "
      "openssl ocsp -index index.txt -CA ca.pem -rsigner ca.pem -rkey ca.key -reqin req.der "
      "-respout a.ocsp -ndays 1 2>&1",
      pki.path("")));
  REQUIRE_MESSAGE(made.exit_code == 0, made.output);
  Origin origin("o");
  TestBackend backend(origin.handler());
  std::string section = tls_section({a, b});
  // a gets its response; b names a file that does not exist (yet): no stapling, no error.
  section.insert(section.find(a.key) + a.key.size() + 2,
                 fmt::format("ocsp_file = \"{}\"\n", pki.path("a.ocsp")));
  section += fmt::format("ocsp_file = \"{}\"\n", pki.path("b.ocsp"));
  InProcessLbd lbd(tls_config(backend.address(), section));
  const auto port = lbd.endpoint("web").port;
  const auto s_client = [&](const std::string& name) {
    return run_command(fmt::format("timeout 5 openssl s_client -connect 127.0.0.1:{} -servername "
                                   "{} -status </dev/null 2>&1",
                                   port, name))
        .output;
  };
  const auto stapled = s_client("a.example.com");
  CHECK(stapled.find("OCSP Response Status: successful") != std::string::npos);
  CHECK(stapled.find("Cert Status: good") != std::string::npos);
  CHECK(s_client("b.example.com").find("OCSP response: no response sent") != std::string::npos);
}
