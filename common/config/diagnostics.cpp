#include "common/config/diagnostics.hpp"

#include <fmt/format.h>

namespace lb::config {

std::string Diagnostic::to_string() const {
  std::string out = where.file;
  if (where.line != 0) out += fmt::format(":{}:{}", where.line, where.column);
  out += ": ";
  if (!key_path.empty()) out += key_path + ": ";
  out += message;
  return out;
}

void Diagnostics::add(SourcePosition where, std::string key_path, std::string message) {
  items_.push_back(Diagnostic{std::move(where), std::move(key_path), std::move(message)});
}

std::string Diagnostics::to_string() const {
  std::string out;
  for (const auto& d : items_) {
    out += d.to_string();
    out += '\n';
  }
  return out;
}

}  // namespace lb::config
