#include "lbd/admin/admin_server.hpp"

#include <crypt.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
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
#include "lbd/admin/login_throttle.hpp"
#include "lbd/session/deadline.hpp"

namespace lbd::admin {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = lb::asio;

// Requests served on one keep-alive admin connection before it is closed.
constexpr int kMaxRequestsPerConnection = 100;
// Accepted Authorization header values (their SHA-256) remembered so that a scraper every few
// seconds does not cost a crypt(3) run (milliseconds of CPU on the control thread) each time.
constexpr std::size_t kAuthCacheSize = 16;
// Refused ones, so that a client repeating a wrong password costs a hash, not a crypt(3) run.
constexpr std::size_t kFailedCacheSize = 64;
// A crypt(3) check slower than this is worth a warning at start: it blocks the control thread.
constexpr auto kSlowCrypt = std::chrono::milliseconds(50);

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view s) {
  Digest d{};
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), d.data(), &len, EVP_sha256(), nullptr);
  return d;
}

/// Constant time per entry: a match is never found faster for a closer guess.
bool contains_digest(const std::list<Digest>& cache, const Digest& d) {
  bool found = false;
  for (const auto& c : cache) found |= CRYPTO_memcmp(c.data(), d.data(), d.size()) == 0;
  return found;
}

void remember(std::list<Digest>& cache, const Digest& d, std::size_t max) {
  cache.push_front(d);
  if (cache.size() > max) cache.pop_back();
}

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
  std::list<Digest> auth_cache;
  std::list<Digest> failed_cache;
  LoginThrottle throttle;
  bool stopped = false;
  std::uint64_t refused = 0;
  std::atomic<std::uint64_t> throttled{0};  // written on the control thread, read by scrapes

  bool allowed(const lb::IpAddress& a) const {
    if (config.allow.empty()) return true;
    for (const auto& c : config.allow) {
      if (c.contains(a)) return true;
    }
    return false;
  }

  enum class Auth { ok, refused, throttled };

  Auth authorized(std::string_view header, const lb::IpAddress& peer) {
    if (config.users.empty()) return Auth::ok;
    const auto digest = sha256(header);
    if (contains_digest(auth_cache, digest)) return Auth::ok;
    if (contains_digest(failed_cache, digest)) return Auth::refused;
    if (!header.starts_with("Basic ")) return Auth::refused;
    auto decoded = base64_decode(header.substr(6));
    if (!decoded) return Auth::refused;
    const auto colon = decoded->find(':');
    if (colon == std::string::npos) return Auth::refused;
    const std::string user = decoded->substr(0, colon);
    const std::string password = decoded->substr(colon + 1);
    const auto now = LoginThrottle::Clock::now();
    // crypt(3) runs here, on the control thread: the throttle bounds how much of it failed
    // logins can take (an unknown user costs the same check, so names cannot be probed).
    if (!throttle.admit(peer, now)) return Auth::throttled;
    bool ok = false;
    bool user_known = false;
    for (const auto& [name, hash] : config.users) {
      if (name != user) continue;
      user_known = true;
      crypt_data data{};
      const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
      ok = out && std::strlen(out) == hash.size() &&
           CRYPTO_memcmp(out, hash.data(), hash.size()) == 0;
      break;
    }
    if (!user_known) {
      crypt_data data{};
      crypt_r(password.c_str(), config.users.front().second.c_str(), &data);
    }
    const auto end = LoginThrottle::Clock::now();
    throttle.spent(end - now, end);
    remember(ok ? auth_cache : failed_cache, digest, ok ? kAuthCacheSize : kFailedCacheSize);
    return ok ? Auth::ok : Auth::refused;
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
    if (const auto a = authorized(auth, peer); a == Auth::throttled) {
      text(http::status::too_many_requests, "429 too many login attempts, retry later\n");
      res.set(http::field::retry_after, "1");
      // One line per 1000: a flood must not turn into as many log lines on the control thread.
      if (const auto so_far = throttled.fetch_add(1, std::memory_order_relaxed) + 1;
          so_far % 1000 == 1) {
        log->info("admin: refused client={} reason=login rate ({} so far)", peer.to_string(),
                  so_far);
      }
      return res;
    } else if (a == Auth::refused) {
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
  for (const auto& [name, hash] : config.users) {
    // What one login check costs the control thread with this hash (crypt(3) is slow by design).
    const auto start = std::chrono::steady_clock::now();
    crypt_data data{};
    crypt_r("not the password", hash.c_str(), &data);
    const auto ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (ms > std::chrono::duration<double, std::milli>(kSlowCrypt).count()) {
      s->impl_->log->warn(
          "admin: checking user {}'s password takes {:.0f} ms of the control thread; failed "
          "logins are limited to about {:.0f} per second",
          name, ms, std::max(1.0, 100.0 / ms));
    } else {
      s->impl_->log->debug("admin: checking user {}'s password takes {:.1f} ms", name, ms);
    }
  }
  s->config_ = std::move(config);
  asio::co_spawn(io, s->impl_->accept_loop(), lb::log_exceptions(s->impl_->log, "admin accept"));
  return s;
}

AdminServer::~AdminServer() { stop(); }

std::uint64_t AdminServer::logins_throttled() const {
  return impl_ ? impl_->throttled.load(std::memory_order_relaxed) : 0;
}

void AdminServer::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  lb::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto* stream : impl_->open) stream->socket().close(ignored);
}

}  // namespace lbd::admin
