// The control socket's "pool/server" references.
#include "lbd/admin/control_handler.hpp"

#include <doctest/doctest.h>

using lbd::admin::parse_server_ref;

TEST_CASE("control_handler: pool/server splits at the first slash and needs both parts") {
  auto r = parse_server_ref("web/be1");
  REQUIRE(r.has_value());
  CHECK(r->pool == "web");
  CHECK(r->server == "be1");
  CHECK_FALSE(parse_server_ref("web").has_value());
  CHECK_FALSE(parse_server_ref("/be1").has_value());
  CHECK_FALSE(parse_server_ref("web/").has_value());
  CHECK(parse_server_ref("a/b/c")->server == "b/c");
}
