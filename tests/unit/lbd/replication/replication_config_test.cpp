#include "lbd/replication/replication_config.hpp"

#include <doctest/doctest.h>

#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <string>

#include "common/config/reader.hpp"

using lb::config::Diagnostics;
using namespace std::chrono_literals;

namespace {

struct Read {
  std::optional<lbd::ReplicationConfig> config;
  std::string errors;
};

Read read(const std::string& text) {
  Diagnostics diags;
  auto doc = lb::config::Document::parse_string(text, "lbd.toml", diags);
  REQUIRE(diags.empty());
  auto root = doc.root();
  Read r{lbd::read_replication(root), ""};
  root.reject_unknown_keys();
  r.errors = diags.to_string();
  return r;
}

const std::string kSecret = "0123456789abcdef0123456789abcdef";
const std::string kMinimal =
    "[replication]\nnode_id = \"a\"\nlisten = \"127.0.0.1:7400\"\n"
    "peer = \"127.0.0.2:7400\"\nsecret = \"" +
    kSecret + "\"\n";

}  // namespace

TEST_CASE("replication config: no [replication] table means no replication") {
  auto r = read("# a single node\n");
  CHECK(r.errors.empty());
  CHECK_FALSE(r.config.has_value());
}

TEST_CASE("replication config: the minimal table takes every default") {
  auto r = read(kMinimal);
  INFO(r.errors);
  REQUIRE(r.errors.empty());
  REQUIRE(r.config.has_value());
  const auto& c = *r.config;
  CHECK(c.node_id == "a");
  CHECK(c.peer_id.empty());
  CHECK(c.listen.to_string() == "127.0.0.1:7400");
  CHECK(c.peer.to_string() == "127.0.0.2:7400");
  CHECK(c.secret == kSecret);
  CHECK(c.heartbeat_interval == 1s);
  CHECK(c.dead_peer_timeout == 5s);
  CHECK(c.handshake_timeout == 5s);
  CHECK(c.reconnect_interval == 500ms);
  CHECK(c.reconnect_max_interval == 10s);
  CHECK(c.flush_interval == 1ms);
  CHECK(c.batch_max == 1024);
  CHECK(c.journal_capacity == 65536);
  CHECK(c.refresh_journal_interval == 10s);
}

TEST_CASE("replication config: every key is read") {
  auto r = read(kMinimal + R"(peer_id = "b"
heartbeat_interval = "200ms"
dead_peer_timeout = "2s"
handshake_timeout = "3s"
reconnect_interval = "100ms"
reconnect_max_interval = "5s"
flush_interval = "2ms"
batch_max = 256
journal_capacity = 4096
refresh_journal_interval = "30s"
)");
  INFO(r.errors);
  REQUIRE(r.errors.empty());
  const auto& c = *r.config;
  CHECK(c.peer_id == "b");
  CHECK(c.heartbeat_interval == 200ms);
  CHECK(c.dead_peer_timeout == 2s);
  CHECK(c.handshake_timeout == 3s);
  CHECK(c.reconnect_interval == 100ms);
  CHECK(c.reconnect_max_interval == 5s);
  CHECK(c.flush_interval == 2ms);
  CHECK(c.batch_max == 256);
  CHECK(c.journal_capacity == 4096);
  CHECK(c.refresh_journal_interval == 30s);
  CHECK(c.version_tag() == 1);
}

TEST_CASE("replication config: a short secret is refused without echoing it") {
  auto r = read(
      "[replication]\nnode_id = \"a\"\nlisten = \"127.0.0.1:7400\"\npeer = \"127.0.0.2:7400\"\n"
      "secret = \"tooshort-s3cr3t\"\n");
  CHECK(r.errors.find("lbd.toml:5:") != std::string::npos);
  CHECK(r.errors.find("replication.secret: the secret must be at least 32 bytes") !=
        std::string::npos);
  CHECK(r.errors.find("s3cr3t") == std::string::npos);
}

