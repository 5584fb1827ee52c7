// lbctl's human output: aligned tables and short summaries from a daemon's JSON reply. Pure, so
// the exact text operators read is unit-tested. `--json` bypasses this entirely.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lbctl {

/// Columns padded to their widest cell, two spaces apart, a header row in capitals; the last
/// column is not padded (no trailing blanks).
class Table {
 public:
  explicit Table(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string str() const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

/// Renders an {"ok":true,...} reply for the request's view (see Request::view). Unknown views and
/// unexpected shapes fall back to the JSON text, never an exception.
std::string render(const std::string& view, const nlohmann::json& reply);

/// "850ms", "1.5s", "2m03s", "-" for null.
std::string format_age_ms(const nlohmann::json& ms);

}  // namespace lbctl
