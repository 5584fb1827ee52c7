// The Prometheus text writer: escaping, family headers, histogram shape; its output passes the
// strict parser the integration tests use.
#include "common/metrics/exposition.hpp"

#include <array>
#include <stdexcept>

#include <doctest/doctest.h>

#include "tests/support/prometheus_text.hpp"

using namespace lb::metrics;

TEST_CASE("exposition: label values escape backslash, quote and newline") {
  CHECK(escape_label_value("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
  CHECK(escape_label_value("plain") == "plain");
  CHECK(escape_help("x\\y\nz \"q\"") == "x\\\\y\\nz \"q\"");
}

TEST_CASE("exposition: a counter family writes HELP, TYPE and labelled samples") {
  Exposition e;
  e.family("lbpair_requests_total", "Requests.", Type::counter);
  e.sample({{"listener", "web"}, {"class", "2xx"}}, 17);
  e.sample({}, 3);
  CHECK(e.text() ==
        "# HELP lbpair_requests_total Requests.\n"
        "# TYPE lbpair_requests_total counter\n"
        "lbpair_requests_total{listener=\"web\",class=\"2xx\"} 17\n"
        "lbpair_requests_total 3\n");
}

TEST_CASE("exposition: values print integers exactly and fractions, infinities and NaN") {
  CHECK(format_value(0) == "0");
  CHECK(format_value(18446744073709.0) == "18446744073709");
  CHECK(format_value(0.25) == "0.25");
  CHECK(format_value(1.0 / 0.0) == "+Inf");
  CHECK(format_value(-1.0 / 0.0) == "-Inf");
  CHECK(format_value(0.0 / 0.0) == "NaN");
}

TEST_CASE("exposition: a histogram writes cumulative buckets, +Inf equal to _count, and _sum") {
  Exposition e;
  e.family("lbpair_latency_seconds", "Latency.", Type::histogram);
  const std::array<double, 3> bounds{0.01, 0.1, 1};
  const std::array<std::uint64_t, 4> counts{2, 0, 3, 1};
  e.histogram({{"server", "a"}}, HistogramValue{bounds, counts, 4.5});
  CHECK(e.text() ==
        "# HELP lbpair_latency_seconds Latency.\n"
        "# TYPE lbpair_latency_seconds histogram\n"
        "lbpair_latency_seconds_bucket{server=\"a\",le=\"0.01\"} 2\n"
        "lbpair_latency_seconds_bucket{server=\"a\",le=\"0.1\"} 2\n"
        "lbpair_latency_seconds_bucket{server=\"a\",le=\"1\"} 5\n"
        "lbpair_latency_seconds_bucket{server=\"a\",le=\"+Inf\"} 6\n"
        "lbpair_latency_seconds_sum{server=\"a\"} 4.5\n"
        "lbpair_latency_seconds_count{server=\"a\"} 6\n");
}

TEST_CASE("exposition: output with hostile label values passes the strict parser and reads back") {
  Exposition e;
  e.family("lbpair_x_total", "Help with \\ and\nnewline.", Type::counter);
  e.sample({{"name", "we\"ird\\na\nme"}}, 5);
  e.family("lbpair_h_seconds", "H.", Type::histogram);
  const std::array<double, 2> bounds{0.5, 1};
  const std::array<std::uint64_t, 3> counts{1, 1, 1};
  e.histogram({}, HistogramValue{bounds, counts, 2});
  std::string error;
  const auto parsed = lb::test::parse_prometheus_text(e.text(), error);
  REQUIRE_MESSAGE(parsed, error);
  CHECK(parsed->value("lbpair_x_total", {{"name", "we\"ird\\na\nme"}}) == 5);
  CHECK(parsed->value("lbpair_h_seconds_count") == 3);
}

TEST_CASE("exposition: invalid names and a repeated family are programming errors") {
  Exposition e;
  CHECK_THROWS_AS(e.family("9bad", "x", Type::gauge), std::invalid_argument);
  e.family("lbpair_ok", "x", Type::gauge);
  CHECK_THROWS_AS(e.family("lbpair_ok", "x", Type::gauge), std::invalid_argument);
  CHECK_THROWS_AS(e.sample({{"__reserved", "v"}}, 1), std::invalid_argument);
  CHECK_THROWS_AS(e.sample({{"bad-label", "v"}}, 1), std::invalid_argument);
  CHECK(valid_metric_name("lbpair:rule_x"));
  CHECK_FALSE(valid_label_name("a:b"));
}

TEST_CASE("strict parser: refuses samples without TYPE, bad escapes and broken histograms") {
  std::string error;
  CHECK_FALSE(lb::test::parse_prometheus_text("x 1\n", error));
  CHECK_FALSE(
      lb::test::parse_prometheus_text("# HELP x h\n# TYPE x counter\nx{a=\"\\q\"} 1\n", error));
  CHECK_FALSE(lb::test::parse_prometheus_text(
      "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"
      "h_sum 1\nh_count 2\n",
      error));
  CHECK_FALSE(lb::test::parse_prometheus_text(
      "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
      "h_sum 1\nh_count 3\n",
      error));
  CHECK(lb::test::parse_prometheus_text("# HELP x h\n# TYPE x gauge\nx -1\n", error));
}
