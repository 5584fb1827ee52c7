// The HTTP/2 connection (entry points in lbd/session/h2_entry.hpp): one reader and one writer
// coroutine around the ServerSession, a ticker for deadlines and drains, and one coroutine per
// stream that forwards the request as HTTP/1.1 to a backend and streams the response back under
// flow control.
#include "lbd/session/h2_entry.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/status.hpp>

#include "lbd/balance/least_time.hpp"
#include "lbd/h2/grpc_status.hpp"
#include "lbd/h2/server_session.hpp"
#include "lbd/h2/upstream_request.hpp"
#include "lbd/http/fields_lookup.hpp"
#include "lbd/http/http_persistence.hpp"
#include "lbd/http/http_rewrite.hpp"
#include "lbd/http/http_watchdog.hpp"
#include "lbd/http/http_worker_state.hpp"
#include "lbd/http/router.hpp"
#include "lbd/session/conn_tracking.hpp"
#include "lbd/session/pick_hash.hpp"
#include "lbd/session/request_log.hpp"
#include "lbd/tls/upstream_tls_context.hpp"
#include "lbd/upstream_conn/h2_upstream.hpp"
#include "lbd/upstream_conn/upstream_tls_stream.hpp"
#include "lbd/upstream_conn/wake_signal.hpp"

namespace lbd::h2 {

namespace {

using namespace lbd::proxy;
using namespace lbd::proxy::http_detail;
namespace http = boost::beast::http;

constexpr std::size_t kReadChunk = 16 * 1024;
// Reads of a backend's response header: small, because every stream in flight holds its buffer
// while it waits for the backend (a body read grows it to kReadChunk).
constexpr std::size_t kHeaderReadChunk = 4 * 1024;
constexpr std::size_t kBodyChunk = 16 * 1024;
constexpr std::uint32_t kMaxResponseHeader = 64 * 1024;
constexpr std::uint64_t kNoBodyLimit = std::numeric_limits<std::uint64_t>::max();
// How often a connection looks at its deadlines, stalled streams and the worker's drain.
constexpr auto kTick = std::chrono::milliseconds(500);

using Signal = proxy::WakeSignal;

// Hop-by-hop fields of an HTTP/1.1 response that HTTP/2 must not carry (RFC 9113 §8.2.2).
bool hop_by_hop(std::string_view lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "proxy-connection" || lower_name == "transfer-encoding" ||
         lower_name == "upgrade" || lower_name == "te" || lower_name == "trailer";
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Limits limits_of(const Config& cfg) {
  Limits l;
  l.max_concurrent_streams = cfg.limits.max_concurrent_streams;
  l.max_header_list = static_cast<std::size_t>(cfg.limits.max_header_size);
  l.stall_timeout = cfg.timeouts.client_idle;
  return l;
}

template <typename Stream>
class Connection final : public StreamHandler {
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

 public:
  Connection(WorkerContext& worker, ClientConnection& client, Stream& stream, tcp::socket& raw,
             const TlsConnectionInfo* tls)
      : worker_(worker),
        client_(client),
        stream_(stream),
        raw_(raw),
        cfg_(*client.config),
        listener_(*client.info.listener),
        state_(worker_state(worker)),
        log_(worker.logger()),
        lstats_(worker.stats().listener(listener_.name)),
        tls_(tls),
        writer_wake_(raw.get_executor()),
        tasks_done_(raw.get_executor()),
        tick_(raw.get_executor()),
        write_watch_(raw.get_executor()),
        session_(*this, limits_of(cfg_)) {
    write_watch_.watch(&raw_, nullptr);
    if (state_.config == client_.config) {
      auto& r = state_.routers[&listener_];
      if (!r) r = std::make_shared<const Routing>(listener_, cfg_);
      routing_ = r;
    } else {
      routing_ = std::make_shared<const Routing>(listener_, cfg_);
    }
    peer_text_ = client_.info.peer.to_string();
    client_text_ = client_.info.peer.address.unmapped().to_string();
  }

  lb::awaitable<void> run(std::string_view already) {
    lstats_.h2_connections.add();
    last_activity_ = started_ = Clock::now();
    spawn(writer(), "h2 writer");
    spawn(ticker(), "h2 ticker");
    bool reading = true;
    if (!already.empty()) {
      reading = session_.receive(
          std::span(reinterpret_cast<const std::uint8_t*>(already.data()), already.size()),
          Clock::now());
      kick();
    }
    std::vector<std::uint8_t> buf(kReadChunk);
    bool client_gone = false;
    while (reading && !finished_) {
      error_code ec;
      const auto got = co_await stream_.async_read_some(
          asio::buffer(buf), asio::redirect_error(lb::use_awaitable, ec));
      if (ec) {
        client_gone = !finished_;
        break;
      }
      last_activity_ = Clock::now();
      reading = session_.receive(std::span(buf.data(), got), last_activity_);
      kick();
    }
    if (client_gone) dead_ = true;
    // A failed connection (a defence or a protocol error) drops its streams; nghttp2 does not
    // close them one by one.
    if (dead_ || !reading) abort_all();
    kick();
    tick_.cancel();
    while (tasks_ > 0) co_await tasks_done_.wait();
  }

  // ---- StreamHandler (called from inside the session) ------------------------------------

  void on_request(std::int32_t id, Request&& req) override {
    auto x = std::make_shared<Exchange>(raw_.get_executor());
    x->id = id;
    x->req = std::move(req);
    x->body_done = x->req.end_stream;
    exchanges_[id] = x;
    had_stream_ = true;
    spawn(exchange(std::move(x)), "h2 stream");
  }
  void on_data(std::int32_t id, std::span<const std::uint8_t> data) override {
    auto it = exchanges_.find(id);
    if (it == exchanges_.end()) return;
    auto& x = *it->second;
    if (x.discard) {
      session_.consume(id, data.size());
      return;
    }
    x.body.append(reinterpret_cast<const char*>(data.data()), data.size());
    x.signal.notify();
  }
  void on_trailers(std::int32_t id, std::vector<Header>&& trailers) override {
    if (auto it = exchanges_.find(id); it != exchanges_.end()) {
      it->second->trailers = std::move(trailers);
    }
  }
  void on_end_stream(std::int32_t id) override {
    if (auto it = exchanges_.find(id); it != exchanges_.end()) {
      it->second->body_done = true;
      it->second->signal.notify();
    }
  }
  void on_writable(std::int32_t id) override {
    if (auto it = exchanges_.find(id); it != exchanges_.end()) it->second->signal.notify();
  }
  void on_close(std::int32_t id, std::uint32_t code) override {
    auto it = exchanges_.find(id);
    if (it == exchanges_.end()) return;
    auto x = std::move(it->second);
    exchanges_.erase(it);
    x->gone = true;
    if (code != 0 && x->upstream) {
      error_code ignored;
      x->upstream->cancel(ignored);
    }
    x->signal.notify();
  }
  void on_defence(Defence d) override {
    lstats_.h2_errors[static_cast<std::size_t>(d)].add();
    if (logged_defence_) return;
    logged_defence_ = true;
    log_->warn("h2: defence listener={} client={} reason={}", listener_.name, peer_text_,
               to_string(d));
  }

 private:
  struct Exchange {
    explicit Exchange(const asio::any_io_executor& ex) : signal(ex) {}
    std::int32_t id = 0;
    Request req;
    std::string body;              // request body not yet forwarded (bounded by the stream window)
    std::vector<Header> trailers;  // the request's trailers (with body_done)
    bool body_done = false;
    bool gone = false;     // the stream closed: reset by the client, or the connection ended
    bool discard = false;  // answered early: request body bytes are dropped as they come
    Signal signal;
    tcp::socket* upstream = nullptr;  // cancelled when the client resets the stream
  };

  template <typename Task>
  void spawn(Task task, const char* what) {
    ++tasks_;
    asio::co_spawn(raw_.get_executor(), std::move(task),
                   [this, log = log_, what](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         log->error("{}: exception: {}", what, ex.what());
                       }
                     }
                     if (--tasks_ == 0) tasks_done_.notify();
                   });
  }

