// gRPC over lbd's HTTP/2 streams: recognising a gRPC request, and the status lbd answers with
// when it cannot reach the server (a trailers-only response, as the gRPC HTTP/2 protocol asks:
// a gRPC client reads grpc-status, not :status). Pure.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lbd/upstream_conn/h2_client_session.hpp"

namespace lbd::h2 {

/// gRPC status codes lbd produces (grpc/doc/statuscodes.md).
enum class GrpcCode : unsigned {
  cancelled = 1,
  unknown = 2,
  deadline_exceeded = 4,
  permission_denied = 7,
  resource_exhausted = 8,
  internal = 13,
  unavailable = 14,
};

/// True when the request's content-type is application/grpc (or application/grpc+proto, ...).
bool is_grpc(std::span<const proxy::H2Field> request_fields);

/// The gRPC status a client derives from an RST_STREAM code (gRPC's "HTTP2 transport mapping").
GrpcCode grpc_code_for_reset(std::uint32_t h2_error_code);

/// The gRPC status that stands for an HTTP error status lbd would have answered (502, 503, 504:
/// UNAVAILABLE; 408 and 504 after the request went out: DEADLINE_EXCEEDED is not used, the
/// client's own deadline decides that).
GrpcCode grpc_code_for_http(unsigned status);

/// grpc-message is percent-encoded (RFC 3986 unreserved-ish: printable ASCII except '%' stay).
std::string grpc_percent_encode(std::string_view message);

/// The fields of a trailers-only response (sent with :status 200 and END_STREAM).
std::vector<proxy::H2Field> grpc_trailers_only(GrpcCode code, std::string_view message);

}  // namespace lbd::h2
