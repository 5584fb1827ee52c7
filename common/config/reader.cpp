#include "common/config/reader.hpp"

#include "common/format.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace lb::config {
namespace {

std::string_view type_name(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

// Levenshtein distance, for "did you mean" hints on misspelled keys.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

}  // namespace

TableReader::TableReader(const toml::table& table, std::string key_path, std::string file,
                         Diagnostics& diags)
    : table_(&table),
      path_(std::move(key_path)),
      file_(std::move(file)),
      diags_(&diags),
      seen_(std::make_shared<std::set<std::string, std::less<>>>()) {}

SourcePosition TableReader::position_of(const toml::node& node) const {
  const auto& begin = node.source().begin;
  return SourcePosition{file_, begin.line, begin.column};
}

std::string TableReader::child_path(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const toml::node* TableReader::lookup(std::string_view key) {
  seen_->emplace(key);
  return table_->get(key);
}

const toml::node* TableReader::raw(std::string_view key) { return lookup(key); }

void TableReader::type_error(std::string_view key, const toml::node& node,
                             std::string_view expected) {
  diags_->add(position_of(node), child_path(key),
              fmt::format("expected {}, found {}", expected, type_name(node)));
}

void TableReader::error(std::string_view key, std::string message) {
  const toml::node* node = table_->get(key);
  diags_->add(node ? position_of(*node) : position_of(*table_), child_path(key),
              std::move(message));
}

void TableReader::error_here(std::string message) {
  diags_->add(position_of(*table_), path_, std::move(message));
}

std::string TableReader::string(std::string_view key, std::string fallback) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return fallback;
  if (const auto* s = node->as_string()) return s->get();
  type_error(key, *node, "a string");
  return fallback;
}

std::optional<std::string> TableReader::required_string(std::string_view key) {
  if (!table_->contains(key)) {
    seen_->emplace(key);
    error(key, "required key is missing");
    return std::nullopt;
  }
  const toml::node* node = lookup(key);
  if (const auto* s = node->as_string()) return s->get();
  type_error(key, *node, "a string");
  return std::nullopt;
}

bool TableReader::boolean(std::string_view key, bool fallback) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return fallback;
  if (const auto* b = node->as_boolean()) return b->get();
  type_error(key, *node, "a boolean (true or false)");
  return fallback;
}

std::int64_t TableReader::integer(std::string_view key, std::int64_t fallback, std::int64_t min,
                                  std::int64_t max) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return fallback;
  const auto* i = node->as_integer();
  if (i == nullptr) {
    type_error(key, *node, "an integer");
    return fallback;
  }
  if (i->get() < min || i->get() > max) {
    diags_->add(position_of(*node), child_path(key),
                fmt::format("{} is out of range [{}, {}]", i->get(), min, max));
    return fallback;
  }
  return i->get();
}

std::optional<std::int64_t> TableReader::required_integer(std::string_view key, std::int64_t min,
                                                          std::int64_t max) {
  if (!table_->contains(key)) {
    seen_->emplace(key);
    error(key, "required key is missing");
    return std::nullopt;
  }
  const std::size_t before = diags_->size();
  const std::int64_t value = integer(key, 0, min, max);
  if (diags_->size() != before) return std::nullopt;
  return value;
}

double TableReader::number(std::string_view key, double fallback, double min, double max) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return fallback;
  double value = 0;
  if (const auto* f = node->as_floating_point()) {
    value = f->get();
  } else if (const auto* i = node->as_integer()) {
    value = static_cast<double>(i->get());
  } else {
    type_error(key, *node, "a number");
    return fallback;
  }
  if (!(value >= min && value <= max)) {
    diags_->add(position_of(*node), child_path(key),
                fmt::format("{} is out of range [{}, {}]", value, min, max));
    return fallback;
  }
  return value;
}

std::chrono::nanoseconds TableReader::duration(std::string_view key,
                                               std::chrono::nanoseconds fallback,
                                               std::chrono::nanoseconds min,
                                               std::chrono::nanoseconds max) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return fallback;
  const auto* s = node->as_string();
  if (s == nullptr) {
    type_error(key, *node, "a duration string such as \"5s\"");
    return fallback;
  }
  auto parsed = parse_duration(s->get());
  if (!parsed) {
    diags_->add(position_of(*node), child_path(key), parsed.error());
    return fallback;
  }
  if (*parsed < min || *parsed > max) {
    diags_->add(position_of(*node), child_path(key),
                fmt::format("{} is out of range [{}, {}]", s->get(), format_duration(min),
                            format_duration(max)));
    return fallback;
  }
  return *parsed;
}

std::uint64_t TableReader::size(std::string_view key, std::uint64_t fallback, std::uint64_t min,
                                std::uint64_t max) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return fallback;
  std::expected<std::uint64_t, std::string> parsed;
  if (const auto* s = node->as_string()) {
    parsed = parse_size(s->get());
  } else if (const auto* i = node->as_integer(); i != nullptr && i->get() >= 0) {
    parsed = static_cast<std::uint64_t>(i->get());
  } else {
    type_error(key, *node, "a size such as \"64KiB\"");
    return fallback;
  }
  if (!parsed) {
    diags_->add(position_of(*node), child_path(key), parsed.error());
    return fallback;
  }
  if (*parsed < min || *parsed > max) {
    diags_->add(position_of(*node), child_path(key),
                fmt::format("{} bytes is out of range [{}, {}]", *parsed, min, max));
    return fallback;
  }
  return *parsed;
}

