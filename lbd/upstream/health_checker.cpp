// The checker factory and the helpers shared by the checkers (targets, failure reasons).
#include "lbd/upstream/health_checker.hpp"

#include <cctype>

#include <fmt/format.h>

#include "lbd/upstream/exec_checker.hpp"
#include "lbd/upstream/http_checker.hpp"
#include "lbd/upstream/tcp_checker.hpp"

namespace lbd {

std::unique_ptr<HealthChecker> make_health_checker(const HealthCheckConfig& config) {
  switch (config.type) {
    case HealthCheckType::none:
      return nullptr;
    case HealthCheckType::tcp:
      return std::make_unique<TcpChecker>(config);
    case HealthCheckType::http:
      return std::make_unique<HttpChecker>(config);
    case HealthCheckType::exec:
      return std::make_unique<ExecChecker>(config);
  }
  return nullptr;
}

lb::Endpoint check_target(const HealthCheckConfig& config, const Backend& backend) {
  lb::Endpoint target = backend.address;
  if (config.address) target.address = *config.address;
  if (config.port != 0) target.port = config.port;
  return target;
}

std::string describe_duration(std::chrono::nanoseconds d) {
  using namespace std::chrono;
  const auto ns = d.count();
  auto with_unit = [](double v, const char* unit) { return fmt::format("{:g}{}", v, unit); };
  if (ns >= 1'000'000'000 && ns % 1'000'000 == 0) return with_unit(ns / 1e9, "s");
  if (ns >= 1'000'000 && ns % 1'000 == 0) return with_unit(ns / 1e6, "ms");
  if (ns >= 1'000) return with_unit(ns / 1e3, "us");
  return fmt::format("{}ns", ns);
}

std::string timeout_reason(std::chrono::nanoseconds timeout) {
  return "timeout after " + describe_duration(timeout);
}

std::string io_reason(std::string_view operation, const lb::error_code& ec) {
  std::string message = ec.message();
  if (!message.empty()) {
    message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
  }
  if (ec == lb::asio::error::eof) message = "connection closed by server";
  return fmt::format("{}: {}", operation, message);
}

}  // namespace lbd
