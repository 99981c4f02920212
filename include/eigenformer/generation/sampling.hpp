// eigenformer/generation/sampling.hpp — drawing a token from a distribution, reproducibly.
//
// Sampling picks token v with probability p(v): draw u uniformly in [0, 1) and walk the cumulative sum
// p(0) + p(1) + ... until it exceeds u. The random numbers come from a 64-bit Mersenne Twister whose
// output is turned into a double by our own code (std::uniform_real_distribution is allowed to differ
// between standard libraries), so a seed reproduces a run on every platform.
#pragma once

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer::generation {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  /// Uniform in [0, 1), with 53 random bits.
  double uniform() { return static_cast<double>(engine_() >> 11) * (1.0 / 9007199254740992.0); }

  /// The generator's whole state as text (the C++ standard fixes the format of std::mt19937_64's state:
  /// 312 words and a position, decimal, space-separated), so a training checkpoint can save it and a resumed
  /// run continue the very same stream (training/trainer.hpp).
  std::string state() const {
    std::ostringstream out;
    out << engine_;
    return out.str();
  }

  /// Restores a state written by state(). FormatError when the text is not one.
  void set_state(const std::string& text) {
    std::istringstream in(text);
    std::mt19937_64 engine;
    in >> engine;
    if (in.fail()) throw FormatError("[Rng::set_state] the text is not a std::mt19937_64 state");
    engine_ = engine;
  }

 private:
  std::mt19937_64 engine_;
};

/// Draws an index with probability prob[i] (the probabilities sum to 1; zeros are never drawn).
inline TokenId sample(const std::vector<double>& prob, Rng& rng) {
  const double u = rng.uniform();
  double cumulative = 0;
  std::size_t last_positive = 0;
  for (std::size_t v = 0; v < prob.size(); ++v) {
    if (prob[v] <= 0) continue;
    last_positive = v;
    cumulative += prob[v];
    if (u < cumulative) return static_cast<TokenId>(v);
  }
  return static_cast<TokenId>(last_positive);  // u fell in the rounding gap just below 1
}

}  // namespace eigenformer::generation
