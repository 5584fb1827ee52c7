// HTTP health check (see http_checker.hpp), over TLS for pools with [pool.tls]. The only file of
// the health subsystem using Beast.
#include "lbd/upstream/http_checker.hpp"

#include "common/asio.hpp"  // first: it fixes an include-order problem of Boost 1.74

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "common/asio_ssl.hpp"
#include "common/net/asio_endpoint.hpp"
#include "lbd/tls/tls_context.hpp"
#include "lbd/tls/upstream_tls_context.hpp"

#include "lbd/upstream/probe_deadline.hpp"

namespace lbd {

namespace http = boost::beast::http;

namespace {

namespace asio = lb::asio;

/// The check's connection: a socket, with TLS over it for a pool with [pool.tls].
struct Stream {
  Stream(const asio::any_io_executor& ex, const std::shared_ptr<const proxy::UpstreamTlsContext>& c)
      : plain(ex) {
    if (c) tls.emplace(lb::tcp::socket(ex), c->asio_context());
  }
  lb::tcp::socket& socket() { return tls ? tls->next_layer() : plain; }
  lb::awaitable<void> write(http::request<http::empty_body>& r, lb::error_code& ec) {
    if (tls) {
      co_await http::async_write(*tls, r, asio::redirect_error(lb::use_awaitable, ec));
    } else {
      co_await http::async_write(plain, r, asio::redirect_error(lb::use_awaitable, ec));
    }
  }
  lb::awaitable<void> read(boost::beast::flat_buffer& b,
                           http::response_parser<http::string_body>& p, lb::error_code& ec) {
    if (tls) {
      co_await http::async_read(*tls, b, p, asio::redirect_error(lb::use_awaitable, ec));
    } else {
      co_await http::async_read(plain, b, p, asio::redirect_error(lb::use_awaitable, ec));
    }
  }
  lb::tcp::socket plain;
  std::optional<asio::ssl::stream<lb::tcp::socket>> tls;
};

/// "tls: certificate verify failed: hostname mismatch", "tls: wrong version number".
std::string tls_reason(const lb::error_code& ec, SSL* ssl) {
  if (const long v = SSL_get_verify_result(ssl); v != X509_V_OK) {
    return fmt::format("tls: certificate verify failed: {}", X509_verify_cert_error_string(v));
  }
  return "tls: " + proxy::handshake_error_reason(ec, false);
}

constexpr std::uint64_t kMaxBody = 1024 * 1024;
constexpr std::uint32_t kMaxHeader = 64 * 1024;

/// Follows a dotted path ("status", "components.db.status") through JSON objects.
const nlohmann::json* find_json(const nlohmann::json& root, std::string_view path) {
  const nlohmann::json* node = &root;
  while (true) {
    const auto dot = path.find('.');
    const std::string part(path.substr(0, dot));
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
    if (dot == std::string_view::npos) return node;
    path.remove_prefix(dot + 1);
  }
}

std::string shorten(std::string_view s) {
  constexpr std::size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

}  // namespace

HttpChecker::HttpChecker(HealthCheckConfig config) : config_(std::move(config)) {
  // The config reader validated the pattern; a failure here would be a programming error.
  if (!config_.expect_body_regex.empty()) {
    body_regex_.emplace(config_.expect_body_regex);
  }
}

lb::Result<void> HttpChecker::evaluate(unsigned status, const std::string& body) const {
  bool status_ok = false;
  for (const auto& r : config_.expect_status) {
    if (status >= r.low && status <= r.high) status_ok = true;
  }
  if (!status_ok) return lb::fail(fmt::format("status {}", status));
  if (!config_.expect_body.empty() && body.find(config_.expect_body) == std::string::npos) {
    return lb::fail(fmt::format("body does not contain \"{}\"", config_.expect_body));
  }
  if (body_regex_ && !body_regex_->search(body)) {
    return lb::fail(fmt::format("body does not match /{}/", config_.expect_body_regex));
  }
  if (config_.expect_json) {
    const auto& want = *config_.expect_json;
    const auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (json.is_discarded()) return lb::fail("body is not JSON");
    const auto* value = find_json(json, want.key);
    if (value == nullptr) return lb::fail(fmt::format("json {} missing", want.key));
    const std::string got = value->is_string() ? value->get<std::string>() : value->dump();
    if (got != want.value) {
      return lb::fail(
          fmt::format("json {}=\"{}\", expected \"{}\"", want.key, shorten(got), want.value));
    }
  }
  return {};
}

lb::awaitable<lb::Result<void>> HttpChecker::probe(const Backend& backend,
                                                   std::chrono::nanoseconds timeout) {
  namespace asio = lb::asio;
  auto ex = co_await asio::this_coro::executor;
  const auto target = check_target(config_, backend);
  // [pool.tls]: the stream is TLS over the socket; the deadline closes the socket either way.
  auto stream = std::make_shared<Stream>(ex, config_.tls);
  detail::ProbeDeadline deadline(ex, timeout, [stream] {
    lb::error_code ignored;
    stream->socket().close(ignored);
  });
  lb::error_code ec;
  co_await stream->socket().async_connect(lb::to_asio(target),
                                          asio::redirect_error(lb::use_awaitable, ec));
  if (deadline.expired()) co_return lb::fail(timeout_reason(timeout));
  if (ec) co_return lb::fail(io_reason("connect", ec));
  if (stream->tls) {
    config_.tls->prepare(stream->tls->native_handle(), target);
    co_await stream->tls->async_handshake(asio::ssl::stream_base::client,
                                          asio::redirect_error(lb::use_awaitable, ec));
    if (deadline.expired()) co_return lb::fail(timeout_reason(timeout));
    if (ec) co_return lb::fail(tls_reason(ec, stream->tls->native_handle()));
  }

  http::request<http::empty_body> request;
  request.method_string(config_.method);
  request.target(config_.path);
  request.version(11);
  request.set(http::field::host, config_.host.empty() ? target.to_string() : config_.host);
  request.set(http::field::user_agent, "lbd-health-check");
  request.set(http::field::connection, "close");
  co_await stream->write(request, ec);
  if (deadline.expired()) co_return lb::fail(timeout_reason(timeout));
  if (ec) co_return lb::fail(io_reason("send", ec));

  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeader);
  parser.body_limit(kMaxBody);
  // A HEAD response announces a length but carries no body.
  if (request.method() == http::verb::head) parser.skip(true);
  co_await stream->read(buffer, parser, ec);
  if (deadline.expired()) co_return lb::fail(timeout_reason(timeout));
  if (ec) co_return lb::fail(io_reason("response", ec));
  deadline.finish();
  stream->socket().close(ec);
  const auto& response = parser.get();
  co_return evaluate(response.result_int(), response.body());
}

}  // namespace lbd