  void kick() { writer_wake_.notify(); }

  void abort_all() {
    for (auto& [id, x] : exchanges_) {
      x->gone = true;
      if (x->upstream) {
        error_code ignored;
        x->upstream->cancel(ignored);
      }
      x->signal.notify();
    }
    exchanges_.clear();
  }

  /// Sends what the session has, until the connection is done or the client is gone.
  lb::awaitable<void> writer() {
    for (;;) {
      const auto out = session_.output();
      if (out.empty()) {
        if (session_.done() || dead_) break;
        co_await writer_wake_.wait();
        continue;
      }
      error_code ec;
      write_watch_.arm(cfg_.timeouts.client_idle);
      co_await asio::async_write(stream_, asio::buffer(out.data(), out.size()),
                                 asio::redirect_error(lb::use_awaitable, ec));
      write_watch_.disarm();
      session_.clear_output();
      if (ec) {
        dead_ = true;
        break;
      }
    }
    finished_ = true;
    write_watch_.disarm();
    error_code ignored;
    raw_.cancel(ignored);  // ends the reader's pending read
    tick_.cancel();
  }

  /// Deadlines: idle connection (no stream for request_header / keep_alive), stalled streams,
  /// and the worker's drain (GOAWAY, then the open streams finish).
  lb::awaitable<void> ticker() {
    while (!finished_) {
      tick_.expires_after(kTick);
      error_code ec;
      co_await tick_.async_wait(asio::redirect_error(lb::use_awaitable, ec));
      if (finished_) break;
      const auto now = Clock::now();
      session_.check_stalls(now);
      const auto idle_limit = had_stream_ ? cfg_.timeouts.keep_alive : cfg_.timeouts.request_header;
      // A client of a VIP this node handed over gets a GOAWAY too: its open streams finish here,
      // its next ones go to the new master.
      const auto* released = worker_.released_vips();
      if (worker_.draining() || (released != nullptr && released->holds_local_address_of(raw_)) ||
          (session_.open_streams() == 0 && now - last_activity_ >= idle_limit)) {
        session_.shutdown();
      }
      kick();
    }
  }

