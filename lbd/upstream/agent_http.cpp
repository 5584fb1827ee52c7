// HTTP agent query (see agent_http.hpp).
#include "lbd/upstream/agent_http.hpp"

#include "common/asio.hpp"  // first: it fixes an include-order problem of Boost 1.74

#include <fmt/format.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "lbd/upstream/connect_deadline.hpp"
#include "lbd/upstream/health_checker.hpp"

namespace lbd {

namespace http = boost::beast::http;

namespace {

// The same bound as the TCP agent's reply line: an agent says a few words, never a document.
constexpr std::uint64_t kMaxBody = 512;
constexpr std::uint32_t kMaxHeader = 8 * 1024;
// What the read may hold unparsed: Beast keeps an unfinished chunk-size line or trailer section
// whole in the buffer, so an agent sending an endless chunk extension is cut off here.
constexpr std::size_t kMaxBuffered = kMaxHeader + 4 * 1024;

}  // namespace

lb::awaitable<lb::Result<AgentReport>> query_http_agent(lb::Endpoint agent, std::string path,
                                                        std::chrono::nanoseconds timeout) {
  namespace asio = lb::asio;
  auto connected =
      co_await connect_with_deadline(co_await asio::this_coro::executor, agent, timeout);
  if (!connected) co_return std::unexpected(connected.error());
  auto& socket = connected->socket();
  const auto timed_out = [&] { return lb::fail(timeout_reason(timeout)); };
  lb::error_code ec;

  http::request<http::empty_body> request{http::verb::get, path, 11};
  request.set(http::field::host, agent.to_string());
  request.set(http::field::user_agent, "lbd-agent-check");
  request.set(http::field::connection, "close");
  co_await http::async_write(socket, request, asio::redirect_error(lb::use_awaitable, ec));
  if (connected->expired()) co_return timed_out();
  if (ec) co_return lb::fail(io_reason("send", ec));

  boost::beast::flat_buffer buffer(kMaxBuffered);  // a read past it ends with buffer_overflow
  http::response_parser<http::string_body> parser;
  parser.header_limit(kMaxHeader);
  parser.body_limit(kMaxBody);
  // The header first: Beast 1.74 lets a Content-Length above body_limit through when the body
  // is read in the same async_read (the error is reported once, by the header read), so the
  // header read's error decides before any body is read.
  co_await http::async_read_header(socket, buffer, parser,
                                   asio::redirect_error(lb::use_awaitable, ec));
  const auto too_long = [] { return lb::fail("reply longer than 512 bytes"); };
  if (connected->expired()) co_return timed_out();
  if (ec == http::error::body_limit) co_return too_long();
  if (ec) co_return lb::fail(io_reason("response", ec));
  if (!parser.is_done()) {
    co_await http::async_read(socket, buffer, parser, asio::redirect_error(lb::use_awaitable, ec));
  }
  if (connected->expired()) co_return timed_out();
  if (ec == http::error::body_limit) co_return too_long();
  if (ec) co_return lb::fail(io_reason("response", ec));
  connected->finish();
  if (parser.get().body().size() > kMaxBody) co_return too_long();

  const auto& response = parser.get();
  const unsigned status = response.result_int();
  if (status < 200 || status > 299) co_return lb::fail(fmt::format("status {}", status));
  // One line, as the TCP agent sends: anything after the first line break is ignored.
  std::string_view body = response.body();
  body = body.substr(0, body.find('\n'));
  auto parsed = parse_agent_reply(body);
  if (!parsed) co_return lb::fail("bad reply: " + parsed.error().message);
  co_return parsed;
}

}  // namespace lbd