TEST_CASE("replication config: a missing secret, or both secret and secret_file, are errors") {
  auto none = read(
      "[replication]\nnode_id = \"a\"\nlisten = \"127.0.0.1:7400\"\npeer = \"127.0.0.2:7400\"\n");
  CHECK(none.errors.find("needs secret or secret_file") != std::string::npos);
  auto both = read(kMinimal + "secret_file = \"/nonexistent\"\n");
  CHECK(both.errors.find("replication.secret_file: set secret or secret_file, not both") !=
        std::string::npos);
}

TEST_CASE("replication config: secret_file is read and its trailing newline dropped") {
  char path[] = "/tmp/lbpair-repl-secret-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  {
    std::ofstream out(path);
    out << kSecret << "\n";
  }
  auto r = read(
      "[replication]\nnode_id = \"a\"\nlisten = \"127.0.0.1:7400\"\n"
      "peer = \"127.0.0.2:7400\"\nsecret_file = \"" +
      std::string(path) + "\"\n");
  std::remove(path);
  INFO(r.errors);
  REQUIRE(r.errors.empty());
  CHECK(r.config->secret == kSecret);

  auto missing = read(
      "[replication]\nnode_id = \"a\"\nlisten = \"127.0.0.1:7400\"\n"
      "peer = \"127.0.0.2:7400\"\nsecret_file = \"/nonexistent/secret\"\n");
  CHECK(missing.errors.find("replication.secret_file: cannot read \"/nonexistent/secret\"") !=
        std::string::npos);
}

TEST_CASE("replication config: node_id, listen and peer are required") {
  auto r = read("[replication]\nsecret = \"" + kSecret + "\"\n");
  CHECK(r.errors.find("replication.node_id") != std::string::npos);
  CHECK(r.errors.find("replication.listen") != std::string::npos);
  CHECK(r.errors.find("replication.peer") != std::string::npos);
}

TEST_CASE("replication config: bad ids, same endpoints and inconsistent timers are errors") {
  auto r = read(
      "[replication]\nnode_id = \"node a\"\npeer_id = \"node a\"\n"
      "listen = \"127.0.0.1:7400\"\npeer = \"127.0.0.1:7400\"\nsecret = \"" +
      kSecret + "\"\nheartbeat_interval = \"2s\"\ndead_peer_timeout = \"3s\"\n" +
      "reconnect_interval = \"5s\"\nreconnect_max_interval = \"1s\"\n");
  CHECK(r.errors.find("replication.node_id: must be 1..64 printable ASCII") != std::string::npos);
  CHECK(r.errors.find("replication.peer: must differ from listen") != std::string::npos);
  CHECK(r.errors.find("replication.dead_peer_timeout: must be at least twice") !=
        std::string::npos);
  CHECK(r.errors.find("replication.reconnect_max_interval: must be at least") != std::string::npos);
}

TEST_CASE("replication config: out-of-range values and unknown keys are reported with positions") {
  auto r = read(kMinimal + "batch_max = 0\njournal_capacity = 10\nflush_interval = \"5s\"\n" +
                "peer_adress = \"127.0.0.3:1\"\n");
  CHECK(r.errors.find("lbd.toml:6:") != std::string::npos);
  CHECK(r.errors.find("replication.batch_max") != std::string::npos);
  CHECK(r.errors.find("replication.journal_capacity") != std::string::npos);
  CHECK(r.errors.find("replication.flush_interval") != std::string::npos);
  CHECK(r.errors.find("replication.peer_adress") != std::string::npos);
}

TEST_CASE("replication config: version tags differ between the two nodes of a pair") {
  lbd::ReplicationConfig a, b;
  a.node_id = b.peer_id = "lb-a";
  b.node_id = a.peer_id = "lb-b";
  CHECK(a.version_tag() != b.version_tag());
  a.peer_id.clear();
  CHECK(a.version_tag() == a.version_tag());
}