  // ---- one stream: an HTTP/1.1 exchange with a backend -----------------------------------

  lb::awaitable<void> exchange(std::shared_ptr<Exchange> xp) {
    auto& x = *xp;
    RequestObservation obs{.start = Clock::now()};
    obs.method = x.req.method;
    obs.target = x.req.path;
    co_await forward(x, obs);
    if (kTls && tls_) {
      obs.tls_version = tls_->version;
      obs.tls_cipher = tls_->cipher;
    }
    if (obs.status != 0) {
      finish_request(worker_, lstats_, listener_.name,
                     worker_.access_log() ? std::string_view(peer_text_) : std::string_view(), obs);
    }
  }

  /// An error response on the stream (when it has not answered yet); the request body that
  /// is still coming is dropped.
  void respond_error(Exchange& x, RequestObservation& obs, unsigned status, std::string_view why) {
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
    const std::string body = fmt::format("{} {}\n", status, sv(reason));
    std::vector<Header> h{{"content-type", "text/plain"},
                          {"content-length", std::to_string(body.size())}};
    if (status == 503) h.push_back({"retry-after", "1"});
    if (session_.submit_response(x.id, status, h, false)) {
      session_.write_body(
          x.id, std::span(reinterpret_cast<const std::uint8_t*>(body.data()), body.size()));
      session_.end_body(x.id);
      obs.bytes_out += body.size();
    }
    if (!x.body_done) {
      x.discard = true;
      session_.consume(x.id, x.body.size());
      x.body.clear();
    }
    kick();
  }

  lb::awaitable<void> forward(Exchange& x, RequestObservation& obs) {
    const auto& to = cfg_.timeouts;
    const auto& limits = cfg_.limits;
    auto& r = x.req;
    if (r.method == "CONNECT") {
      respond_error(x, obs, 501, "CONNECT is not supported over HTTP/2");
      co_return;
    }
    // The HTTP/1.1 header: :authority becomes Host, cookie crumbs one Cookie (RFC 9113 §8.2.3).
    http::fields fields;
    std::string cookie;
    std::string_view host_raw = r.authority;
    for (const auto& h : r.headers) {
      if (h.name == "cookie") {
        if (!cookie.empty()) cookie += "; ";
        cookie += h.value;
      } else if (h.name == "host") {
        if (host_raw.empty()) host_raw = h.value;
      } else {
        fields.insert(bsv(h.name), bsv(h.value));
      }
    }
    if (host_raw.empty()) {
      respond_error(x, obs, 400, "a request needs :authority or Host");
      co_return;
    }
    fields.insert(http::field::host, bsv(host_raw));
    if (!cookie.empty()) fields.insert(http::field::cookie, bsv(cookie));
    std::optional<std::uint64_t> content_length;
    if (auto it = fields.find(http::field::content_length); it != fields.end()) {
      std::uint64_t v = 0;
      const auto s = sv(it->value());
      auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc{} || end != s.data() + s.size()) {
        respond_error(x, obs, 400, "malformed content-length");
        co_return;
      }
      content_length = v;
    }
    if (limits.max_body_size > 0 && content_length && *content_length > limits.max_body_size) {
      respond_error(x, obs, 413, "request body too large");
      co_return;
    }
    const bool has_body = !r.end_stream;
    const bool chunked_up = has_body && !content_length;
    if (chunked_up) fields.insert(http::field::transfer_encoding, "chunked");
    const bool is_head = r.method == "HEAD";

    // Route.
    const auto parts = split_target(r.path);
    std::string host;
    normalize_host(host_raw, host);
    FieldsLookup lookup(fields);
    const auto pool_index =
        routing_->router.route({r.method, host, parts.path, &lookup}, &obs.route);
    const PoolConfig* pool = routing_->pools[pool_index];
    const std::string& pool_name = routing_->router.pool_names()[pool_index];
    obs.pool = pool_name;
    if (!pool) {
      respond_error(x, obs, 503, fmt::format("unknown pool {}", pool_name));
      co_return;
    }
    std::optional<std::uint64_t> hash;
    if (uses_hash(pool->balance.algorithm)) {
      HashInputs in{.client = &client_.info.peer.address, .path = parts.path};
      if (pool->balance.hash_key.kind == HashKey::Kind::header) {
        if (auto it = fields.find(bsv(pool->balance.hash_key.name)); it != fields.end()) {
          in.header = sv(it->value());
        }
      }
      if (!cookie.empty()) in.cookie_header = cookie;
      hash = pick_hash(pool->balance, in);
    }
    HttpPersistence persistence;
    persistence.prepare(worker_, *pool, pool_name, fields, client_.info.peer.address, r.path);
    if (!persistence.prefer()) {
      persistence.prefer_backend(
          peer_connection_target(worker_, pool_name, client_.info.peer.address, listener_.name));
    }

