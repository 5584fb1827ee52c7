#include "common/config/regex.hpp"

#include <re2/re2.h>

namespace lb::config {

namespace {

RE2::Options options(bool case_insensitive) {
  RE2::Options o;
  o.set_log_errors(false);  // the config reader reports the error with file, line and key
  o.set_case_sensitive(!case_insensitive);
  return o;
}

}  // namespace

Regex::Regex(std::string_view pattern, bool case_insensitive)
    : re_(std::make_unique<re2::RE2>(re2::StringPiece(pattern.data(), pattern.size()),
                                     options(case_insensitive))) {}
Regex::~Regex() = default;
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;

bool Regex::valid() const { return re_ && re_->ok(); }

bool Regex::search(std::string_view text) const {
  return valid() && re2::RE2::PartialMatch(re2::StringPiece(text.data(), text.size()), *re_);
}

std::optional<std::string> regex_error(std::string_view pattern) {
  re2::RE2 re(re2::StringPiece(pattern.data(), pattern.size()), options(false));
  if (re.ok()) return std::nullopt;
  return re.error();
}

}  // namespace lb::config
