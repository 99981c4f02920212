// tests/models/model_fixture.hpp — the model-family fixtures: checkpoint folders and their PyTorch references.
//
// tools/fixtures/make_model_fixtures.py writes, for each checkpoint <name>,
//     tests/fixtures/models/<name>/                     the checkpoint, in the exact Hugging Face layout
//     tests/fixtures/models/<name>.reference.safetensors what the hand-written PyTorch reference computed, in
//                                                        float64, under the --dump names (logits,
//                                                        hidden_states.<i>, attentions.<i>, ...), one sequence
//
// Tolerance (issue 3): the largest absolute difference ≤ 1e-4 when eigenformer computes in float. In double the
// only differences left are rounding, so ≤ 1e-9 there. Failures print the largest difference and where.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "eigenformer/eigenformer.hpp"
#include "eigenformer/models.hpp"
#include "support/fixture.hpp"

namespace eigenformer::testing {

/// The tolerance: max |actual − expected| ≤ 1e-4 in float, 1e-9 in double.
template <class T>
constexpr double absolute_tolerance() {
  return std::is_same_v<T, float> ? 1e-4 : 1e-9;
}

inline std::string model_dir(const std::string& name) { return fixture_path("models/" + name); }

/// Largest |a − e| over n values (NaN counts as infinite); `where` gets its index.
template <class A>
double max_abs_error(const A* actual, const std::vector<double>& expected, std::size_t* where = nullptr) {
  double worst = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const double d = std::abs(static_cast<double>(actual[i]) - expected[i]);
    if (!(d <= worst)) {
      worst = std::isnan(d) ? INFINITY : d;
      if (where) *where = i;
    }
  }
  return worst;
}

/// A <name>.reference.safetensors file.
class Reference {
 public:
  explicit Reference(const std::string& name) : reader_(fixture_path("models/" + name + ".reference.safetensors")) {}

  bool has(const std::string& tensor) const { return reader_.contains(tensor); }
  const TensorInfo& info(const std::string& tensor) const { return reader_.info(tensor); }
  std::vector<double> values(const std::string& tensor) { return reader_.read<double>(tensor); }

  /// A 1-D (or 2-D) integer tensor as token ids (1, T) (or (B, T)).
  TokenIds ids(const std::string& tensor) {
    const TensorInfo& t = reader_.info(tensor);
    const std::vector<double> v = reader_.read<double>(tensor);
    const Index rows = t.shape.size() == 2 ? t.shape[0] : 1;
    TokenIds ids(rows, t.shape.back());
    for (Index i = 0; i < ids.size(); ++i) ids.data()[i] = static_cast<TokenId>(v[static_cast<std::size_t>(i)]);
    return ids;
  }

  /// Count of "<prefix>.<i>" tensors.
  std::size_t count(const std::string& prefix) const {
    std::size_t n = 0;
    while (reader_.contains(prefix + "." + std::to_string(n))) ++n;
    return n;
  }

  json::Value metadata(const std::string& key) const {
    auto it = reader_.metadata().find(key);
    REQUIRE_MESSAGE(it != reader_.metadata().end(), "reference has no metadata '" << key << "'");
    return json::parse(it->second, key);
  }

  /// CHECKs `n` values against tensor `name` (same element count, max abs error within tolerance for T).
  template <class T, class A>
  double check(const A* actual, std::size_t n, const std::string& name) {
    const TensorInfo& t = reader_.info(name);
    const std::vector<double> expected = reader_.read<double>(name);
    REQUIRE_MESSAGE(n == expected.size(), name << ": " << n << " values, the reference " << detail::shape_str(t.shape)
                                               << " has " << expected.size());
    std::size_t where = 0;
    const double err = max_abs_error(actual, expected, &where);
    INFO(name << " " << detail::shape_str(t.shape) << ": max abs error " << err << " at flat index " << where
              << " (tolerance " << absolute_tolerance<T>() << ")");
    CHECK(err <= absolute_tolerance<T>());
    return err;
  }

