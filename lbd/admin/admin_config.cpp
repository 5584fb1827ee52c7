#include "lbd/admin/admin_config.hpp"

#include <crypt.h>

#include <fstream>

#include <fmt/format.h>

#include "common/config/reader.hpp"
#include "lbd/telemetry/access_log_format.hpp"

namespace lbd {
namespace {

// A hash crypt(3) can verify: "$id$..." of a scheme this libcrypt knows. Checked by hashing a
// dummy password with the hash as its setting: an unusable setting yields "*" or NULL.
bool usable_hash(const std::string& hash) {
  if (hash.size() < 4 || hash[0] != '$') return false;
  crypt_data data{};
  const char* out = crypt_r("x", hash.c_str(), &data);
  return out != nullptr && out[0] != '*';
}

}  // namespace

std::optional<AdminConfig> read_admin(lb::config::TableReader& root) {
  auto t = root.table("admin");
  if (!t) return std::nullopt;
  AdminConfig c;
  if (auto e = t->endpoint("listen")) {
    c.listen = *e;
  } else if (!t->has("listen")) {
    c.listen = *lb::Endpoint::parse("127.0.0.1:9100");
  }
  if (t->has("allow")) {
    const auto* node = t->raw("allow");
    const auto* arr = node->as_array();
    if (!arr) {
      t->error("allow", "expected an array of CIDR strings");
    } else {
      for (const auto& item : *arr) {
        const auto* s = item.as_string();
        auto cidr = s ? lb::Cidr::parse(s->get()) : std::nullopt;
        if (!cidr) {
          t->diagnostics().add(t->position_of(item), t->key_path() + ".allow",
                               "expected a CIDR such as \"127.0.0.0/8\" or \"::1\"");
          continue;
        }
        c.allow.push_back(*cidr);
      }
    }
  } else {
    c.allow = {*lb::Cidr::parse("127.0.0.0/8"), *lb::Cidr::parse("::1/128")};
  }
  const auto user = t->string("auth_user", "");
  const auto hash = t->string("auth_password_hash", "");
  const auto file = t->string("auth_file", "");
  if (!user.empty() || !hash.empty()) {
    if (user.empty() || hash.empty()) {
      t->error(user.empty() ? "auth_password_hash" : "auth_user",
               "auth_user and auth_password_hash go together");
    } else if (user.find(':') != std::string::npos) {
      t->error("auth_user", "a user name cannot contain ':'");
    } else if (!usable_hash(hash)) {
      t->error("auth_password_hash",
               "not a crypt(3) hash this system can verify (make one with `openssl passwd -6`)");
    } else {
      c.users.emplace_back(user, hash);
    }
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      t->error("auth_file", fmt::format("cannot read {}", file));
    } else {
      std::string line;
      int n = 0;
      while (std::getline(in, line)) {
        ++n;
        if (line.empty() || line[0] == '#') continue;
        const auto colon = line.find(':');
        if (colon == 0 || colon == std::string::npos || !usable_hash(line.substr(colon + 1))) {
          t->error("auth_file", fmt::format("{} line {}: expected user:crypt-hash", file, n));
          continue;
        }
        c.users.emplace_back(line.substr(0, colon), line.substr(colon + 1));
      }
      if (n == 0) t->error("auth_file", fmt::format("{} has no users", file));
    }
  }
  c.max_connections = static_cast<std::uint32_t>(t->integer("max_connections", 64, 1, 10000));
  c.request_timeout = t->duration("request_timeout", std::chrono::seconds(5),
                                  std::chrono::milliseconds(10), std::chrono::minutes(10));
  c.max_request_size = t->size("max_request_size", 8 * 1024, 512, 1024 * 1024);
  t->reject_unknown_keys();
  return c;
}

AccessLogConfig read_access_log(lb::config::TableReader& root) {
  AccessLogConfig c;
  auto t = root.table("access_log");
  if (!t) return c;
  c.path = t->string("path", "");
  c.format = t->string("format", "json");
  if (auto f = admin::AccessLogFormat::compile(c.format); !f) t->error("format", f.error());
  c.queue_lines = static_cast<std::uint32_t>(t->integer("queue_lines", 8192, 1, 1'000'000));
  t->reject_unknown_keys();
  return c;
}

}  // namespace lbd
