// Helpers for the L7 integration tests: a blocking HTTP/1.1 origin for lbtest::TestBackend that
// records what it received, and blocking client-side reads that parse responses with Beast.
#pragma once

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "tests/integration/lbd_harness.hpp"

namespace lbtest {

namespace http = boost::beast::http;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

/// An HTTP/1.1 origin server: parses each request (keep-alive loop) with Beast, records it and
/// answers with `respond(request)`. By default it answers 200 "name path" with X-Backend: name.
class Origin {
 public:
  using Respond = std::function<Response(const Request&)>;
  explicit Origin(std::string name, Respond respond = {});

  TestBackend::Handler handler();
  /// Requests received so far (copies, thread-safe).
  std::vector<Request> seen() const;
  std::size_t count() const;

  /// A respond function echoing the request body back; `chunked` selects the response framing.
  static Respond echo(bool chunked);

 private:
  std::string name_;
  Respond respond_;
  mutable std::mutex mutex_;
  std::vector<Request> seen_;
};

/// Serialises a message with Beast (chunked when the message says so).
std::string to_wire(const Request& req);
std::string to_wire(const Response& res);

/// Reads one response from `fd` (leftover bytes in `buf` first, extra bytes stay there). nullopt
/// on EOF, timeout or a parse error. `head` = the request was HEAD.
std::optional<Response> read_response(int fd, std::string& buf, bool head = false);
/// Reads one request likewise.
std::optional<Request> read_request(int fd, std::string& buf);

/// Connects, sends `raw`, returns the first response (nullopt when none came).
std::optional<Response> round_trip(const lb::Endpoint& ep, std::string_view raw);

/// "GET path HTTP/1.1" with Host and optional extra header lines ("Name: value\r\n...").
std::string get(std::string_view path, std::string_view host = "example.com",
                std::string_view extra = "");

/// The value of `name` in `m` or "<none>".
std::string header(const http::fields& m, std::string_view name);

}  // namespace lbtest
