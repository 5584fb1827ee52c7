// Basic authentication on the admin listener under a flood of wrong passwords: each check is a
// crypt(3) run on lbd's control thread, so the flood is throttled (429) and a client already
// logged in keeps getting /metrics without waiting behind the attackers' password checks.
#include <crypt.h>
#include <openssl/evp.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "tests/integration/http_config.hpp"
#include "tests/integration/http_support.hpp"

using namespace lbtest;
using namespace std::chrono_literals;

namespace {

std::string basic_auth_header(std::string_view user_password) {
  std::string out(4 * ((user_password.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(user_password.data()),
                                static_cast<int>(user_password.size()));
  out.resize(static_cast<std::size_t>(n));
  return "Authorization: Basic " + out + "\r\n";
}

std::string metrics_request(std::string_view extra) {
  return fmt::format("GET /metrics HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n{}\r\n", extra);
}

}  // namespace

TEST_CASE(
    "admin: a flood of wrong passwords is throttled and does not hold up a logged-in client") {
  Origin a("a");
  TestBackend ba(a.handler());
  // A deliberately slow hash, as a strong one is: tens of milliseconds per check.
  crypt_data data{};
  const auto t0 = std::chrono::steady_clock::now();
  const std::string hash = crypt_r("correct horse", "$6$rounds=100000$lbpairtest$", &data);
  const auto cost =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  MESSAGE("one password check costs ", cost.count(), " ms here");
  InProcessLbd lbd(HttpConfig{.pools = {{"app", {ba.address()}}}}.text() +
                   "[admin]\nlisten = \"127.0.0.1:0\"\nauth_user = \"ops\"\n"
                   "auth_password_hash = \"" +
                   hash + "\"\n");
  const auto admin = *lbd.server().admin_endpoint();
  const auto good = metrics_request(basic_auth_header("ops:correct horse"));
  const auto first = round_trip(admin, good);
  REQUIRE(first);
  REQUIRE(first->result_int() == 200);

  std::atomic<bool> stop{false};
  std::atomic<int> unauthorized{0}, throttled{0}, other{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 6; ++t) {
    flood.emplace_back([&, t] {
      for (int i = 0; i < 200000 && !stop; ++i) {
        // A new password each time, so that no cache of failures helps.
        const auto r = round_trip(
            admin, metrics_request(basic_auth_header(fmt::format("ops:guess-{}-{}", t, i))));
        if (r && r->result_int() == 401) {
          ++unauthorized;
        } else if (r && r->result_int() == 429) {
          ++throttled;
        } else {
          ++other;
        }
      }
    });
  }
  // The logged-in scraper: 30 requests while the flood runs; its slowest answer is the figure.
  std::this_thread::sleep_for(200ms);  // let the flood reach its steady state
  std::chrono::milliseconds slowest{0};
  int ok = 0;
  for (int i = 0; i < 30; ++i) {
    const auto start = std::chrono::steady_clock::now();
    const auto r = round_trip(admin, good);
    slowest = std::max(slowest, std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - start));
    if (r && r->result_int() == 200) ++ok;
    std::this_thread::sleep_for(50ms);
  }
  stop = true;
  for (auto& t : flood) t.join();
  MESSAGE("flood: ", unauthorized.load(), " answered 401, ", throttled.load(), " 429, ",
          other.load(), " other; slowest /metrics ", slowest.count(), " ms");
  CHECK(ok == 30);
  CHECK(other == 0);
  CHECK(throttled > 0);
  CHECK(lbd.server().admin_view().admin_logins_throttled == static_cast<unsigned>(throttled));
  // The bound: one password check in progress plus scheduling on a shared 2-core machine.
  CHECK(slowest < 2 * cost + 200ms);
}
