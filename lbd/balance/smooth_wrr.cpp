#include "lbd/balance/smooth_wrr.hpp"

#include <numeric>

namespace lbd {

void SmoothWrr::assign(std::vector<std::uint64_t> weights) {
  weights_ = std::move(weights);
  std::uint64_t g = 0;
  for (auto w : weights_) g = std::gcd(g, w);
  total_ = 0;
  for (auto& w : weights_) {
    if (g > 1) w /= g;
    total_ += w;
  }
  current_.assign(weights_.size(), 0);
  schedule_.clear();
  position_ = 0;
  if (total_ == 0 || total_ * weights_.size() > max_schedule_work_) return;
  // Run one cycle of the O(n) update without `avoid`; it ends with every running weight at 0.
  static const std::vector<Candidate> kNoCandidates;
  schedule_.reserve(total_);
  for (std::uint64_t i = 0; i < total_; ++i) schedule_.push_back(step(kNoCandidates, nullptr));
}

void SmoothWrr::skip(std::uint64_t picks) {
  if (total_ == 0) return;
  if (!schedule_.empty()) {
    position_ = (position_ + picks) % schedule_.size();
    return;
  }
  static const std::vector<Candidate> kNoCandidates;
  for (std::uint64_t i = 0; i < picks % total_; ++i) step(kNoCandidates, nullptr);
}

std::uint32_t SmoothWrr::next(const std::vector<Candidate>& candidates, const Backend* avoid) {
  if (schedule_.empty()) return step(candidates, avoid);
  const auto size = schedule_.size();
  auto index = schedule_[position_];
  position_ = position_ + 1 == size ? 0 : position_ + 1;
  if (avoid == nullptr || candidates[index].backend != avoid) return index;
  // Skip the avoided backend's turns; a full cycle of them means it is the only one.
  for (std::size_t k = 0; k < size; ++k) {
    const auto other = schedule_[position_];
    position_ = position_ + 1 == size ? 0 : position_ + 1;
    if (candidates[other].backend != avoid) return other;
  }
  return index;
}

std::uint32_t SmoothWrr::step(const std::vector<Candidate>& candidates, const Backend* avoid) {
  const auto n = weights_.size();
  // The running maxima live in registers, not behind current_[best]: a load there would chain
  // every iteration to the previous one.
  std::size_t best = n, best_any = n;  // best_any: the winner if `avoid` is the only choice
  std::int64_t best_value = 0, best_any_value = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (weights_[i] == 0) continue;
    const auto value = current_[i] + static_cast<std::int64_t>(weights_[i]);
    current_[i] = value;
    if (best_any == n || value > best_any_value) {
      best_any = i;
      best_any_value = value;
    }
    if ((best == n || value > best_value) && (avoid == nullptr || candidates[i].backend != avoid)) {
      best = i;
      best_value = value;
    }
  }
  if (best == n) best = best_any;
  current_[best] -= static_cast<std::int64_t>(total_);
  return static_cast<std::uint32_t>(best);
}

}  // namespace lbd
