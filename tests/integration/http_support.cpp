#include "tests/integration/http_support.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <sstream>

#include <fmt/format.h>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/write.hpp>

namespace lbtest {

namespace {

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

template <class Parser>
bool read_into(Parser& p, int fd, std::string& buf) {
  boost::system::error_code ec;
  for (int rounds = 0; rounds < 1'000'000; ++rounds) {
    if (!buf.empty()) {
      const auto n = p.put(boost::asio::buffer(buf.data(), buf.size()), ec);
      buf.erase(0, n);
      if (ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        return false;
      }
      if (p.is_done()) return true;
      if (n > 0 && !buf.empty()) continue;
    }
    char chunk[65536];
    const auto got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got == 0) {
      if (!p.got_some()) return false;  // closed between messages
      p.put_eof(ec);
      return !ec && p.is_done();
    }
    if (got < 0) return false;
    buf.append(chunk, static_cast<std::size_t>(got));
  }
  return false;
}

}  // namespace

Origin::Origin(std::string name, Respond respond)
    : name_(std::move(name)), respond_(std::move(respond)) {
  if (!respond_) {
    respond_ = [name = name_](const Request& req) {
      Response res{http::status::ok, 11};
      res.set("X-Backend", name);
      res.body() = name + " " + std::string(req.target());
      res.prepare_payload();
      return res;
    };
  }
}

TestBackend::Handler Origin::handler() {
  return [this](int fd) {
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string buf;
    for (int i = 0; i < 100000; ++i) {
      auto req = read_request(fd, buf);
      if (!req) return;
      {
        std::lock_guard lock(mutex_);
        seen_.push_back(*req);
      }
      auto res = respond_(*req);
      const bool close = !req->keep_alive() || !res.keep_alive();
      if (!send_all(fd, to_wire(res)) || close) return;
    }
  };
}

std::vector<Request> Origin::seen() const {
  std::lock_guard lock(mutex_);
  return seen_;
}

std::size_t Origin::count() const {
  std::lock_guard lock(mutex_);
  return seen_.size();
}

Origin::Respond Origin::echo(bool chunked) {
  return [chunked](const Request& req) {
    Response res{http::status::ok, 11};
    res.body() = req.body();
    if (chunked) {
      res.chunked(true);
    } else {
      res.prepare_payload();
    }
    return res;
  };
}

std::string to_wire(const Request& req) {
  std::ostringstream os;
  os << req;
  return os.str();
}

std::string to_wire(const Response& res) {
  std::ostringstream os;
  os << res;
  return os.str();
}

std::optional<Response> read_response(int fd, std::string& buf, bool head) {
  http::response_parser<http::string_body> p;
  p.body_limit(kNoLimit);
  p.header_limit(1024 * 1024);
  if (head) p.skip(true);
  if (!read_into(p, fd, buf)) return std::nullopt;
  return p.release();
}

std::optional<Request> read_request(int fd, std::string& buf) {
  http::request_parser<http::string_body> p;
  p.body_limit(kNoLimit);
  p.header_limit(1024 * 1024);
  if (!read_into(p, fd, buf)) return std::nullopt;
  return p.release();
}

std::optional<Response> round_trip(const lb::Endpoint& ep, std::string_view raw) {
  const int fd = connect_to(ep);
  if (fd < 0) return std::nullopt;
  std::string buf;
  std::optional<Response> res;
  if (send_all(fd, raw)) res = read_response(fd, buf);
  ::close(fd);
  return res;
}

std::string get(std::string_view path, std::string_view host, std::string_view extra) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\n{}\r\n", path, host, extra);
}

std::string header(const http::fields& m, std::string_view name) {
  auto it = m.find(boost::beast::string_view(name.data(), name.size()));
  return it == m.end() ? "<none>" : std::string(it->value());
}

}  // namespace lbtest