    // The request header as the backend gets it.
    const ForwardInfo forward{.client = client_.info.peer.address,
                              .client_text = client_text_,
                              .proto = kTls ? "https" : "http",
                              .host = host_raw};
    std::array<std::string_view, 1> drop;
    std::size_t dropped = 0;
    std::array<AddedField, 1> added;
    std::size_t adds = 0;
    if (kTls && listener_.tls && listener_.tls->verify_client != VerifyClient::none) {
      // mTLS: the backend may trust this header, so a client never gets to send it.
      drop[dropped++] = listener_.tls->client_subject_header;
      if (tls_ && !tls_->client_subject.empty()) {
        added[adds++] = {listener_.tls->client_subject_header, tls_->client_subject};
      }
    }
    // The header string and the response buffer come from the worker's free lists and go back
    // when the exchange ends well: a 16 KiB malloc and free per stream cost more than the
    // HTTP/2 framing of a small response.
    std::string head;
    state_.take(head);
    head.reserve(512);
    head.append(r.method);
    head += ' ';
    head.append(r.path);
    head += " HTTP/1.1\r\n";
    append_rewritten_fields(head, fields,
                            FieldRewrite{.forward = &forward,
                                         .headers = listener_.forward_headers,
                                         .via_version = 20,
                                         .drop = std::span(drop.data(), dropped),
                                         .add = std::span(added.data(), adds),
                                         .cookie = persistence.cookie_rewrite()});

    if (pool->protocol == UpstreamProtocol::h2) {
      co_await forward_h2(x, obs,
                          H2Target{.pool = *pool,
                                   .pool_name = pool_name,
                                   .head = head,
                                   .authority = host_raw,
                                   .hash = hash,
                                   .persistence = persistence});
      co_return;
    }

