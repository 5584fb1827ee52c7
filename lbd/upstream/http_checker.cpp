// HTTP health check (see http_checker.hpp). The only file of the health subsystem using Beast.
#include "lbd/upstream/http_checker.hpp"

#include "common/asio.hpp"  // first: it fixes an include-order problem of Boost 1.74

#include <fmt/format.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "lbd/upstream/probe_deadline.hpp"

namespace lbd {

namespace http = boost::beast::http;

namespace {

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
    body_regex_.emplace(config_.expect_body_regex, std::regex::ECMAScript);
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
  if (body_regex_ && !std::regex_search(body, *body_regex_)) {
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
  auto socket = std::make_shared<lb::tcp::socket>(ex);
  detail::ProbeDeadline deadline(ex, timeout, [socket] {
    lb::error_code ignored;
    socket->close(ignored);
  });
  lb::error_code ec;
  co_await socket->async_connect(to_asio_endpoint(target),
                                 asio::redirect_error(lb::use_awaitable, ec));
  if (deadline.expired()) co_return lb::fail(timeout_reason(timeout));
  if (ec) co_return lb::fail(io_reason("connect", ec));

  http::request<http::empty_body> request;
  request.method_string(config_.method);
  request.target(config_.path);
  request.version(11);
  request.set(http::field::host, config_.host.empty() ? target.to_string() : config_.host);
  request.set(http::field::user_agent, "lbd-health-check");
  request.set(http::field::connection, "close");
  co_await http::async_write(*socket, request, asio::redirect_error(lb::use_awaitable, ec));
  if (deadline.expired()) co_return lb::fail(timeout_reason(timeout));
  if (ec) co_return lb::fail(io_reason("send", ec));

  boost::beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeader);
  parser.body_limit(kMaxBody);
  // A HEAD response announces a length but carries no body.
  if (request.method() == http::verb::head) parser.skip(true);
  co_await http::async_read(*socket, buffer, parser, asio::redirect_error(lb::use_awaitable, ec));
  if (deadline.expired()) co_return lb::fail(timeout_reason(timeout));
  if (ec) co_return lb::fail(io_reason("response", ec));
  deadline.finish();
  socket->close(ec);
  const auto& response = parser.get();
  co_return evaluate(response.result_int(), response.body());
}

}  // namespace lbd
