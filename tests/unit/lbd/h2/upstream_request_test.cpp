// The request header an HTTP/2 server gets (pool protocol = "h2"), and the gRPC answers lbd
// gives when it cannot reach the server.
#include "lbd/h2/upstream_request.hpp"

#include <doctest/doctest.h>

#include "lbd/h2/grpc_status.hpp"

using lbd::h2::Header;

TEST_CASE("h2 upstream request: pseudo-header fields first, the rewritten fields, no Host") {
  const std::string head =
      "POST /svc/M HTTP/1.1\r\nHost: a.example\r\nContent-Type: application/grpc\r\n"
      "Transfer-Encoding: chunked\r\nX-Forwarded-For: 192.0.2.1\r\nConnection: close\r\n"
      "Via: 2 lbd\r\n\r\n";
  const auto f = lbd::h2::upstream_h2_request({.method = "POST",
                                               .scheme = "http",
                                               .authority = "a.example",
                                               .path = "/svc/M",
                                               .te_trailers = true},
                                              head);
  REQUIRE(f.size() == 8);
  CHECK(f[0].name == ":method");
  CHECK(f[1].value == "http");
  CHECK(f[2].value == "a.example");
  CHECK(f[3].value == "/svc/M");
  CHECK(f[4].name == "content-type");
  CHECK(f[4].value == "application/grpc");
  CHECK(f[5].name == "x-forwarded-for");
  CHECK(f[6].name == "via");
  CHECK(f[7].name == "te");
  CHECK(f[7].value == "trailers");
}

TEST_CASE("h2 upstream request: te: trailers is recognised among the client's fields") {
  CHECK(lbd::h2::wants_trailers({{"te", "trailers"}}));
  CHECK(lbd::h2::wants_trailers({{"te", "Trailers"}}));
  CHECK_FALSE(lbd::h2::wants_trailers({{"accept", "trailers"}}));
}

TEST_CASE("grpc status: gRPC requests are recognised by content-type") {
  CHECK(lbd::h2::is_grpc(std::vector<Header>{{"content-type", "application/grpc"}}));
  CHECK(lbd::h2::is_grpc(std::vector<Header>{{"content-type", "application/grpc+proto"}}));
  CHECK_FALSE(lbd::h2::is_grpc(std::vector<Header>{{"content-type", "application/grpcx"}}));
  CHECK_FALSE(lbd::h2::is_grpc(std::vector<Header>{{"content-type", "text/html"}}));
}

TEST_CASE("grpc status: trailers-only answers carry the mapped code and an encoded message") {
  using lbd::h2::GrpcCode;
  CHECK(lbd::h2::grpc_code_for_http(502) == GrpcCode::unavailable);
  CHECK(lbd::h2::grpc_code_for_http(503) == GrpcCode::unavailable);
  CHECK(lbd::h2::grpc_code_for_http(504) == GrpcCode::unavailable);
  CHECK(lbd::h2::grpc_code_for_reset(0x7) == GrpcCode::unavailable);
  CHECK(lbd::h2::grpc_code_for_reset(0x8) == GrpcCode::cancelled);
  CHECK(lbd::h2::grpc_code_for_reset(0x2) == GrpcCode::internal);
  const auto f = lbd::h2::grpc_trailers_only(GrpcCode::unavailable, "down 100%\n");
  REQUIRE(f.size() == 3);
  CHECK(f[1].name == "grpc-status");
  CHECK(f[1].value == "14");
  CHECK(f[2].value == "down 100%25%0A");
}
