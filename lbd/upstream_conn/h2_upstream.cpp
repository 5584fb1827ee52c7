// Upstream HTTP/2 connections (see h2_upstream.hpp): one reader and one writer coroutine around
// an H2ClientSession per connection, and the per-worker lists that streams are placed on.
#include "lbd/upstream_conn/h2_upstream.hpp"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <optional>
#include <string_view>

#include "lbd/session/deadline.hpp"
#include "lbd/upstream_conn/upstream_tls_stream.hpp"
#include "lbd/upstream_conn/wake_signal.hpp"

namespace lbd::proxy {

namespace {
using Clock = std::chrono::steady_clock;
constexpr std::size_t kReadChunk = 16 * 1024;
// How often an idle connection looks at its idle deadline and the worker's drain.
constexpr auto kTick = std::chrono::milliseconds(500);
// Streams that may wait for one connection being established (nghttp2's limit before SETTINGS).
constexpr std::size_t kWaitersPerConnect = 100;
// Connects open() may start for one stream (after each, it finds room or the connect failed);
// waits for connects that other streams started are bounded by the connect timeout instead.
constexpr int kConnectsPerStream = 2;
}  // namespace

struct H2UpstreamPool::Lists {
  std::unordered_map<const Backend*, std::vector<std::shared_ptr<H2Connection>>> by_backend;
  void remove(const Backend* key, const H2Connection* c) {
    auto it = by_backend.find(key);
    if (it == by_backend.end()) return;
    std::erase_if(it->second, [c](const auto& p) { return p.get() == c; });
    if (it->second.empty()) by_backend.erase(it);
  }
};

class H2Connection final : public std::enable_shared_from_this<H2Connection>,
                           public H2ClientHandler {
 public:
  // connecting: TCP (and TLS); handshake: the preface went out, the server's SETTINGS (its
  // stream limit) not yet in; open: takes streams while the session has room.
  enum class State { connecting, handshake, open, closed };

  H2Connection(WorkerContext& worker, std::weak_ptr<H2UpstreamPool::Lists> lists,
               const Backend* key, std::chrono::nanoseconds server_idle,
               std::chrono::nanoseconds connect_timeout)
      : worker_(worker),
        lists_(std::move(lists)),
        key_(key),
        server_idle_(server_idle),
        connect_timeout_(connect_timeout),
        wake_(worker.io().get_executor()),
        session_(*this, H2ClientLimits{}) {}

  State state() const { return state_; }
  const Backend* key() const { return key_; }
  const Backend* backend() const { return conn_ ? conn_->lease.backend() : nullptr; }
  bool has_room() const { return state_ == State::open && session_.can_open(); }
  std::size_t& waiters() { return waiters_; }

  bool establishing() const { return state_ == State::connecting || state_ == State::handshake; }

  /// Waits until the connection is open (the server's SETTINGS arrived) or failed.
  lb::awaitable<void> wait_connected() {
    WakeSignal signal(worker_.io().get_executor());
    ready_.push_back(&signal);
    while (establishing()) co_await signal.wait();
    std::erase(ready_, &signal);
  }

  /// The connect (or the SETTINGS handshake) failed.
  bool failed_connect() const { return failed_connect_; }

  /// The connect failed: wakes the streams waiting for it and leaves the lists.
  void connect_failed() {
    failed_connect_ = true;
    state_ = State::closed;
    leave_lists();
    wake_ready();
  }

  /// Takes the connected socket; false when it cannot speak HTTP/2 (ALPN chose something else).
  bool start(UpstreamConnection conn, std::string_view pool) {
    if (state_ == State::closed) return false;  // abandoned while connecting: the worker stops
    conn_.emplace(std::move(conn));
    const Backend* b = conn_->lease.backend();
    if (conn_->tls) {
      const unsigned char* proto = nullptr;
      unsigned len = 0;
      SSL_get0_alpn_selected(conn_->tls->stream.native_handle(), &proto, &len);
      if (len != 2 || std::string_view(reinterpret_cast<const char*>(proto), len) != "h2") {
        worker_.logger()->warn("h2: upstream pool={} server={} did not select h2 by ALPN", pool,
                               b ? b->name : std::string("?"));
        if (b) worker_.report(pool, *b, TrafficEvent::connect_failure);
        conn_.reset();
        connect_failed();
        return false;
      }
    }
    if (b != key_) {
      // connect_upstream went to another server than the one picked: file it under that one.
      if (auto lists = lists_.lock()) {
        auto self = shared_from_this();
        lists->remove(key_, this);
        key_ = b;
        lists->by_backend[key_].push_back(self);
      }
    }
    // The connection itself is not counted in Backend::active: its streams are, one each
    // while they last, so that least_conn / least_time weigh requests in flight as for
    // HTTP/1.1 pools, and max_connections bounds them.
    conn_->lease.park();
    state_ = State::handshake;
    idle_since_ = handshake_since_ = Clock::now();
    auto self = shared_from_this();
    spawn(reader(self));
    spawn(writer(self));
    return true;
  }

  std::int32_t submit(std::span<const H2Field> fields, bool has_body, H2UpstreamStream* s) {
    const auto id = session_.submit_request(fields, has_body);
    if (id < 0) return id;
    streams_[id] = s;
    kick();
    return id;
  }

  /// The stream object is going away: reset the stream if it is still open.
  void detach(std::int32_t id, bool still_open) {
    streams_.erase(id);
    if (state_ != State::open) return;
    if (still_open) session_.reset(id, NGHTTP2_CANCEL);
    kick();
  }

  H2ClientSession& session() { return session_; }
  bool open() const { return state_ == State::open; }
  void kick() { wake_.notify(); }

  /// The worker is going away: close the socket without calling anyone back.
  void abandon() {
    state_ = State::closed;
    streams_.clear();
    if (conn_) {
      lb::error_code ignored;
      conn_->socket.close(ignored);
    }
  }

  // ---- H2ClientHandler ----
  void on_response(std::int32_t id, unsigned status, std::vector<H2Field>&& fields, bool) override {
    if (auto* s = find(id)) {
      s->status = status;
      s->fields = std::move(fields);
      s->notify();
    }
  }
  void on_data(std::int32_t id, std::span<const std::uint8_t> data) override {
    if (auto* s = find(id)) {
      s->body.append(reinterpret_cast<const char*>(data.data()), data.size());
      s->notify();
    } else {
      session_.consume(id, data.size());
    }
  }
  void on_end(std::int32_t id, std::vector<H2Field>&& trailers) override {
    if (auto* s = find(id)) {
      s->ended = true;
      s->trailers = std::move(trailers);
      s->notify();
    }
  }
  void on_writable(std::int32_t id) override {
    if (auto* s = find(id)) s->notify();
  }
  void on_close(std::int32_t id, std::uint32_t code) override {
    auto it = streams_.find(id);
    if (session_.open_streams() == 0) idle_since_ = Clock::now();
    if (it == streams_.end()) return;
    auto* s = it->second;
    streams_.erase(it);
    s->closed = true;
    if (!s->ended) s->error = code != 0 ? code : std::uint32_t{NGHTTP2_INTERNAL_ERROR};
    s->notify();
  }

 private:
  H2UpstreamStream* find(std::int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second;
  }

  template <typename Task>
  void spawn(Task task) {
    lb::asio::co_spawn(worker_.io(), std::move(task),
                       [log = worker_.logger()](std::exception_ptr e) {
                         if (!e) return;
                         try {
                           std::rethrow_exception(e);
                         } catch (const std::exception& ex) {
                           log->error("h2 upstream: exception: {}", ex.what());
                         }
                       });
  }

  void wake_ready() {
    for (auto* s : ready_) s->notify();
  }

  void leave_lists() {
    if (auto lists = lists_.lock()) lists->remove(key_, this);
  }

  lb::awaitable<void> reader(std::shared_ptr<H2Connection>) {
    std::vector<std::uint8_t> buf(kReadChunk);
    UpstreamStream up(*conn_);
    while (running()) {
      lb::error_code ec;
      const auto got = co_await up.async_read_some(lb::asio::buffer(buf),
                                                   lb::asio::redirect_error(lb::use_awaitable, ec));
      if (ec || !running()) {
        if (ec == lb::asio::error::eof) {
          why_ = "closed by the server";
        } else if (ec) {
          why_ = "read failed";
        }
        break;
      }
      const bool more = session_.receive(std::span(buf.data(), got));
      if (state_ == State::handshake && session_.settings_received()) {
        state_ = State::open;
        wake_ready();
      }
      kick();
      if (!more) {
        if (session_.failed()) why_ = "HTTP/2 protocol error from the server";
        break;
      }
    }
    // The writer sends what is left (a GOAWAY, RST_STREAMs) and then closes.
    reading_done_ = true;
    if (session_.done() || !running()) finish();
    kick();
  }

  lb::awaitable<void> writer(std::shared_ptr<H2Connection>) {
    UpstreamStream up(*conn_);
    while (running()) {
      const auto out = session_.output();
      if (out.empty()) {
        if (session_.done() || reading_done_) break;
        const auto now = Clock::now();
        if (state_ == State::handshake && now - handshake_since_ >= connect_timeout_) {
          worker_.logger()->warn(
              "h2: upstream server={} sent no SETTINGS within the connect "
              "timeout",
              backend() ? backend()->name : std::string("?"));
          why_ = "no SETTINGS";
          break;
        }
        if (session_.open_streams() == 0 &&
            (worker_.draining() || now - idle_since_ >= server_idle_)) {
          // Idle for server_idle (or the worker stops): GOAWAY, then close.
          session_.shutdown();
          continue;
        }
        co_await wake_.wait_until(now + kTick);
        continue;
      }
      lb::error_code ec;
      bool expired = false;
      {
        SocketDeadline deadline(conn_->socket, server_idle_);
        co_await lb::asio::async_write(up, lb::asio::buffer(out.data(), out.size()),
                                       lb::asio::redirect_error(lb::use_awaitable, ec));
        expired = deadline.expired();
      }
      session_.clear_output();
      if (ec || expired) {
        why_ = expired ? "write timeout (server_idle)" : "write failed";
        break;
      }
    }
    finish();
  }

  bool running() const { return state_ == State::handshake || state_ == State::open; }

  /// Closes the connection: its open streams end with kH2ConnectionFailed.
  void finish() {
    if (state_ == State::closed) return;
    if (state_ == State::handshake) failed_connect_ = true;
    state_ = State::closed;
    leave_lists();
    wake_ready();
    // Logged once per connection; at warn when it took streams down with it.
    const auto name = backend() ? backend()->name : std::string("?");
    if (!streams_.empty()) {
      worker_.logger()->warn("h2: upstream connection server={} ended with {} open streams: {}",
                             name, streams_.size(), why_);
    } else {
      worker_.logger()->debug("h2: upstream connection server={} ended: {}", name, why_);
    }
    lb::error_code ignored;
    conn_->socket.close(ignored);  // ends the reader's pending read
    wake_.notify();
    auto streams = std::move(streams_);
    streams_.clear();
    for (auto& [id, s] : streams) {
      s->closed = true;
      if (!s->ended && s->error == 0) s->error = kH2ConnectionFailed;
      s->notify();
    }
  }

  WorkerContext& worker_;
  std::weak_ptr<H2UpstreamPool::Lists> lists_;
  const Backend* key_;  // the server it is filed under (picked; compared, never dereferenced)
  std::chrono::nanoseconds server_idle_;
  std::chrono::nanoseconds connect_timeout_;
  std::optional<UpstreamConnection> conn_;
  State state_ = State::connecting;
  WakeSignal wake_;                 // the writer's
  std::vector<WakeSignal*> ready_;  // streams waiting for the connect
  std::size_t waiters_ = 0;
  std::unordered_map<std::int32_t, H2UpstreamStream*> streams_;
  Clock::time_point idle_since_{};
  Clock::time_point handshake_since_{};
  bool reading_done_ = false;
  bool failed_connect_ = false;    // closed before it was ever open
  std::string_view why_ = "done";  // why it ended, for the log
  // Last: its destructor must not call back into the members above.
  H2ClientSession session_;
};

// ---- H2UpstreamStream ----

H2UpstreamStream::H2UpstreamStream(std::shared_ptr<H2Connection> conn, std::function<void()> w)
    : conn_(std::move(conn)), wake(std::move(w)) {}

H2UpstreamStream::~H2UpstreamStream() {
  if (counted_) counted_->active.fetch_sub(1, std::memory_order_relaxed);
  if (conn_ && id_ >= 0) conn_->detach(id_, !closed);
}

const Backend* H2UpstreamStream::backend() const { return conn_ ? conn_->backend() : nullptr; }

std::size_t H2UpstreamStream::writable() const {
  if (closed || !conn_->open()) return 0;
  return conn_->session().writable(id_);
}

std::size_t H2UpstreamStream::write_body(std::span<const std::uint8_t> bytes) {
  if (closed || !conn_->open()) return 0;
  const auto n = conn_->session().write_body(id_, bytes);
  if (n > 0) conn_->kick();
  return n;
}

void H2UpstreamStream::end_body(std::span<const H2Field> t) {
  if (closed || !conn_->open()) return;
  conn_->session().end_body(id_, t);
  conn_->kick();
}

void H2UpstreamStream::consume(std::size_t n) {
  if (closed || !conn_->open()) return;
  conn_->session().consume(id_, n);
  conn_->kick();
}

void H2UpstreamStream::cancel() {
  if (closed || !conn_->open()) return;
  conn_->session().reset(id_, NGHTTP2_CANCEL);
  conn_->kick();
}

// ---- H2UpstreamPool ----

H2UpstreamPool::H2UpstreamPool(WorkerContext& worker)
    : worker_(worker), lists_(std::make_shared<Lists>()) {}

H2UpstreamPool::~H2UpstreamPool() {
  for (auto& [key, list] : lists_->by_backend) {
    for (auto& c : list) c->abandon();
  }
}

std::size_t H2UpstreamPool::connections(const Backend* backend) const {
  auto it = lists_->by_backend.find(backend);
  return it == lists_->by_backend.end() ? 0 : it->second.size();
}

std::size_t H2UpstreamPool::connections() const {
  std::size_t n = 0;
  for (const auto& [key, list] : lists_->by_backend) n += list.size();
  return n;
}

lb::awaitable<std::expected<std::unique_ptr<H2UpstreamStream>, UpstreamError>> H2UpstreamPool::open(
    const PoolConfig& pool, std::chrono::nanoseconds server_idle,
    std::chrono::nanoseconds connect_timeout, const ClientInfo& client, PickContext pc,
    std::span<const H2Field> fields, bool has_body, std::function<void()> wake) {
  // Locals, not members, after a suspension: the pool may be gone when the worker stops.
  WorkerContext& worker = worker_;
  const auto lists = lists_;
  // A stream that finds every connection full or establishing waits for one connect after
  // another; each wait ends within the connect timeout, and all of them within this.
  const auto give_up = Clock::now() + 2 * connect_timeout;
  int full = 0;
  for (int connects = 0;;) {
    if (Clock::now() >= give_up) co_return std::unexpected(UpstreamError::timeout);
    const Backend* b = worker.pick(pool.name, pc);
    if (!b) co_return std::unexpected(UpstreamError::no_backend);
    if (b->max_connections != 0 &&
        b->active.load(std::memory_order_relaxed) >= b->max_connections) {
      // Full: max_connections bounds the streams in flight to a server of an h2 pool.
      if (pc.avoid == b || ++full > 1) co_return std::unexpected(UpstreamError::no_backend);
      pc.avoid = b;
      continue;
    }
    std::shared_ptr<H2Connection> room;
    std::shared_ptr<H2Connection> connecting;
    if (auto it = lists->by_backend.find(b); it != lists->by_backend.end()) {
      for (const auto& c : it->second) {
        if (c->has_room()) {
          room = c;
          break;
        }
        if (!connecting && c->establishing() && c->waiters() < kWaitersPerConnect) {
          connecting = c;
        }
      }
    }
    if (room) {
      auto s = std::make_unique<H2UpstreamStream>(room, std::move(wake));
      s->id_ = room->submit(fields, has_body, s.get());
      if (s->id_ >= 0) {
        // Streams in flight are what Backend::active counts for an h2 pool (see start()).
        s->counted_ = room->backend();
        if (s->counted_) s->counted_->active.fetch_add(1, std::memory_order_relaxed);
        co_return s;
      }
      wake = std::move(s->wake);
      continue;
    }
    if (connecting) {
      ++connecting->waiters();
      co_await connecting->wait_connected();
      --connecting->waiters();
      // The connect this stream waited for failed (after the pool's connect_retries): so does
      // the stream, rather than every waiter trying again on its own.
      if (connecting->failed_connect()) co_return std::unexpected(UpstreamError::connect_failed);
      continue;
    }
    if (++connects > kConnectsPerStream) break;
    auto c = std::make_shared<H2Connection>(worker, lists, b, server_idle, connect_timeout);
    lists->by_backend[b].push_back(c);
    PickContext cpc = pc;
    cpc.prefer = b;  // connect to the server just picked
    auto got = co_await worker.connect_upstream(pool.name, client, cpc);
    if (!got) {
      c->connect_failed();
      co_return std::unexpected(got.error());
    }
    if (!c->start(std::move(*got), pool.name)) {
      co_return std::unexpected(UpstreamError::connect_failed);
    }
    co_await c->wait_connected();
    if (c->state() != H2Connection::State::open) {
      co_return std::unexpected(UpstreamError::connect_failed);
    }
  }
  co_return std::unexpected(UpstreamError::connect_failed);
}

}  // namespace lbd::proxy