std::optional<Endpoint> TableReader::endpoint(std::string_view key) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return std::nullopt;
  const auto* s = node->as_string();
  if (s == nullptr) {
    type_error(key, *node, "an endpoint string such as \"192.0.2.1:80\"");
    return std::nullopt;
  }
  auto parsed = parse_endpoint(s->get());
  if (!parsed) {
    diags_->add(position_of(*node), child_path(key), parsed.error());
    return std::nullopt;
  }
  return *parsed;
}

std::optional<Endpoint> TableReader::required_endpoint(std::string_view key) {
  if (!table_->contains(key)) {
    seen_->emplace(key);
    error(key, "required key is missing");
    return std::nullopt;
  }
  return endpoint(key);
}

std::optional<Cidr> TableReader::cidr(std::string_view key) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return std::nullopt;
  const auto* s = node->as_string();
  if (s == nullptr) {
    type_error(key, *node, "a prefix string such as \"10.0.0.0/8\"");
    return std::nullopt;
  }
  auto parsed = parse_cidr(s->get());
  if (!parsed) {
    diags_->add(position_of(*node), child_path(key), parsed.error());
    return std::nullopt;
  }
  return *parsed;
}

std::vector<std::string> TableReader::string_array(std::string_view key) {
  std::vector<std::string> out;
  const toml::node* node = lookup(key);
  if (node == nullptr) return out;
  const auto* array = node->as_array();
  if (array == nullptr) {
    type_error(key, *node, "an array of strings");
    return out;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    if (const auto* s = element.as_string()) {
      out.push_back(s->get());
    } else {
      diags_->add(position_of(element), fmt::format("{}[{}]", child_path(key), i),
                  fmt::format("expected a string, found {}", type_name(element)));
    }
  }
  return out;
}

std::vector<std::int64_t> TableReader::integer_array(std::string_view key, std::int64_t min,
                                                     std::int64_t max) {
  std::vector<std::int64_t> out;
  const toml::node* node = lookup(key);
  if (node == nullptr) return out;
  const auto* array = node->as_array();
  if (array == nullptr) {
    type_error(key, *node, "an array of integers");
    return out;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const auto* v = element.as_integer();
    const auto where = fmt::format("{}[{}]", child_path(key), i);
    if (v == nullptr) {
      diags_->add(position_of(element), where,
                  fmt::format("expected an integer, found {}", type_name(element)));
    } else if (v->get() < min || v->get() > max) {
      diags_->add(position_of(element), where,
                  fmt::format("{} is out of range [{}, {}]", v->get(), min, max));
    } else {
      out.push_back(v->get());
    }
  }
  return out;
}

std::vector<std::string> TableReader::string_or_array(std::string_view key) {
  const toml::node* node = table_->get(key);
  if (node != nullptr && node->is_string()) return {string(key, "")};
  return string_array(key);
}

std::optional<TableReader> TableReader::table(std::string_view key) {
  const toml::node* node = lookup(key);
  if (node == nullptr) return std::nullopt;
  const auto* t = node->as_table();
  if (t == nullptr) {
    type_error(key, *node, "a table");
    return std::nullopt;
  }
  return TableReader(*t, child_path(key), file_, *diags_);
}

std::vector<TableReader> TableReader::tables(std::string_view key) {
  std::vector<TableReader> out;
  const toml::node* node = lookup(key);
  if (node == nullptr) return out;
  const auto* array = node->as_array();
  if (array == nullptr) {
    type_error(key, *node, fmt::format("an array of tables ([[{}]])", key));
    return out;
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    const auto where = fmt::format("{}[{}]", child_path(key), i);
    if (const auto* t = element.as_table()) {
      out.emplace_back(*t, where, file_, *diags_);
    } else {
      diags_->add(position_of(element), where,
                  fmt::format("expected a table, found {}", type_name(element)));
    }
  }
  return out;
}

void TableReader::reject_unknown_keys() {
  for (const auto& [key, node] : *table_) {
    if (seen_->contains(key.str())) continue;
    std::string message = "unknown key";
    std::string_view best;
    std::size_t best_distance = 3;  // only suggest close matches
    for (const auto& known : *seen_) {
      const std::size_t d = edit_distance(key.str(), known);
      if (d < best_distance) {
        best_distance = d;
        best = known;
      }
    }
    if (!best.empty()) message += fmt::format(" (did you mean \"{}\"?)", best);
    const auto& begin = key.source().begin;
    SourcePosition where{file_, begin.line, begin.column};
    if (where.line == 0) where = position_of(node);
    diags_->add(where, child_path(key.str()), message);
  }
}

Document Document::parse_string(std::string_view text, std::string name, Diagnostics& diags) {
  try {
    auto table = std::make_unique<toml::table>(toml::parse(text, name));
    return Document(std::move(table), std::move(name), diags);
  } catch (const toml::parse_error& e) {
    const auto& begin = e.source().begin;
    diags.add(SourcePosition{name, begin.line, begin.column}, "",
              fmt::format("TOML syntax error: {}", e.description()));
    return Document(std::make_unique<toml::table>(), std::move(name), diags);
  }
}

Document Document::parse_file(const std::string& path, Diagnostics& diags) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diags.add(SourcePosition{path, 0, 0}, "", "cannot open file");
    return Document(std::make_unique<toml::table>(), path, diags);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return parse_string(contents.str(), path, diags);
}

}  // namespace lb::config
