#include "lbd/replication/log_text.hpp"

#include <doctest/doctest.h>

#include <string>

TEST_CASE("repl log text: peer strings are escaped and cut short") {
  using lbd::repl::escape_for_log;
  CHECK(escape_for_log("node-b") == "node-b");
  CHECK(escape_for_log("a\nb\r\x1b[31m") == "a\\x0ab\\x0d\\x1b[31m");
  CHECK(escape_for_log("q\"uo\\te") == "q\\\"uo\\\\te");
  CHECK(escape_for_log(std::string("\xff\x00", 2)) == "\\xff\\x00");
  const std::string longer(100, 'x');
  CHECK(escape_for_log(longer) == std::string(lbd::repl::kMaxLoggedText, 'x') + "...");
}
