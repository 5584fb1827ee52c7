#include "lbd/sticky/cookie_header.hpp"

#include <doctest/doctest.h>

TEST_CASE("cookie_header: the default Set-Cookie is a session cookie, HttpOnly, SameSite=Lax") {
  lbd::CookieInsertOptions o;
  CHECK(lbd::set_cookie_header(o, "abc") == "LBSRV=abc; Path=/; HttpOnly; SameSite=Lax");
}

TEST_CASE("cookie_header: every configured attribute appears in Set-Cookie") {
  lbd::CookieInsertOptions o;
  o.name = "SRV";
  o.path = "/app";
  o.max_age = std::chrono::seconds(3600);
  o.domain = "example.com";
  o.secure = true;
  o.http_only = false;
  o.same_site = lbd::SameSite::none;
  CHECK(lbd::set_cookie_header(o, "v") ==
        "SRV=v; Path=/app; Max-Age=3600; Domain=example.com; Secure; SameSite=None");
  o.same_site = lbd::SameSite::unset;
  o.secure = false;
  o.domain.clear();
  o.max_age = std::chrono::seconds(0);
  CHECK(lbd::set_cookie_header(o, "v") == "SRV=v; Path=/app");
}

TEST_CASE("cookie_header: remove_cookie strips our cookie and keeps the others in order") {
  CHECK(lbd::remove_cookie("a=1; LBSRV=xyz; b=2", "LBSRV") == "a=1; b=2");
  CHECK(lbd::remove_cookie("LBSRV=xyz", "LBSRV") == "");
  CHECK(lbd::remove_cookie("LBSRV=1;LBSRV=2; c=3", "LBSRV") == "c=3");
  CHECK(lbd::remove_cookie("a=1;  b=2 ;", "LBSRV") == "a=1; b=2");
  CHECK(lbd::remove_cookie("XLBSRV=1; LBSRVX=2", "LBSRV") == "XLBSRV=1; LBSRVX=2");
  CHECK(lbd::remove_cookie("", "LBSRV") == "");
}
