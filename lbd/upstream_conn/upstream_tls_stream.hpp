// TLS over an upstream connection's socket, and UpstreamStream: the byte stream the L7 session
// reads and writes a backend through (TLS when the connection has it, else the raw socket).
// Includes Asio SSL: only the L7 session's .cpp files and upstream_tls.cpp include it.
#pragma once

#include <memory>
#include <utility>

#include "common/asio_ssl.hpp"
#include "lbd/session/worker_context.hpp"
#include "lbd/tls/upstream_tls_context.hpp"
#include "lbd/upstream_conn/upstream_tls.hpp"

namespace lbd::proxy {

/// The next layer of an upstream ssl::stream: a re-pointable reference to the connection's
/// socket, so that the socket stays a plain member of UpstreamConnection (which moves between
/// the session and the keep-alive pool; see rebind_upstream_tls). The synchronous operations
/// exist for the idle probe only and expect the socket in non-blocking mode.
class SocketRef {
 public:
  using lowest_layer_type = lb::tcp::socket::lowest_layer_type;
  using executor_type = lb::tcp::socket::executor_type;

  explicit SocketRef(lb::tcp::socket& s) : s_(&s) {}
  void rebind(lb::tcp::socket& s) { s_ = &s; }

  executor_type get_executor() { return s_->get_executor(); }
  lowest_layer_type& lowest_layer() { return s_->lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return s_->lowest_layer(); }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& b, Token&& token) {
    return s_->async_read_some(b, std::forward<Token>(token));
  }
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    return s_->async_write_some(b, std::forward<Token>(token));
  }
  template <typename Buffers>
  std::size_t read_some(const Buffers& b, lb::error_code& ec) {
    return s_->read_some(b, ec);
  }
  template <typename Buffers>
  std::size_t write_some(const Buffers& b, lb::error_code& ec) {
    return s_->write_some(b, ec);
  }

 private:
  lb::tcp::socket* s_;
};

/// The TLS state of one upstream connection; it keeps its pool's context alive.
class UpstreamTls {
 public:
  UpstreamTls(lb::tcp::socket& socket, std::shared_ptr<const UpstreamTlsContext> ctx)
      : stream(SocketRef(socket), ctx->asio_context()), context(std::move(ctx)) {}
  lb::asio::ssl::stream<SocketRef> stream;
  std::shared_ptr<const UpstreamTlsContext> context;
};

/// An AsyncReadStream / AsyncWriteStream view of an UpstreamConnection: TLS when it has TLS,
/// else its socket. Cheap; must not outlive the connection object it views (the connection may
/// not move while an operation is pending).
class UpstreamStream {
 public:
  using executor_type = lb::tcp::socket::executor_type;

  explicit UpstreamStream(UpstreamConnection& c) : c_(&c) {}
  executor_type get_executor() { return c_->socket.get_executor(); }
  UpstreamConnection& connection() { return *c_; }

  template <typename Buffers, typename Token>
  auto async_read_some(const Buffers& b, Token&& token) {
    return lb::asio::async_initiate<Token, void(lb::error_code, std::size_t)>(Read{c_}, token, b);
  }
  template <typename Buffers, typename Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    return lb::asio::async_initiate<Token, void(lb::error_code, std::size_t)>(Write{c_}, token, b);
  }

 private:
  struct Read {
    UpstreamConnection* c;
    template <typename Handler, typename Buffers>
    void operator()(Handler&& h, const Buffers& b) const {
      if (c->tls) {
        c->tls->stream.async_read_some(b, std::forward<Handler>(h));
      } else {
        c->socket.async_read_some(b, std::forward<Handler>(h));
      }
    }
  };
  struct Write {
    UpstreamConnection* c;
    template <typename Handler, typename Buffers>
    void operator()(Handler&& h, const Buffers& b) const {
      if (c->tls) {
        c->tls->stream.async_write_some(b, std::forward<Handler>(h));
      } else {
        c->socket.async_write_some(b, std::forward<Handler>(h));
      }
    }
  };
  UpstreamConnection* c_;
};

}  // namespace lbd::proxy
