#include "common/metrics/http_endpoint.hpp"

#include <sys/socket.h>

#include <cstring>
#include <list>

#include <fmt/format.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "common/log.hpp"
#include "common/metrics/exposition.hpp"
#include "common/net/asio_endpoint.hpp"

namespace lb::metrics {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// A scrape target has one or two scrapers: a handful of connections is plenty.
constexpr std::size_t kMaxConnections = 8;
constexpr std::uint32_t kMaxRequestHeader = 8 * 1024;
// Everything a connection may hold unparsed: the header bound plus one read. A scrape has no body,
// but Beast keeps an unfinished chunk-size line (or trailer) whole in the read buffer, so without
// this bound a peer sending an endless chunk extension fills the memory within the timeout.
constexpr std::size_t kMaxBuffered = kMaxRequestHeader + 4 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(5);

}  // namespace

struct HttpEndpoint::Impl : std::enable_shared_from_this<HttpEndpoint::Impl> {
  Impl(asio::io_context& io, Render r)
      : acceptor(io), render(std::move(r)), log(lb::log::get("metrics")) {}

  tcp::acceptor acceptor;
  Render render;
  std::shared_ptr<spdlog::logger> log;
  std::list<beast::tcp_stream*> open;
  bool stopped = false;

  awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      tcp::socket socket(acceptor.get_executor());
      error_code ec;
      co_await acceptor.async_accept(socket, asio::redirect_error(use_awaitable, ec));
      if (stopped || ec == asio::error::operation_aborted) co_return;
      if (ec || open.size() >= kMaxConnections) continue;  // over the limit: closed here
      asio::co_spawn(acceptor.get_executor(), session(std::move(socket)),
                     log_exceptions(log, "metrics session"));
    }
  }

  awaitable<void> session(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(socket));
    open.push_front(&stream);
    const auto entry = open.begin();
    beast::flat_buffer buffer(kMaxBuffered);  // a read past it ends with buffer_overflow
    error_code ec;
    for (int i = 0; i < 100 && !stopped; ++i) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(kMaxRequestHeader);
      parser.body_limit(0);
      stream.expires_after(kRequestTimeout);
      co_await http::async_read(stream, buffer, parser, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::error::eof &&
            ec != beast::error::timeout) {
          log->debug("metrics: request refused client={} why={}",
                     stream.socket().remote_endpoint(ec).address().to_string(), ec.message());
        }
        break;
      }
      const auto& req = parser.get();
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::server, "lbpair");
      std::string_view target{req.target().data(), req.target().size()};
      if (target != "/metrics") {
        res.result(http::status::not_found);
        res.body() = "404 not found: try /metrics\n";
      } else if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::allow, "GET, HEAD");
        res.body() = "405 method not allowed\n";
      } else {
        res.set(http::field::content_type,
                beast::string_view(kContentType.data(), kContentType.size()));
        res.body() = render();
      }
      const bool keep = req.keep_alive() && res.result() == http::status::ok;
      res.keep_alive(keep);
      res.prepare_payload();
      if (req.method() == http::verb::head) {
        const auto length = res.body().size();
        res.body().clear();
        res.content_length(length);
      }
      co_await http::async_write(stream, res, asio::redirect_error(use_awaitable, ec));
      if (ec || !keep) break;
    }
    open.erase(entry);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close();
  }
};

Result<std::unique_ptr<HttpEndpoint>> HttpEndpoint::start(asio::io_context& io,
                                                          const Endpoint& listen, Render render) {
  std::unique_ptr<HttpEndpoint> s(new HttpEndpoint());
  s->impl_ = std::make_shared<Impl>(io, std::move(render));
  auto& acc = s->impl_->acceptor;
  const auto ep = to_asio(listen);
  error_code ec;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(16, ec);
  if (ec)
    return fail(fmt::format("metrics: cannot listen on {}: {}", listen.to_string(), ec.message()));
  s->bound_ = Endpoint::from_sockaddr(acc.local_endpoint(ec).data()).value_or(listen);
  asio::co_spawn(io, s->impl_->accept_loop(), log_exceptions(s->impl_->log, "metrics accept"));
  return s;
}

HttpEndpoint::~HttpEndpoint() { stop(); }

void HttpEndpoint::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto* stream : impl_->open) stream->socket().close(ignored);
}

}  // namespace lb::metrics