  template <class T>
  double check(const Matrix<T>& m, const std::string& name) {
    return check<T>(m.data(), static_cast<std::size_t>(m.size()), name);
  }

  /// Checks a capture of batch element 0 against <prefix>hidden_states.<i>, <prefix>attentions.<i> (and
  /// cross_attentions.<i>): every hidden state, every attention map, and their number. Returns the worst error.
  template <class T>
  double check_capture(const Capture<T>& capture, const std::string& prefix) {
    double worst = 0;
    REQUIRE(capture.hidden_states.size() == count(prefix + "hidden_states"));
    REQUIRE(capture.attentions.size() == count(prefix + "attentions"));
    for (std::size_t i = 0; i < capture.hidden_states.size(); ++i) {
      const Tensor3<T>& h = capture.hidden_states[i];
      const std::size_t n = static_cast<std::size_t>(h.dimension(1) * h.dimension(2));
      worst = std::max(worst, check<T>(h.data(), n, prefix + "hidden_states." + std::to_string(i)));
    }
    for (std::size_t i = 0; i < capture.attentions.size(); ++i) {
      const Tensor4<T>& a = capture.attentions[i];
      const std::size_t n = static_cast<std::size_t>(a.dimension(1) * a.dimension(2) * a.dimension(3));
      worst = std::max(worst, check<T>(a.data(), n, prefix + "attentions." + std::to_string(i)));
    }
    if (!capture.cross_attentions.empty()) {
      REQUIRE(capture.cross_attentions.size() == count("cross_attentions"));
      for (std::size_t i = 0; i < capture.cross_attentions.size(); ++i) {
        const Tensor4<T>& a = capture.cross_attentions[i];
        const std::size_t n = static_cast<std::size_t>(a.dimension(1) * a.dimension(2) * a.dimension(3));
        worst = std::max(worst, check<T>(a.data(), n, "cross_attentions." + std::to_string(i)));
      }
    }
    return worst;
  }

 private:
  SafeTensorsReader reader_;
};

/// A fresh, empty folder under the system's temporary directory, removed when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    std::random_device rd;
    path_ = (std::filesystem::temp_directory_path() / ("eigenformer-" + tag + "-" + std::to_string(rd()))).string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  /// Copies the fixture checkpoint `name` into <this>/<name> and returns that folder.
  std::string copy_checkpoint(const std::string& name) const {
    const std::string to = path_ + "/" + name;
    std::filesystem::copy(model_dir(name), to, std::filesystem::copy_options::recursive);
    return to;
  }

 private:
  std::string path_;
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

/// Rewrites <folder>/config.json through `edit`.
template <class Edit>
void edit_config(const std::string& folder, Edit edit) {
  json::Value config = json::parse_file(folder + "/config.json");
  edit(config);
  write_text(folder + "/config.json", json::dump(config, 2));
}

/// Removes a key from a JSON object.
inline void erase_key(json::Value& object, const std::string& key) {
  json::Object& members = object.as_object();
  members.erase(std::remove_if(members.begin(), members.end(), [&](const json::Member& m) { return m.first == key; }),
                members.end());
}

/// Rewrites a safetensors file through `edit`, which receives every tensor (as F32 values) and may drop, rename,
/// reshape or add tensors.
struct StoredTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};
template <class Edit>
void edit_safetensors(const std::string& path, Edit edit) {
  std::vector<StoredTensor> tensors;
  {
    SafeTensorsReader reader(path);
    for (const TensorInfo& t : reader.tensors()) tensors.push_back({t.name, t.shape, reader.read<float>(t.name)});
  }
  edit(tensors);
  SafeTensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const StoredTensor& t : tensors) writer.add(t.name, t.shape, t.values.data(), DType::F32);
  writer.write(path);
}

}  // namespace eigenformer::testing
