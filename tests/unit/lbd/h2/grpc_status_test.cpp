// The gRPC answers lbd gives when it cannot reach the server of a pool with protocol = "h2".
#include "lbd/h2/grpc_status.hpp"

#include <doctest/doctest.h>

#include "lbd/h2/server_session.hpp"

using lbd::h2::Header;

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
