#include "lbd/admin/admin_server.hpp"

#include <crypt.h>

#include <cstring>

#include <list>
#include <set>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "common/log.hpp"
#include "common/metrics/exposition.hpp"
#include "lbd/admin/admin_view_json.hpp"
#include "lbd/session/deadline.hpp"

namespace lbd::admin {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = lb::asio;

// Requests served on one keep-alive admin connection before it is closed.
constexpr int kMaxRequestsPerConnection = 100;
// Accepted Authorization header values remembered so that a scraper every few seconds does not
// cost a crypt(3) run (milliseconds of CPU on the control thread) each time.
constexpr std::size_t kAuthCacheSize = 16;

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > 4096) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  std::size_t len = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  if (in.ends_with("==")) {
    len -= 2;
  } else if (in.ends_with('=')) {
    len -= 1;
  }
  out.resize(len);
  return out;
}

}  // namespace

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
  Impl(asio::io_context& io, AdminConfig c, ViewSource v)
      : acceptor(io), config(std::move(c)), view(std::move(v)), log(lb::log::get("lbd.admin")) {}

  lb::tcp::acceptor acceptor;
  AdminConfig config;
  ViewSource view;
  std::shared_ptr<spdlog::logger> log;
  std::list<beast::tcp_stream*> open;  // for stop()
  std::list<std::string> auth_cache;
  bool stopped = false;
  std::uint64_t refused = 0;

  bool allowed(const lb::IpAddress& a) const {
    if (config.allow.empty()) return true;
    for (const auto& c : config.allow) {
      if (c.contains(a)) return true;
    }
    return false;
  }

  bool authorized(std::string_view header) {
    if (config.users.empty()) return true;
    for (const auto& c : auth_cache) {
      if (c == header) return true;
    }
    if (!header.starts_with("Basic ")) return false;
    auto decoded = base64_decode(header.substr(6));
    if (!decoded) return false;
    const auto colon = decoded->find(':');
    if (colon == std::string::npos) return false;
    const std::string user = decoded->substr(0, colon);
    const std::string password = decoded->substr(colon + 1);
    for (const auto& [name, hash] : config.users) {
      if (name != user) continue;
      crypt_data data{};
      const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
      if (out && std::strlen(out) == hash.size() &&
          CRYPTO_memcmp(out, hash.data(), hash.size()) == 0) {
        auth_cache.emplace_front(header);
        if (auth_cache.size() > kAuthCacheSize) auth_cache.pop_back();
        return true;
      }
    }
    return false;
  }

  http::response<http::string_body> handle(const http::request<http::empty_body>& req,
                                           const lb::IpAddress& peer) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "lbd");
    res.set(http::field::cache_control, "no-store");
    auto text = [&res](http::status s, std::string body) {
      res.result(s);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = std::move(body);
    };
    if (!allowed(peer)) {
      text(http::status::forbidden, "403 forbidden: address not in [admin].allow\n");
      log->info("admin: refused client={} reason=allow-list", peer.to_string());
      return res;
    }
    std::string_view auth;
    if (auto it = req.find(http::field::authorization); it != req.end()) {
      auth = {it->value().data(), it->value().size()};
    }
    if (!authorized(auth)) {
      text(http::status::unauthorized, "401 unauthorized\n");
      res.set(http::field::www_authenticate, "Basic realm=\"lbpair\", charset=\"UTF-8\"");
      log->info("admin: refused client={} reason=authentication", peer.to_string());
      return res;
    }
    std::string_view target{req.target().data(), req.target().size()};
    if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
    const bool known =
        target == "/metrics" || target == "/status" || target == "/status.json" || target == "/";
    if (!known) {
      text(http::status::not_found, "404 not found: try /metrics, /status or /status.json\n");
      return res;
    }
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      text(http::status::method_not_allowed, "405 method not allowed\n");
      res.set(http::field::allow, "GET, HEAD");
      return res;
    }
    if (target == "/metrics") {
      res.set(http::field::content_type, beast::string_view(lb::metrics::kContentType.data(),
                                                            lb::metrics::kContentType.size()));
      res.body() = render_metrics(view());
    } else if (target == "/status.json") {
      res.set(http::field::content_type, "application/json");
      res.body() =
          admin_view_json(view()).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      res.set(http::field::content_type, "text/html; charset=utf-8");
      res.body() = std::string(kStatusPageHtml);
    }
    return res;
  }

  lb::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      lb::tcp::socket socket(acceptor.get_executor());
      lb::error_code ec;
      co_await acceptor.async_accept(socket, asio::redirect_error(lb::use_awaitable, ec));
      if (stopped || ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      if (open.size() >= config.max_connections) {
        ++refused;
        log->warn("admin: refused connection: {} open (max_connections)", open.size());
        continue;  // the socket closes here
      }
      asio::co_spawn(acceptor.get_executor(), session(std::move(socket)),
                     lb::log_exceptions(log, "admin session"));
    }
  }

  lb::awaitable<void> session(lb::tcp::socket socket) {
    auto self = shared_from_this();
    lb::error_code ec;
    const auto remote = socket.remote_endpoint(ec);
    if (ec) co_return;
    const auto peer = proxy::from_asio(remote).address.unmapped();
    beast::tcp_stream stream(std::move(socket));
    open.push_front(&stream);
    const auto entry = open.begin();
    beast::flat_buffer buffer(config.max_request_size);
    for (int i = 0; i < kMaxRequestsPerConnection && !stopped; ++i) {
      http::request_parser<http::empty_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(config.max_request_size));
      parser.body_limit(0);
      stream.expires_after(config.request_timeout);
      co_await http::async_read(stream, buffer, parser,
                                asio::redirect_error(lb::use_awaitable, ec));
      if (ec) {
        if (ec == http::error::header_limit || ec == http::error::body_limit) {
          http::response<http::string_body> res{http::status::payload_too_large, 11};
          res.set(http::field::connection, "close");
          res.body() = "413 request too large\n";
          res.prepare_payload();
          co_await http::async_write(stream, res, asio::redirect_error(lb::use_awaitable, ec));
        }
        break;
      }
      auto res = handle(parser.get(), peer);
      const bool keep = parser.get().keep_alive() && res.result() == http::status::ok;
      res.keep_alive(keep);
      res.prepare_payload();
      if (parser.get().method() == http::verb::head) {
        const auto length = res.body().size();
        res.body().clear();
        res.content_length(length);  // what a GET would have sent
      }
      co_await http::async_write(stream, res, asio::redirect_error(lb::use_awaitable, ec));
      if (ec || !keep) break;
    }
    open.erase(entry);
    stream.socket().shutdown(lb::tcp::socket::shutdown_both, ec);
    stream.close();
  }
};

lb::Result<std::unique_ptr<AdminServer>> AdminServer::start(lb::asio::io_context& io,
                                                            AdminConfig config, ViewSource view) {
  std::unique_ptr<AdminServer> s(new AdminServer());
  s->impl_ = std::make_shared<Impl>(io, config, std::move(view));
  lb::error_code ec;
  const auto ep = proxy::to_asio(config.listen);
  auto& acc = s->impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(lb::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(64, ec);
  if (ec) {
    return lb::fail(
        fmt::format("admin: cannot listen on {}: {}", config.listen.to_string(), ec.message()));
  }
  s->bound_ = proxy::from_asio(acc.local_endpoint(ec));
  s->config_ = std::move(config);
  asio::co_spawn(io, s->impl_->accept_loop(), lb::log_exceptions(s->impl_->log, "admin accept"));
  return s;
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  lb::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto* stream : impl_->open) stream->socket().close(ignored);
}

}  // namespace lbd::admin
