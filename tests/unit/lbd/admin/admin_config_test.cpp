// [admin] and [access_log] in lbd.toml: defaults, values and errors with their position.
#include "lbd/admin/admin_config.hpp"

#include <crypt.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include <doctest/doctest.h>

#include "lbd/config.hpp"

namespace {

constexpr std::string_view kBase =
    "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nmode = \"http\"\npool = \"p\"\n"
    "[[pool]]\nname = \"p\"\n[[pool.server]]\nname = \"a\"\naddress = \"127.0.0.1:1\"\n";

lbd::Config load(std::string_view extra, lb::config::Diagnostics& d) {
  return lbd::load_config_from_string(std::string(kBase) + std::string(extra), "t.toml", d);
}

std::string sha512_crypt(const char* password) {
  crypt_data data{};
  return crypt_r(password, "$6$saltsalt$", &data);
}

}  // namespace

TEST_CASE("admin config: absent [admin] means no listener and the access log is off") {
  lb::config::Diagnostics d;
  const auto c = load("", d);
  REQUIRE(d.empty());
  CHECK_FALSE(c.admin);
  CHECK_FALSE(c.access_log.enabled());
  CHECK(c.access_log.format == "json");
  CHECK(c.access_log.queue_lines == 8192);
}

TEST_CASE("admin config: an empty [admin] listens on 127.0.0.1:9100 for loopback clients only") {
  lb::config::Diagnostics d;
  const auto c = load("[admin]\n", d);
  REQUIRE(d.empty());
  REQUIRE(c.admin);
  CHECK(c.admin->listen.to_string() == "127.0.0.1:9100");
  REQUIRE(c.admin->allow.size() == 2);
  CHECK(c.admin->allow[0].to_string() == "127.0.0.0/8");
  CHECK(c.admin->users.empty());
  CHECK(c.admin->max_connections == 64);
  CHECK(c.admin->request_timeout == std::chrono::seconds(5));
  CHECK(c.admin->max_request_size == 8192);
}

TEST_CASE("admin config: every key is read and a crypt hash is accepted") {
  lb::config::Diagnostics d;
  const auto hash = sha512_crypt("s3cret");
  const auto c = load(
      "[admin]\nlisten = \"[::1]:9200\"\nallow = [\"10.0.0.0/8\", \"2001:db8::/32\"]\n"
      "auth_user = \"ops\"\nauth_password_hash = \"" +
          hash +
          "\"\nmax_connections = 8\n"
          "request_timeout = \"1s\"\nmax_request_size = \"4KiB\"\n"
          "[access_log]\npath = \"-\"\nformat = \"{client} {status}\"\nqueue_lines = 100\n",
      d);
  REQUIRE_MESSAGE(d.empty(), d.to_string());
  CHECK(c.admin->listen.to_string() == "[::1]:9200");
  CHECK(c.admin->allow.size() == 2);
  REQUIRE(c.admin->users.size() == 1);
  CHECK(c.admin->users[0].first == "ops");
  CHECK(c.admin->max_connections == 8);
  CHECK(c.admin->max_request_size == 4096);
  CHECK(c.access_log.path == "-");
  CHECK(c.access_log.queue_lines == 100);
}

TEST_CASE("admin config: bad values are errors with file, line and key") {
  lb::config::Diagnostics d;
  load(
      "[admin]\nallow = [\"10.0.0.0/8\", \"not-a-cidr\"]\nauth_user = \"ops\"\n"
      "max_connections = 0\nlisen = \"x\"\n[access_log]\nformat = \"{nope}\"\n",
      d);
  const auto text = d.to_string();
  CHECK(text.find("t.toml:12:") != std::string::npos);  // the allow entry
  CHECK(text.find("admin.allow") != std::string::npos);
  CHECK(text.find("auth_user and auth_password_hash go together") != std::string::npos);
  CHECK(text.find("admin.max_connections") != std::string::npos);
  CHECK(text.find("admin.lisen") != std::string::npos);
  CHECK(text.find("unknown field {nope}") != std::string::npos);
}

TEST_CASE("admin config: a password hash crypt cannot verify is refused, not ignored") {
  lb::config::Diagnostics d;
  load("[admin]\nauth_user = \"ops\"\nauth_password_hash = \"plaintext\"\n", d);
  CHECK(d.to_string().find("admin.auth_password_hash") != std::string::npos);
}

TEST_CASE("admin config: auth_file gives users, and a bad line is an error") {
  const std::string path = "/tmp/lbpair-admin-users-" + std::to_string(::getpid());
  {
    std::ofstream out(path);
    out << "# operators\nops:" << sha512_crypt("pw") << "\nbroken line\n";
  }
  lb::config::Diagnostics d;
  const auto c = load("[admin]\nauth_file = \"" + path + "\"\n", d);
  std::remove(path.c_str());
  CHECK(d.to_string().find("line 3: expected user:crypt-hash") != std::string::npos);
  REQUIRE(c.admin);
  CHECK(c.admin->users.size() == 1);
}
