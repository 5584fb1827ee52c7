#include "lbd/h2/grpc_status.hpp"

#include <fmt/format.h>

namespace lbd::h2 {

bool is_grpc(std::span<const proxy::H2Field> request_fields) {
  for (const auto& f : request_fields) {
    if (f.name != "content-type") continue;
    const std::string_view v = f.value;
    constexpr std::string_view kGrpc = "application/grpc";
    if (v.size() < kGrpc.size()) return false;
    for (std::size_t i = 0; i < kGrpc.size(); ++i) {
      if (std::tolower(static_cast<unsigned char>(v[i])) != kGrpc[i]) return false;
    }
    return v.size() == kGrpc.size() || v[kGrpc.size()] == '+' || v[kGrpc.size()] == ';';
  }
  return false;
}

GrpcCode grpc_code_for_reset(std::uint32_t code) {
  switch (code) {
    case 0x7:  // REFUSED_STREAM: not processed, the client may retry
      return GrpcCode::unavailable;
    case 0x8:  // CANCEL
      return GrpcCode::cancelled;
    case 0xb:  // ENHANCE_YOUR_CALM
      return GrpcCode::resource_exhausted;
    case 0xc:  // INADEQUATE_SECURITY
      return GrpcCode::permission_denied;
    default:
      return GrpcCode::internal;
  }
}

GrpcCode grpc_code_for_http(unsigned status) {
  switch (status) {
    case 502:
    case 503:
    case 504:
      return GrpcCode::unavailable;
    case 408:
      return GrpcCode::deadline_exceeded;
    case 413:
    case 431:
      return GrpcCode::resource_exhausted;
    default:
      return status >= 500 ? GrpcCode::internal : GrpcCode::unknown;
  }
}

std::string grpc_percent_encode(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (const unsigned char c : message) {
    if (c >= 0x20 && c <= 0x7e && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::vector<proxy::H2Field> grpc_trailers_only(GrpcCode code, std::string_view message) {
  return {{"content-type", "application/grpc"},
          {"grpc-status", std::to_string(static_cast<unsigned>(code))},
          {"grpc-message", grpc_percent_encode(message)}};
}

}  // namespace lbd::h2
