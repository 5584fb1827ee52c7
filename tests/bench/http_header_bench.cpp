// The L7 session's header work per keep-alive request: parse a request header and a response
// header with Beast's parser, and write the request header for the next hop, with the fields in
// std::allocator's heap (one malloc per field) and in the exchange's HeaderArena.
// Run: build-bench/tests/bench/http_header_bench (Release, -DLBPAIR_BENCH=ON).
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "lbd/http/header_arena.hpp"
#include "lbd/http/http_rewrite.hpp"

namespace {

namespace http = boost::beast::http;
using lbd::proxy::ArenaAllocator;
using lbd::proxy::HeaderArena;

// What a browser-like client sends, and what an nginx origin answers.
constexpr std::string_view kRequest =
    "GET /assets/app.js?v=42 HTTP/1.1\r\nHost: www.example.com\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n"
    "Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br\r\n"
    "Referer: https://www.example.com/\r\nConnection: keep-alive\r\n"
    "Cookie: session=0123456789abcdef; theme=dark\r\n\r\n";
constexpr std::string_view kResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 08 Dec 2026 04:00:00 GMT\r\n"
    "Content-Type: application/javascript\r\nContent-Length: 3\r\nConnection: keep-alive\r\n"
    "ETag: \"6575a1b0-3\"\r\nAccept-Ranges: bytes\r\n\r\n";

template <bool isRequest, typename Allocator>
void parse(http::parser<isRequest, http::empty_body, Allocator>& p, std::string_view raw) {
  p.eager(false);
  boost::system::error_code ec;
  p.put(boost::asio::buffer(raw.data(), raw.size()), ec);
  if (ec || !p.is_header_done()) throw std::runtime_error("bench header did not parse");
}

/// One exchange's header work; `make` builds a parser for the given direction.
template <typename MakeRequest, typename MakeResponse>
void exchange(std::string& head, MakeRequest&& make_request, MakeResponse&& make_response) {
  auto req = make_request();
  parse(req, kRequest);
  head.clear();
  lbd::proxy::append_rewritten_fields(head, req.get().base(),
                                      lbd::proxy::FieldRewrite{.headers = 0});
  auto res = make_response();
  parse(res, kResponse);
  benchmark::DoNotOptimize(res.get().result_int());
  benchmark::DoNotOptimize(head.data());
}

void heap_fields(benchmark::State& state) {
  std::string head;
  head.reserve(1024);
  for (auto _ : state) {
    exchange(
        head, [] { return http::request_parser<http::empty_body>(); },
        [] { return http::response_parser<http::empty_body>(); });
  }
}

void arena_fields(benchmark::State& state) {
  std::string head;
  head.reserve(1024);
  using Alloc = ArenaAllocator<char>;
  for (auto _ : state) {
    std::array<std::byte, lbd::proxy::kHeaderArenaBytes> block;
    HeaderArena arena(block.data(), block.size());
    exchange(
        head,
        [&] {
          return http::request_parser<http::empty_body, Alloc>(
              std::piecewise_construct, std::make_tuple(), std::make_tuple(Alloc(&arena)));
        },
        [&] {
          return http::response_parser<http::empty_body, Alloc>(
              std::piecewise_construct, std::make_tuple(), std::make_tuple(Alloc(&arena)));
        });
    if (arena.heap_allocations() != 0) state.SkipWithError("the headers did not fit the arena");
  }
}

BENCHMARK(heap_fields);
BENCHMARK(arena_fields);

}  // namespace