    Watchdog watch(raw_.get_executor());
    const Backend* avoid = nullptr;
    for (int attempt = 0;; ++attempt) {
      // A retry comes here after the previous attempt's connection was closed: the watchdog
      // must not cancel that socket any more.
      watch.disarm();
      watch.watch(nullptr, nullptr);
      const bool can_retry = attempt == 0 && !has_body;
      const auto acquire_start = Clock::now();
      std::optional<UpstreamConnection> conn;
      bool reused = false;
      PickContext pc{.hash = hash, .avoid = avoid, .prefer = persistence.prefer()};
      if (attempt == 0 && pool->upstream_keepalive > 0 &&
          pool->send_proxy_protocol == ProxyProtocolSend::off) {
        if (const Backend* b = worker_.pick(pool_name, pc)) {
          const UpstreamTlsContext* tls = pool->tls ? pool->tls->context.get() : nullptr;
          if (auto c = state_.upstreams.take(b, Clock::now(), to.server_idle, has_body, tls)) {
            conn.emplace(std::move(*c));
            reused = true;
          } else {
            pc.prefer = b;  // connect to the server just picked
          }
        }
      }
      if (!conn) {
        auto got = co_await worker_.connect_upstream(pool_name, client_.info, pc);
        if (!got) {
          switch (got.error()) {
            case UpstreamError::no_backend:
              respond_error(x, obs, 503, "no healthy backend");
              break;
            case UpstreamError::timeout:
              respond_error(x, obs, 504, "connect to the backend timed out");
              break;
            case UpstreamError::connect_failed:
              respond_error(x, obs, 502, "connect to the backend failed");
              break;
          }
          co_return;
        }
        conn.emplace(std::move(*got));
      }
      if (x.gone) co_return;
      const Backend* backend = conn->lease.backend();
      if (backend) {
        obs.server = backend->name;
        obs.connect =
            reused ? std::nullopt : std::optional<nanoseconds>(Clock::now() - acquire_start);
        obs.sticky = !persistence.active() ? "" : backend == persistence.prefer() ? "hit" : "miss";
        worker_.stats().backend(pool_name, backend->name).requests.add();
      }
      x.upstream = &conn->socket;
      watch.watch(&conn->socket, nullptr);
      UpstreamStream upstream(*conn);
      error_code ec;
      watch.arm(to.server_idle);
      co_await asio::async_write(upstream, asio::buffer(head),
                                 asio::redirect_error(lb::use_awaitable, ec));
      if (ec) {
        x.upstream = nullptr;
        if (x.gone) co_return;
        if (can_retry && reused && !watch.fired()) {
          avoid = backend;
          continue;
        }
        respond_error(x, obs, watch.fired() ? 504 : 502,
                      "writing the request to the backend failed");
        co_return;
      }
      obs.bytes_in += head.size();
      if (has_body) {
        const auto sent = co_await send_body(x, upstream, watch, chunked_up, obs);
        if (sent != 0) {
          x.upstream = nullptr;
          if (sent > 0) respond_error(x, obs, static_cast<unsigned>(sent), "request body failed");
          co_return;
        }
      }

      // Response header (interim 1xx responses are dropped: HTTP/2 clients do not need them).
      const auto waiting_since = Clock::now();
      watch.arm(to.server_response);
      beast::flat_buffer ubuf;
      state_.take(ubuf);
      std::optional<http::response_parser<http::empty_body>> rp;
      bool got_bytes = false;
      for (;;) {
        rp.emplace();
        rp->header_limit(std::max<std::uint32_t>(
            kMaxResponseHeader, static_cast<std::uint32_t>(limits.max_header_size)));
        rp->body_limit(kNoBodyLimit);
        rp->eager(false);
        if (is_head) rp->skip(true);
        while (!ec) {
          if (ubuf.size() > 0) {
            got_bytes = true;
            const auto n = rp->put(ubuf.data(), ec);
            ubuf.consume(n);
            if (ec == http::error::need_more) ec = {};
            if (ec || rp->is_header_done()) break;
          }
          const auto got = co_await upstream.async_read_some(
              ubuf.prepare(kHeaderReadChunk), asio::redirect_error(lb::use_awaitable, ec));
          ubuf.commit(got);
        }
        if (ec) break;
        const auto status = rp->get().result_int();
        if (status >= 200 || status == 101) break;
      }
      if (x.gone) {
        x.upstream = nullptr;
        co_return;
      }
      if (ec) {
        x.upstream = nullptr;
        if (watch.fired()) {
          if (backend) worker_.report(pool_name, *backend, TrafficEvent::timeout);
          respond_error(x, obs, 504, "no response header from the backend in time");
          co_return;
        }
        if (!got_bytes && can_retry && reused) {
          avoid = backend;
          continue;
        }
        respond_error(x, obs, 502, fmt::format("bad response from the backend: {}", ec.message()));
        co_return;
      }
      const auto header_at = Clock::now();
      obs.first_byte = header_at - obs.start;
      if (backend) {
        worker_.stats()
            .backend(pool_name, backend->name)
            .observe_latency(header_at - waiting_since);
        if (pool->balance.algorithm == Algorithm::least_time) {
          record_latency(*backend, header_at - waiting_since, header_at,
                         pool->balance.least_time_decay);
        }
      }
      auto& res = rp->get();
      const unsigned status = res.result_int();
      if (status == 101) {
        x.upstream = nullptr;
        respond_error(x, obs, 502, "101 over HTTP/2");
        co_return;
      }
      obs.status = status;
      persistence.finish(worker_, res.base(), backend);
      if (backend) {
        worker_.report(pool_name, *backend,
                       status >= 500 ? TrafficEvent::http_5xx : TrafficEvent::success);
      }
      std::vector<Header> hs;
      hs.reserve(16);
      for (const auto& f : res.base()) {
        auto name = lower(sv(f.name_string()));
        if (hop_by_hop(name)) continue;
        hs.push_back(Header{std::move(name), std::string(sv(f.value()))});
      }
      for (const auto& a : persistence.set_cookie()) {
        hs.push_back(Header{lower(a.name), std::string(a.value)});
      }
      const bool no_body = rp->is_done();
      const bool keep_upstream = rp->keep_alive();
      if (!session_.submit_response(x.id, status, hs, no_body)) {
        x.upstream = nullptr;
        co_return;
      }
      kick();
      bool complete = no_body;
      if (!no_body) {
        http::response_parser<http::buffer_body> bp(std::move(*rp));
        bp.body_limit(kNoBodyLimit);
        complete = co_await relay_response(x, upstream, ubuf, bp, watch, obs);
        if (complete) {
          session_.end_body(x.id);
        } else if (!x.gone) {
          // The header is out: resetting the stream is the only honest signal left.
          session_.reset(x.id, 2 /* INTERNAL_ERROR */);
        }
        kick();
      }
      x.upstream = nullptr;
      watch.disarm();
      watch.watch(nullptr, nullptr);
      if (complete && keep_upstream && ubuf.size() == 0 &&
          pool->send_proxy_protocol == ProxyProtocolSend::off) {
        state_.upstreams.put(std::move(*conn), Clock::now(), pool->upstream_keepalive);
      }
      ubuf.clear();
      state_.give(ubuf);
      state_.give(head);
      co_return;
    }
  }

  struct H2Target {
    const PoolConfig& pool;
    const std::string& pool_name;
    std::string_view head;       // the rewritten HTTP/1.1 header (fields taken from it)
    std::string_view authority;  // the client's :authority (or Host)
    std::optional<std::uint64_t> hash;
    HttpPersistence& persistence;
  };

