#include "tests/integration/lbd_harness.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <sstream>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "lbd/session/proxy_protocol.hpp"
#include "tests/support/process.hpp"

namespace lbtest {

TempConfig::TempConfig(const std::string& text) {
  char tmpl[] = "/tmp/lbd-it-XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  dir_ = d;
  path_ = dir_ + "/lbd.toml";
  write(text);
}

TempConfig::~TempConfig() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void TempConfig::write(const std::string& text) {
  // Write then rename, so a reload never reads a half-written file.
  const auto tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  std::filesystem::rename(tmp, path_);
}

InProcessLbd::InProcessLbd(const std::string& config_text) : config_(config_text) {
  std::vector<std::string> errors;
  server_ = lbd::Server::create(config_.path(), errors);
  for (const auto& e : errors) MESSAGE(e);
  REQUIRE(server_ != nullptr);
  thread_ = std::thread([this] { server_->run(false); });
}

InProcessLbd::~InProcessLbd() {
  server_->request_shutdown();
  thread_.join();
}

lb::Endpoint InProcessLbd::endpoint(const std::string& listener) const {
  auto b = server_->bound(listener);
  REQUIRE(!b.empty());
  return b.front();
}

bool InProcessLbd::reload(const std::string& config_text) {
  const auto ok = server_->reloads_ok();
  const auto failed = server_->reloads_failed();
  config_.write(config_text);
  server_->request_reload();
  REQUIRE(
      wait_until([&] { return server_->reloads_ok() != ok || server_->reloads_failed() != failed; },
                 std::chrono::seconds(10)));
  return server_->reloads_ok() != ok;
}

TestBackend::TestBackend(Handler handler, const std::string& address)
    : handler_(std::move(handler)) {
  auto ip = lb::IpAddress::parse(address);
  REQUIRE(ip.has_value());
  listen_fd_ = ::socket(ip->is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listen_fd_ >= 0);
  sockaddr_storage ss{};
  const auto len = lb::Endpoint{*ip, 0}.to_sockaddr(ss);
  REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&ss), len) == 0);
  REQUIRE(::listen(listen_fd_, 512) == 0);
  socklen_t sl = sizeof ss;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &sl);
  endpoint_ = *lb::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
  accept_thread_ = std::thread([this] {
    while (!stopping_) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (stopping_) return;
        continue;
      }
      ++connections_;
      std::lock_guard lock(mutex_);
      open_fds_.push_back(fd);
      threads_.emplace_back([this, fd] {
        handler_(fd);
        std::lock_guard lock(mutex_);
        std::erase(open_fds_, fd);
        ::close(fd);
      });
    }
  });
}

TestBackend::~TestBackend() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
  accept_thread_.join();
  ::close(listen_fd_);
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);  // wakes blocked handlers
    threads = std::move(threads_);
  }
  for (auto& t : threads) t.join();
}

TestBackend::Handler TestBackend::echo() {
  return [](int fd) {
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      if (!send_all(fd, std::string_view(buf, static_cast<std::size_t>(n)))) return;
    }
    ::shutdown(fd, SHUT_WR);
  };
}

TestBackend::Handler TestBackend::hello(std::string name) {
  return [name](int fd) {
    send_all(fd, name + "\n");
    char buf[4096];
    while (::recv(fd, buf, sizeof buf, 0) > 0) {
    }
  };
}

TestBackend::Handler TestBackend::count_then_reply() {
  return [](int fd) {
    char buf[65536];
    std::size_t total = 0;
    for (;;) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n < 0) return;
      if (n == 0) break;
      total += static_cast<std::size_t>(n);
    }
    send_all(fd, fmt::format("count={}\n", total));
  };
}

TestBackend::Handler TestBackend::proxy_reporter() {
  return [](int fd) {
    std::string got;
    for (;;) {
      char c;
      if (::recv(fd, &c, 1, 0) != 1) return;
      got.push_back(c);
      auto r = lbd::proxy::decode_proxy_header(
          std::span(reinterpret_cast<const std::uint8_t*>(got.data()), got.size()));
      if (r.status == lbd::proxy::DecodeStatus::invalid) {
        send_all(fd, "invalid\n");
        return;
      }
      if (r.status == lbd::proxy::DecodeStatus::complete) {
        const auto& h = r.header;
        send_all(fd, h.source ? fmt::format("v{} src={} dst={}\n", h.version, h.source->to_string(),
                                            h.destination->to_string())
                              : fmt::format("v{} local\n", h.version));
        break;
      }
    }
    echo()(fd);
  };
}

std::string dead_address() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return fmt::format("127.0.0.1:{}", ntohs(sa.sin_port));
}

int connect_to(const lb::Endpoint& endpoint) {
  const int fd =
      ::socket(endpoint.address.is_v4() ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_storage ss{};
  const auto len = endpoint.to_sockaddr(ss);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string read_to_eof(int fd, bool* ok) {
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) {
      if (ok) *ok = true;
      return out;
    }
    if (n < 0) {
      if (ok) *ok = false;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
}

std::string read_line(int fd) {
  std::string out;
  char c;
  while (::recv(fd, &c, 1, 0) == 1) {
    if (c == '\n') return out;
    out.push_back(c);
  }
  return out;
}

std::string read_exact(int fd, std::size_t n) {
  std::string out;
  out.reserve(n);
  char buf[65536];
  while (out.size() < n) {
    const ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char c;
  const ssize_t n = ::recv(fd, &c, 1, 0);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

std::chrono::milliseconds cpu_time(int pid) {
  const auto text = [&] {
    std::ifstream in(pid == 0 ? std::string("/proc/self/stat") : fmt::format("/proc/{}/stat", pid));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }();
  // Fields after the command name (which may hold spaces, hence the last ')'): utime is the
  // 14th field of the line, stime the 15th.
  const auto close = text.rfind(')');
  REQUIRE(close != std::string::npos);
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0;
  long long stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  return std::chrono::milliseconds((utime + stime) * 1000 / ::sysconf(_SC_CLK_TCK));
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (std::size_t i = 0; i < n; i += 8) {
    const auto v = rng();
    std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, n - i));
  }
  return out;
}

std::string lbd_binary() { return std::string(LBPAIR_BINARY_DIR) + "/lbd/lbd"; }

}  // namespace lbtest
