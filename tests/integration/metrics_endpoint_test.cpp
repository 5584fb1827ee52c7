// The small /metrics endpoint vrrpd uses (common/metrics/http_endpoint): serves the render
// callback's text on GET /metrics, 404 elsewhere, 405 for other methods.
#include "common/metrics/http_endpoint.hpp"

#include <thread>

#include <doctest/doctest.h>

#include "tests/integration/http_support.hpp"

using namespace lbtest;

TEST_CASE("metrics endpoint: GET /metrics returns the rendered text, other paths 404, POST 405") {
  lb::asio::io_context io;
  int scrapes = 0;
  auto ep = lb::metrics::HttpEndpoint::start(io, *lb::Endpoint::parse("127.0.0.1:0"), [&] {
    ++scrapes;
    return std::string("# HELP x X.\n# TYPE x gauge\nx 1\n");
  });
  REQUIRE(ep);
  const auto where = (*ep)->bound();
  auto guard = lb::asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  const auto ok =
      round_trip(where, "GET /metrics HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n");
  const auto missing = round_trip(where, "GET /x HTTP/1.1\r\nHost: m\r\nConnection: close\r\n\r\n");
  const auto post =
      round_trip(where, "POST /metrics HTTP/1.1\r\nHost: m\r\nContent-Length: 0\r\n\r\n");
  lb::asio::post(io, [&] {
    (*ep)->stop();
    guard.reset();
  });
  runner.join();
  REQUIRE(ok);
  CHECK(ok->result_int() == 200);
  CHECK(ok->body() == "# HELP x X.\n# TYPE x gauge\nx 1\n");
  CHECK(ok->at(boost::beast::http::field::content_type) ==
        "text/plain; version=0.0.4; charset=utf-8");
  CHECK(missing->result_int() == 404);
  CHECK(post->result_int() == 405);
  CHECK(scrapes == 1);
}
