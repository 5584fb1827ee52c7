// Answers of the proxy itself on a stream that got no response from a backend: a short text
// response with the HTTP status, or for a gRPC client a trailers-only response with the gRPC
// status that stands for it. The request body still coming is dropped, its window given back.
#include <fmt/format.h>

#include <boost/beast/http/status.hpp>

#include "lbd/h2/connection.hpp"

namespace lbd::h2 {

using namespace lbd::proxy;
using namespace lbd::proxy::http_detail;
namespace http = boost::beast::http;

/// An error response on the stream (when it has not answered yet); the request body that
/// is still coming is dropped.
void Connection::respond_error(Exchange& x, RequestObservation& obs, unsigned status,
                               std::string_view why) {
  obs.status = status;
  if (status >= 500 && status != 503) {
    log_->warn("h2: status={} listener={} client={} method={} path={} why={}", status,
               listener_.name, peer_text_, x.req.method, x.req.path, why);
  } else {
    log_->debug("h2: status={} listener={} client={} method={} path={} why={}", status,
                listener_.name, peer_text_, x.req.method, x.req.path, why);
  }
  if (x.gone) return;
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  const std::string body = fmt::format("{} {}\n", status, std::string_view(reason));
  std::vector<Header> h{{"content-type", "text/plain"},
                        {"content-length", std::to_string(body.size())}};
  if (status == 503) h.push_back({"retry-after", "1"});
  if (session_.submit_response(x.id, status, h, false)) {
    session_.write_body(x.id,
                        std::span(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
    session_.end_body(x.id);
    obs.bytes_out += body.size();
  }
  drop_request_body(x);
  kick();
}

/// An error before the response header: a gRPC client gets a trailers-only response with the
/// gRPC status that stands for `status` (it reads grpc-status, not :status), others `status`.
void Connection::respond_h2_error(Exchange& x, RequestObservation& obs, bool grpc, unsigned status,
                                  std::string_view why, std::optional<GrpcCode> code) {
  if (!grpc) {
    respond_error(x, obs, status, why);
    return;
  }
  obs.status = status;  // the access log and metrics count what it stands for
  log_->warn("h2: status={} (gRPC trailers-only) listener={} client={} method={} path={} why={}",
             status, listener_.name, peer_text_, x.req.method, x.req.path, why);
  if (x.gone) return;
  const auto fields = grpc_trailers_only(code.value_or(grpc_code_for_http(status)), why);
  session_.submit_response(x.id, 200, fields, true);
  drop_request_body(x);
  kick();
}

/// No backend connection for the stream: the pool's answer for why.
void Connection::respond_unreachable(Exchange& x, RequestObservation& obs, bool grpc,
                                     UpstreamError error) {
  switch (error) {
    case UpstreamError::no_backend:
      respond_h2_error(x, obs, grpc, 503, "no healthy backend");
      break;
    case UpstreamError::timeout:
      respond_h2_error(x, obs, grpc, 504, "connect to the backend timed out");
      break;
    case UpstreamError::connect_failed:
      respond_h2_error(x, obs, grpc, 502, "connect to the backend failed");
      break;
  }
}

/// The response is complete before the request body: what still comes is dropped (its
/// window given back) so that the client can finish sending.
void Connection::drop_request_body(Exchange& x) {
  if (x.body_done) return;
  x.discard = true;
  session_.consume(x.id, x.body.size());
  x.body.clear();
}

}  // namespace lbd::h2