  /// An error before the response header: a gRPC client gets a trailers-only response with the
  /// gRPC status that stands for `status` (it reads grpc-status, not :status), others `status`.
  void respond_h2_error(Exchange& x, RequestObservation& obs, bool grpc, unsigned status,
                        std::string_view why, std::optional<GrpcCode> code = std::nullopt) {
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
    if (!x.body_done) {
      x.discard = true;
      session_.consume(x.id, x.body.size());
      x.body.clear();
    }
    kick();
  }

  /// The response is complete before the request body: what still comes is dropped (its
  /// window given back) so that the client can finish sending.
  void drop_request_body(Exchange& x) {
    if (x.body_done) return;
    x.discard = true;
    session_.consume(x.id, x.body.size());
    x.body.clear();
  }

  /// One stream to an HTTP/2 server (pool protocol = "h2"): the request header, then request
  /// and response bodies both ways at once (full duplex: gRPC streaming), trailers both ways.
  /// Each side holds at most its window: the client's request bytes wait in x.body until the
  /// server's stream takes them (then the client's window opens), the server's response bytes
  /// wait in the upstream stream until the client's stream takes them (then the server's
  /// window opens).
  lb::awaitable<void> forward_h2(Exchange& x, RequestObservation& obs, H2Target t) {
    const auto& to = cfg_.timeouts;
    const auto max_body = cfg_.limits.max_body_size;
    const bool grpc = is_grpc(x.req.headers);
    const auto fields =
        upstream_h2_request(UpstreamRequestLine{.method = x.req.method,
                                                .scheme = t.pool.tls ? "https" : "http",
                                                .authority = t.authority,
                                                .path = x.req.path,
                                                .te_trailers = wants_trailers(x.req.headers)},
                            t.head);
    const bool has_body = !x.req.end_stream;
    for (int attempt = 0;; ++attempt) {
      const auto acquire_start = Clock::now();
      PickContext pc{.hash = t.hash, .prefer = t.persistence.prefer()};
      auto opened =
          co_await state_.h2_upstreams.open(t.pool, to.server_idle, to.connect, client_.info, pc,
                                            fields, has_body, [&x] { x.signal.notify(); });
      if (!opened) {
        switch (opened.error()) {
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
        co_return;
      }
      auto up = std::move(*opened);
      if (x.gone) co_return;  // destroying `up` resets the upstream stream
      const Backend* backend = up->backend();
      if (backend) {
        obs.server = backend->name;
        obs.connect = Clock::now() - acquire_start;
        obs.sticky = !t.persistence.active()             ? ""
                     : backend == t.persistence.prefer() ? "hit"
                                                         : "miss";
        worker_.stats().backend(t.pool_name, backend->name).requests.add();
      }
      std::uint64_t sent = 0;
      bool request_done = !has_body;
      bool header_out = false;
      auto request_done_at = Clock::now();
      auto last_progress = Clock::now();
      for (;;) {
        bool progress = false;
        // Request body (and trailers) toward the server.
        if (!request_done && !x.gone) {
          if (!x.body.empty()) {
            const auto n = up->write_body(
                std::span(reinterpret_cast<const std::uint8_t*>(x.body.data()), x.body.size()));
            if (n > 0) {
              sent += n;
              if (max_body > 0 && sent > max_body) {
                up->cancel();
                if (!header_out) {
                  respond_h2_error(x, obs, grpc, 413, "request body too large");
                } else {
                  session_.reset(x.id, 8 /* CANCEL */);
                  kick();
                }
                co_return;
              }
              x.body.erase(0, n);
              session_.consume(x.id, n);
              obs.bytes_in += n;
              progress = true;
            }
          }
          if (x.body.empty() && x.body_done) {
            up->end_body(x.trailers);
            request_done = true;
            request_done_at = Clock::now();
            progress = true;
          }
        }
        // Response header.
        if (!header_out && up->status != 0) {
          header_out = true;
          progress = true;
          const auto now = Clock::now();
          obs.first_byte = now - obs.start;
          obs.status = up->status;
          http::fields res;
          std::vector<Header> hs;
          hs.reserve(up->fields.size() + 1);
          for (auto& f : up->fields) {
            res.insert(bsv(f.name), bsv(f.value));
            hs.push_back(std::move(f));
          }
          t.persistence.finish(worker_, res, backend);
          for (const auto& a : t.persistence.set_cookie()) {
            hs.push_back(Header{lower(a.name), std::string(a.value)});
          }
          if (backend) {
            worker_.stats()
                .backend(t.pool_name, backend->name)
                .observe_latency(now - request_done_at);
            if (t.pool.balance.algorithm == Algorithm::least_time) {
              record_latency(*backend, now - request_done_at, now, t.pool.balance.least_time_decay);
            }
            worker_.report(t.pool_name, *backend,
                           up->status >= 500 ? TrafficEvent::http_5xx : TrafficEvent::success);
          }
          const bool end_now = up->ended && up->body.empty() && up->trailers.empty();
          if (!session_.submit_response(x.id, up->status, hs, end_now)) co_return;
          kick();
          if (end_now) {
            if (!request_done) drop_request_body(x);
            co_return;
          }
        }
        // Response body toward the client, as its window allows.
        if (header_out && !up->body.empty() && !x.gone) {
          const auto took = session_.write_body(
              x.id,
              std::span(reinterpret_cast<const std::uint8_t*>(up->body.data()), up->body.size()));
          if (took > 0) {
            up->body.erase(0, took);
            up->consume(took);
            obs.bytes_out += took;
            progress = true;
          }
        }
        if (header_out && up->ended && up->body.empty()) {
          session_.end_body(x.id, up->trailers);
          if (!request_done) drop_request_body(x);  // answered before the request ended
          kick();
          co_return;
        }
        if (x.gone) co_return;
        if (up->closed && !up->ended) {
          if (header_out) {
            // The header is out: pass the reset on (a gRPC client maps its code to a status).
            session_.reset(x.id, up->error < 0x100 ? up->error : 2 /* INTERNAL_ERROR */);
            kick();
            co_return;
          }
          // Not processed by the server (refused: a GOAWAY race), or safe to repeat (an
          // idempotent request without body whose connection failed before the response
          // header): one more attempt, on another connection.
          const bool idempotent =
              x.req.method == "GET" || x.req.method == "HEAD" || x.req.method == "OPTIONS";
          const bool unprocessed = up->error == 7 /* REFUSED_STREAM */ ||
                                   (up->error == kH2ConnectionFailed && !has_body && idempotent);
          if (attempt == 0 && unprocessed && sent == 0) break;
          if (backend) worker_.report(t.pool_name, *backend, TrafficEvent::connect_failure);
          if (up->error == kH2ConnectionFailed) {
            respond_h2_error(x, obs, grpc, 502, "the connection to the backend failed");
          } else {
            respond_h2_error(x, obs, grpc, 502,
                             fmt::format("the backend reset the stream (code {})", up->error),
                             grpc_code_for_reset(up->error));
          }
          co_return;
        }
        if (progress) {
          last_progress = Clock::now();
          kick();
          continue;
        }
        // Wait for the client, the server or a deadline: server_response for the response
        // header once the request went out, server_idle between response bytes, client_idle
        // while the request body is awaited.
        // Response bytes waiting for the client's window: the client is slow, not the server;
        // the session's stall defence (client_idle) resets such a stream, this is a backstop.
        const bool client_window = header_out && !up->body.empty();
        const auto deadline = client_window                 ? last_progress + 2 * to.client_idle
                              : !header_out && request_done ? request_done_at + to.server_response
                              : header_out
                                  ? last_progress + to.server_idle
                                  : last_progress + std::max(to.client_idle, to.server_response);
        if (co_await x.signal.wait_until(deadline)) continue;
        if (Clock::now() < deadline) continue;
        up->cancel();
        if (x.gone) co_return;
        if (header_out) {
          log_->warn("h2: stream reset listener={} client={} path={} why={}", listener_.name,
                     peer_text_, x.req.path,
                     client_window ? "the client does not read the response"
                                   : "no response bytes from the backend for server_idle");
          session_.reset(x.id, 2 /* INTERNAL_ERROR */);
          kick();
        } else if (request_done) {
          if (backend) worker_.report(t.pool_name, *backend, TrafficEvent::timeout);
          respond_h2_error(x, obs, grpc, 504, "no response header from the backend in time");
        } else if (!x.body.empty()) {
          // The client's bytes wait for the server's window: the server stopped reading.
          if (backend) worker_.report(t.pool_name, *backend, TrafficEvent::timeout);
          respond_h2_error(x, obs, grpc, 504, "the backend does not take the request body");
        } else {
          respond_h2_error(x, obs, grpc, 408, "request body timeout");
        }
        co_return;
      }
    }
  }

  /// Streams the request body of `x` to the backend (re-chunked when it has no length).
  /// Returns 0 on success, an error status to answer, or -1 when nobody is left to answer.
  lb::awaitable<int> send_body(Exchange& x, UpstreamStream& upstream, Watchdog& watch, bool chunked,
                               RequestObservation& obs) {
    const auto& to = cfg_.timeouts;
    const auto max = cfg_.limits.max_body_size;
    std::uint64_t total = 0;
    std::string chunk;
    error_code ec;
    for (;;) {
      if (!x.body.empty()) {
        chunk.clear();
        chunk.swap(x.body);
        total += chunk.size();
        if (max > 0 && total > max) co_return 413;
        std::string frame;
        if (chunked) frame = fmt::format("{:x}\r\n", chunk.size());
        std::array<asio::const_buffer, 3> out{asio::buffer(frame), asio::buffer(chunk),
                                              asio::buffer(chunked ? "\r\n" : "", chunked ? 2 : 0)};
        watch.arm(to.server_idle);
        co_await asio::async_write(upstream, out, asio::redirect_error(lb::use_awaitable, ec));
        if (x.gone) co_return -1;
        if (ec) co_return watch.fired() ? 504 : 502;
        session_.consume(x.id, chunk.size());
        obs.bytes_in += chunk.size();
        kick();
        continue;
      }
      if (x.body_done) break;
      if (x.gone) co_return -1;
      if (!co_await x.signal.wait_until(Clock::now() + to.client_idle)) co_return 408;
    }
    if (chunked) {
      static constexpr std::string_view kLast = "0\r\n\r\n";
      watch.arm(to.server_idle);
      co_await asio::async_write(upstream, asio::buffer(kLast.data(), kLast.size()),
                                 asio::redirect_error(lb::use_awaitable, ec));
      if (x.gone) co_return -1;
      if (ec) co_return 502;
    }
    co_return 0;
  }

  /// Decodes the backend's response body (length, chunked or until close) and queues it on the
  /// stream as the client's window allows. True when the whole body went out.
  lb::awaitable<bool> relay_response(Exchange& x, UpstreamStream& upstream,
                                     beast::flat_buffer& ubuf,
                                     http::response_parser<http::buffer_body>& p, Watchdog& watch,
                                     RequestObservation& obs) {
    const auto& to = cfg_.timeouts;
    // The decoded body passes through here; a short body known by its length gets a buffer of
    // its size (left uninitialised: the parser writes before anything reads).
    const auto length = p.content_length();
    const std::size_t scratch_size =
        length ? static_cast<std::size_t>(std::clamp<std::uint64_t>(*length, 1, kBodyChunk))
               : kBodyChunk;
    const auto scratch = std::make_unique_for_overwrite<std::uint8_t[]>(scratch_size);
    error_code ec;
    p.eager(true);
    while (!p.is_done()) {
      p.get().body().data = scratch.get();
      p.get().body().size = scratch_size;
      std::size_t used = 0;
      if (ubuf.size() > 0) {
        used = p.put(ubuf.data(), ec);
        ubuf.consume(used);
        if (ec == http::error::need_buffer || ec == http::error::need_more) {
          ec = {};
        } else if (ec) {
          co_return false;
        }
      }
      const std::size_t produced = scratch_size - p.get().body().size;
      for (std::size_t off = 0; off < produced;) {
        if (x.gone) co_return false;
        const auto took = session_.write_body(x.id, std::span(scratch.get() + off, produced - off));
        if (took > 0) {
          off += took;
          kick();
          continue;
        }
        if (!co_await x.signal.wait_until(Clock::now() + to.client_idle)) co_return false;
      }
      obs.bytes_out += produced;
      if (p.is_done()) break;
      if (used == 0 && produced == 0) {
        watch.arm(to.server_idle);
        const auto got = co_await upstream.async_read_some(
            ubuf.prepare(kReadChunk), asio::redirect_error(lb::use_awaitable, ec));
        ubuf.commit(got);
        if (x.gone) co_return false;
        if (ec == asio::error::eof) {
          p.put_eof(ec);
          if (ec) co_return false;
          break;
        }
        if (ec) co_return false;
      }
    }
    co_return true;
  }

  WorkerContext& worker_;
  ClientConnection& client_;
  Stream& stream_;
  tcp::socket& raw_;
  const Config& cfg_;
  const ListenerConfig& listener_;
  HttpWorkerState& state_;
  std::shared_ptr<spdlog::logger> log_;
  admin::ListenerCounters& lstats_;
  const TlsConnectionInfo* tls_;
  std::shared_ptr<const Routing> routing_;
  std::string peer_text_;
  std::string client_text_;
  Signal writer_wake_;
  Signal tasks_done_;
  asio::steady_timer tick_;
  Watchdog write_watch_;
  std::unordered_map<std::int32_t, std::shared_ptr<Exchange>> exchanges_;
  std::size_t tasks_ = 0;
  Clock::time_point started_{};
  Clock::time_point last_activity_{};
  bool had_stream_ = false;
  bool finished_ = false;  // the writer is done: nothing more goes out
  bool dead_ = false;      // the client is gone or failed: stop at once
  bool logged_defence_ = false;
  // Last: its destructor must not call back into the members above.
  ServerSession session_;
};

}  // namespace

lb::awaitable<void> serve_h2c(WorkerContext& worker, ClientConnection& client, tcp::socket& socket,
                              std::string_view already) {
  Connection<tcp::socket> c(worker, client, socket, socket, nullptr);
  co_await c.run(already);
}

lb::awaitable<void> serve_h2_tls(WorkerContext& worker, ClientConnection& client,
                                 asio::ssl::stream<tcp::socket>& stream,
                                 const TlsConnectionInfo& tls) {
  Connection<asio::ssl::stream<tcp::socket>> c(worker, client, stream, stream.next_layer(), &tls);
  co_await c.run({});
}

}  // namespace lbd::h2
