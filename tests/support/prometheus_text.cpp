#include "tests/support/prometheus_text.hpp"

#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

namespace lb::test {
namespace {

bool metric_name_ok(std::string_view n) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool label_name_ok(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const char c = n[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::optional<double> parse_number(std::string_view s) {
  if (s == "+Inf") return HUGE_VAL;
  if (s == "-Inf") return -HUGE_VAL;
  if (s == "NaN") return NAN;
  if (s.empty()) return std::nullopt;
  std::string copy(s);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

// The family a series name belongs to, given the declared families.
std::string family_of(const std::map<std::string, PromFamily>& fams, const std::string& name) {
  if (fams.contains(name)) return name;
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      auto base = name.substr(0, name.size() - suffix.size());
      auto it = fams.find(base);
      if (it != fams.end() && it->second.type == "histogram") return base;
    }
  }
  return {};
}

bool check_histograms(const PromText& text, std::string& error) {
  for (const auto& [name, fam] : text.families) {
    if (fam.type != "histogram") continue;
    // Group by labels without le.
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    for (const auto& s : fam.samples) {
      auto labels = s.labels;
      if (s.name == name + "_bucket") {
        auto le = labels.find("le");
        if (le == labels.end()) {
          error = fmt::format("{}: bucket without le", name);
          return false;
        }
        auto bound = parse_number(le->second);
        if (!bound) {
          error = fmt::format("{}: bad le \"{}\"", name, le->second);
          return false;
        }
        labels.erase(le);
        buckets[labels].emplace_back(*bound, s.value);
      } else if (s.name == name + "_count") {
        counts[labels] = s.value;
      } else if (s.name != name + "_sum") {
        error = fmt::format("{}: unexpected series {} in a histogram", name, s.name);
        return false;
      }
    }
    for (const auto& [labels, bs] : buckets) {
      for (std::size_t i = 1; i < bs.size(); ++i) {
        if (!(bs[i].first > bs[i - 1].first) || bs[i].second < bs[i - 1].second) {
          error = fmt::format("{}: buckets not monotone at le={}", name, bs[i].first);
          return false;
        }
      }
      if (bs.empty() || !std::isinf(bs.back().first)) {
        error = fmt::format("{}: no +Inf bucket", name);
        return false;
      }
      auto c = counts.find(labels);
      if (c == counts.end() || c->second != bs.back().second) {
        error = fmt::format("{}: +Inf bucket != _count", name);
        return false;
      }
    }
    if (buckets.size() != counts.size()) {
      error = fmt::format("{}: a _count without buckets", name);
      return false;
    }
  }
  return true;
}

}  // namespace

std::optional<PromText> parse_prometheus_text(std::string_view text, std::string& error) {
  PromText out;
  std::set<std::string> helped;
  std::size_t line_no = 0;
  auto fail = [&](std::string why) {
    error = fmt::format("line {}: {}", line_no, why);
    return std::nullopt;
  };
  if (!text.empty() && !text.ends_with('\n')) {
    error = "body does not end with a newline";
    return std::nullopt;
  }
  while (!text.empty()) {
    ++line_no;
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (line.empty()) return fail("empty line");
    if (line.starts_with("# HELP ")) {
      auto rest = line.substr(7);
      const auto sp = rest.find(' ');
      const std::string name(rest.substr(0, sp));
      if (!metric_name_ok(name)) return fail("bad name in HELP");
      if (!helped.insert(name).second) return fail("second HELP for " + name);
      out.families[name].help =
          sp == std::string_view::npos ? "" : std::string(rest.substr(sp + 1));
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      auto rest = line.substr(7);
      const auto sp = rest.find(' ');
      if (sp == std::string_view::npos) return fail("TYPE without a type");
      const std::string name(rest.substr(0, sp));
      const std::string type(rest.substr(sp + 1));
      if (!helped.contains(name)) return fail("TYPE before HELP for " + name);
      if (type != "counter" && type != "gauge" && type != "histogram") {
        return fail("unexpected type " + type);
      }
      auto& fam = out.families[name];
      if (!fam.type.empty()) return fail("second TYPE for " + name);
      if (!fam.samples.empty()) return fail("TYPE after samples for " + name);
      fam.type = type;
      continue;
    }
    if (line.starts_with('#')) return fail("unexpected comment");
    // A sample: name{labels} value
    PromSample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (!metric_name_ok(s.name)) return fail("bad metric name \"" + s.name + "\"");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        const auto eq = line.find('=', i);
        if (eq == std::string_view::npos) return fail("label without =");
        const std::string lname(line.substr(i, eq - i));
        if (!label_name_ok(lname)) return fail("bad label name \"" + lname + "\"");
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') return fail("label value not quoted");
        ++i;
        std::string value;
        for (;; ++i) {
          if (i >= line.size()) return fail("unterminated label value");
          const char c = line[i];
          if (c == '"') break;
          if (c == '\\') {
            ++i;
            if (i >= line.size()) return fail("dangling backslash");
            if (line[i] == 'n') {
              value += '\n';
            } else if (line[i] == '\\' || line[i] == '"') {
              value += line[i];
            } else {
              return fail("bad escape in label value");
            }
          } else {
            value += c;
          }
        }
        ++i;  // closing quote
        if (!s.labels.emplace(lname, value).second) return fail("duplicate label " + lname);
        if (i < line.size() && line[i] == ',') ++i;
      }
    }
    if (i >= line.size() || line[i] != ' ') return fail("no space before the value");
    auto v = parse_number(line.substr(i + 1));
    if (!v) return fail("bad value");
    s.value = *v;
    const auto fam_name = family_of(out.families, s.name);
    if (fam_name.empty()) return fail("sample " + s.name + " without a declared family");
    auto& fam = out.families[fam_name];
    if (fam.type.empty()) return fail("sample before TYPE for " + fam_name);
    if (fam.type == "counter" && (s.value < 0 || std::isnan(s.value))) {
      return fail("negative counter " + s.name);
    }
    fam.samples.push_back(std::move(s));
  }
  for (const auto& [name, fam] : out.families) {
    if (fam.type.empty()) {
      error = "family without TYPE: " + name;
      return std::nullopt;
    }
  }
  if (!check_histograms(out, error)) return std::nullopt;
  return out;
}

std::optional<double> PromText::value(std::string_view name,
                                      const std::map<std::string, std::string>& labels) const {
  std::optional<double> found;
  for (const auto& [fname, fam] : families) {
    for (const auto& s : fam.samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) match = false;
      }
      if (!match) continue;
      if (found) return std::nullopt;
      found = s.value;
    }
  }
  return found;
}

double PromText::sum(std::string_view name,
                     const std::map<std::string, std::string>& labels) const {
  double total = 0;
  for (const auto& [fname, fam] : families) {
    for (const auto& s : fam.samples) {
      if (s.name != name) continue;
      bool match = true;
      for (const auto& [k, v] : labels) {
        auto it = s.labels.find(k);
        if (it == s.labels.end() || it->second != v) match = false;
      }
      if (match) total += s.value;
    }
  }
  return total;
}

}  // namespace lb::test
