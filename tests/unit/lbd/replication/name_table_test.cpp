#include "lbd/replication/name_table.hpp"

#include <doctest/doctest.h>

#include <string>
#include <thread>
#include <vector>

TEST_CASE("name_table: a name gets one id, and the id gives the name back") {
  lbd::repl::NameTable t;
  const auto web = t.intern("web");
  const auto app = t.intern("app");
  CHECK(web != app);
  CHECK(t.intern("web") == web);
  CHECK(t.intern(std::string("app")) == app);
  CHECK(t.name(web) == "web");
  CHECK(t.name(app) == "app");
  CHECK(t.size() == 2);
  // Views stay valid while more names come (the storage does not move).
  const auto first = t.name(web);
  for (int i = 0; i < 1000; ++i) t.intern("backend-" + std::to_string(i));
  CHECK(first.data() == t.name(web).data());
  CHECK(t.size() == 1002);
}

TEST_CASE("name_table: concurrent interning gives every name exactly one id") {
  lbd::repl::NameTable t;
  std::vector<std::thread> threads;
  std::vector<std::vector<lbd::repl::NameTable::Id>> seen(4);
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < 200; ++i) seen[th].push_back(t.intern("n" + std::to_string(i)));
    });
  }
  for (auto& th : threads) th.join();
  CHECK(t.size() == 200);
  for (int th = 1; th < 4; ++th) CHECK(seen[th] == seen[0]);
  for (int i = 0; i < 200; ++i) CHECK(t.name(seen[0][i]) == "n" + std::to_string(i));
}
