#include "common/config/reader.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using lb::config::Diagnostics;
using lb::config::Document;

namespace {
std::string all(const Diagnostics& d) { return d.to_string(); }
}  // namespace

TEST_CASE("reader: typed getters return values and defaults") {
  Diagnostics diags;
  auto doc = Document::parse_string(R"(
name = "x"
count = 7
ratio = 1.25
on = true
timeout = "250ms"
buffer = "64KiB"
peer = "[2001:db8::1]:9000"
list = ["a", "b"]
)",
                                    "t.toml", diags);
  auto root = doc.root();
  CHECK(root.string("name", "") == "x");
  CHECK(root.integer("count", 0, 0, 10) == 7);
  CHECK(root.number("ratio", 0, 0, 10) == doctest::Approx(1.25));
  CHECK(root.boolean("on", false));
  CHECK(root.duration("timeout", 1s) == 250ms);
  CHECK(root.size("buffer", 0) == 65536);
  CHECK(root.endpoint("peer")->port == 9000);
  CHECK(root.string_array("list").size() == 2);
  CHECK(root.string("absent", "dflt") == "dflt");
  CHECK(root.duration("absent_duration", 3s) == 3s);
  root.reject_unknown_keys();
  CHECK(diags.empty());
}

TEST_CASE("reader: a misspelled key is an error with file:line:col, key path and a hint") {
  Diagnostics diags;
  auto doc = Document::parse_string("[server]\nname = \"a\"\ntimout = \"5s\"\n", "lb.toml", diags);
  auto root = doc.root();
  auto server = root.table("server");
  REQUIRE(server.has_value());
  server->string("name", "");
  server->duration("timeout", 1s);
  server->reject_unknown_keys();
  root.reject_unknown_keys();
  REQUIRE(diags.size() == 1);
  CHECK(all(diags) == "lb.toml:3:1: server.timout: unknown key (did you mean \"timeout\"?)\n");
}

TEST_CASE("reader: wrong types, bad values and ranges are all reported, not just the first") {
  Diagnostics diags;
  auto doc = Document::parse_string(R"(a = "seven"
b = 500
c = "5 years"
d = "1.2.3.4"
e = 3
)",
                                    "f.toml", diags);
  auto root = doc.root();
  root.integer("a", 0, 0, 10);
  root.integer("b", 0, 0, 100);
  root.duration("c", 1s);
  root.endpoint("d");
  root.duration("e", 1s);
  root.reject_unknown_keys();
  REQUIRE(diags.size() == 5);
  const auto& items = diags.items();
  CHECK(items[0].to_string() == "f.toml:1:5: a: expected an integer, found a string");
  CHECK(items[1].to_string() == "f.toml:2:5: b: 500 is out of range [0, 100]");
  CHECK(items[2].where.line == 3);
  CHECK(items[2].message.find("unknown duration unit") != std::string::npos);
  CHECK(items[3].where.line == 4);
  CHECK(items[3].key_path == "d");
  CHECK(items[4].message.find("expected a duration") != std::string::npos);
}

TEST_CASE("reader: nested tables and arrays of tables carry their key paths") {
  Diagnostics diags;
  auto doc = Document::parse_string(R"(
[[pool]]
name = "a"
[[pool.server]]
weight = "heavy"
)",
                                    "p.toml", diags);
  auto root = doc.root();
  for (auto& pool : root.tables("pool")) {
    pool.string("name", "");
    for (auto& server : pool.tables("server")) {
      server.required_string("name");
      server.integer("weight", 1, 0, 256);
      server.reject_unknown_keys();
    }
    pool.reject_unknown_keys();
  }
  REQUIRE(diags.size() == 2);
  CHECK(diags.items()[0].key_path == "pool[0].server[0].name");
  CHECK(diags.items()[0].message == "required key is missing");
  CHECK(diags.items()[1].to_string() ==
        "p.toml:5:10: pool[0].server[0].weight: expected an integer, found a string");
}

TEST_CASE("reader: enumeration lists the valid names") {
  Diagnostics diags;
  auto doc = Document::parse_string("mode = \"udp\"\n", "m.toml", diags);
  enum class Mode { tcp, http };
  auto mode = doc.root().enumeration("mode", Mode::tcp, {{"tcp", Mode::tcp}, {"http", Mode::http}});
  CHECK(mode == Mode::tcp);
  REQUIRE(diags.size() == 1);
  CHECK(diags.items()[0].to_string() ==
        "m.toml:1:8: mode: unknown value \"udp\"; expected one of \"tcp\", \"http\"");
}

TEST_CASE("reader: a TOML syntax error is reported with its position") {
  Diagnostics diags;
  auto doc = Document::parse_string("a = 1\nb = = 2\n", "s.toml", diags);
  REQUIRE(diags.size() == 1);
  CHECK(diags.items()[0].where.file == "s.toml");
  CHECK(diags.items()[0].where.line == 2);
  CHECK(diags.items()[0].message.starts_with("TOML syntax error"));
}

TEST_CASE("reader: a missing file is an error naming the file") {
  Diagnostics diags;
  auto doc = Document::parse_file("/nonexistent/lbpair.toml", diags);
  REQUIRE(diags.size() == 1);
  CHECK(diags.items()[0].to_string() == "/nonexistent/lbpair.toml: cannot open file");
}
