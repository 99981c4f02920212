// eigenformer/models/checkpoint.hpp — a Hugging Face checkpoint folder: open it, load from it, save one.
//
//     my-model/
//       config.json                          the architecture, in the family's field names (ModelConfig)
//       model.safetensors                    every weight in one file, or, for large models,
//       model.safetensors.index.json         {"weight_map": {"<tensor name>": "model-00001-of-00002.safetensors"}}
//       model-00001-of-00002.safetensors     ... and the shards it names
//       generation_config.json, tokenizer.json, vocab.txt, ...   read by generation and the tokenizers
//
// Opening a Checkpoint reads config.json and the safetensors *headers* only — never the weights — and checks
// the folder completely: every shard the index names exists, every tensor of the index is in its shard and
// every tensor of a shard is in the index. A model is then built from the config and filled by name:
//
//     Checkpoint checkpoint("TinyLlama-1.1B");
//     LlamaConfig config = LlamaConfig::from(checkpoint.config());   // ConfigError before any allocation
//     Llama<float> model(config);
//     load_checkpoint(params, checkpoint, names);                    // strict: missing, unexpected, wrong shape
//
// Our parameter names are the lecture's ("layers.0.attn.q.weight"); a NameMapping turns them into the names
// Hugging Face writes ("model.layers.0.self_attn.q_proj.weight"), lists the older spellings that are accepted
// too (BERT's LayerNorm.gamma/beta, T5's encoder.embed_tokens), and says which file tensors are not parameters
// (buffers such as position_ids, tied copies). Saving writes the same layout back, loadable by transformers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/dtype.hpp"
#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/memory.hpp"
#include "eigenformer/core/parameters.hpp"
#include "eigenformer/core/safetensors.hpp"
#include "eigenformer/models/config.hpp"

namespace eigenformer {

/// How a family's parameters are named in Hugging Face files.
struct NameMapping {
  /// Our parameter name → the name Hugging Face writes (saving uses it; loading tries it first).
  std::function<std::string(const std::string&)> to_hf;
  /// A Hugging Face name → other spellings of the same tensor in older files, tried in order when the first
  /// is absent (e.g. "...LayerNorm.weight" → {"...LayerNorm.gamma"}). May be empty.
  std::function<std::vector<std::string>(const std::string&)> aliases;
  /// File tensors that are not parameters and are skipped: buffers (position_ids, rotary_emb.inv_freq) and
  /// copies of tied weights. May be empty.
  std::function<bool(const std::string&)> ignore;
};

/// A checkpoint folder, opened and validated (headers only).
class Checkpoint {
 public:
  static constexpr const char* kConfig = "config.json";
  static constexpr const char* kWeights = "model.safetensors";
  static constexpr const char* kIndex = "model.safetensors.index.json";

  /// Opens `folder`. FileError for a missing folder or file, ParseError for malformed JSON, ConfigError for
  /// a config.json that is not an object, FormatError for a safetensors file or an index that is malformed or
  /// inconsistent. Each message names the file (and the tensor).
  explicit Checkpoint(std::string folder) : folder_(std::move(folder)), config_(open_config(folder_)) {
    namespace fs = std::filesystem;
    const fs::path dir(folder_);
    if (fs::is_regular_file(dir / kWeights)) {
      // A single file wins over an index, as in transformers' from_pretrained.
      path_ = (dir / kWeights).string();
      add_shard(path_);
    } else if (fs::is_regular_file(dir / kIndex)) {
      path_ = (dir / kIndex).string();
      sharded_ = true;
      open_index();
    } else {
      std::string hint;
      if (fs::exists(dir / "pytorch_model.bin") || fs::exists(dir / "pytorch_model.bin.index.json")) {
        hint = " (pytorch_model.bin is a Python pickle, which eigenformer does not read: convert the checkpoint to"
               " safetensors first)";
      }
      throw FileError(detail::cat("[checkpoint] '", folder_, "' has neither ", kWeights, " nor ", kIndex, hint));
    }
  }

  const std::string& folder() const { return folder_; }
  const ModelConfig& config() const { return config_; }
  /// The file that lists the tensors: model.safetensors, or the index of a sharded checkpoint.
  const std::string& path() const { return path_; }
  bool sharded() const { return sharded_; }

  /// Every tensor of every shard (offsets relative to its own shard).
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  const TensorInfo* find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }

  /// Number of stored values (all tensors, every dtype): a consistent checkpoint holds at least as many as the
  /// model its config.json describes has parameters.
  std::int64_t stored_values() const {
    std::int64_t n = 0;
    for (const TensorInfo& t : tensors_) n += t.numel();
    return n;
  }

  /// Run before building a model of `parameters` parameters from config.json: ConfigError when the config asks
  /// for far more than the checkpoint stores (more than twice its values, plus a million), so that a corrupt or
  /// mismatched config.json is refused before it allocates. Smaller disagreements pass here and are reported
  /// precisely by the loader, which names the missing or misshapen tensor.
  void check_parameter_count(std::int64_t parameters) const {
    if (parameters > 2 * stored_values() + 1'000'000) {
      config_.fail(detail::cat("describes a model of ", parameters, " parameters, but ", path_, " stores only ",
                               stored_values(), " values: config.json and the weights disagree"));
    }
  }

  /// The memory guard of the weights (core/memory.hpp), run with check_parameter_count before the model is built:
  /// MemoryError when `parameters` values of Scalar would exceed the memory available —
  /// "[checkpoint] <folder>: the weights, 1100048384 parameters × 4 bytes = 4.1 GiB (...); 2.0 GiB (...) available".
  template <class Scalar>
  void check_weights_fit(std::int64_t parameters) const {
    check_fits(Count(parameters) * Count(sizeof(Scalar)), [&] {
      return detail::cat("[checkpoint] ", folder_, ": the weights, ", parameters, " parameters × ", sizeof(Scalar), " bytes");
    });
  }

  /// Reads tensor `t` (from tensors()/find()) converted to Scalar into dst, which holds t.numel() elements.
  template <class Scalar>
  void read_into(const TensorInfo& t, Scalar* dst) {
    auto it = index_.find(t.name);
    if (it == index_.end()) throw FormatError(detail::cat("[checkpoint] ", path_, ": no tensor named '", t.name, "'"));
    shards_[shard_of_[it->second]]->read_into(t, dst);
  }

  template <class Scalar>
  std::vector<Scalar> read(const std::string& name) {
    const TensorInfo* t = find(name);
    if (t == nullptr) throw FormatError(detail::cat("[checkpoint] ", path_, ": no tensor named '", name, "'"));
    std::vector<Scalar> out(static_cast<std::size_t>(t->numel()));
    read_into(*t, out.data());
    return out;
  }

 private:
  static ModelConfig open_config(const std::string& folder) {
    namespace fs = std::filesystem;
    const fs::path dir(folder);
    std::error_code ec;
    if (!fs::exists(dir, ec)) throw FileError(detail::cat("[checkpoint] '", folder, "' does not exist"));
    if (!fs::is_directory(dir, ec)) {
      throw FileError(detail::cat("[checkpoint] '", folder, "' is not a folder (give the checkpoint folder that holds ",
                                  kConfig, " and ", kWeights, ")"));
    }
    if (!fs::is_regular_file(dir / kConfig, ec)) {
      throw FileError(
          detail::cat("[checkpoint] '", folder, "' has no ", kConfig, " (is it a Hugging Face checkpoint folder?)"));
    }
    return ModelConfig::from_file((dir / kConfig).string());
  }

  void add_shard(const std::string& file) {
    shards_.push_back(std::make_unique<SafeTensorsReader>(file));
    for (const TensorInfo& t : shards_.back()->tensors()) {
      index_[t.name] = tensors_.size();
      tensors_.push_back(t);
      shard_of_.push_back(shards_.size() - 1);
    }
  }

  [[noreturn]] void index_error(const std::string& what) const {
    throw FormatError(detail::cat("[checkpoint] ", path_, ": ", what));
  }

  void open_index() {
    namespace fs = std::filesystem;
    const json::Value root = json::parse_file(path_);
    const json::Value* map = root.find("weight_map");
    if (map == nullptr || !map->is_object()) index_error("expected an object \"weight_map\" of tensor name -> shard file");
    // 1) The shards: plain file names in this folder, each opened (and its header validated) once.
    std::map<std::string, std::size_t> shard_index;
    std::vector<std::string> shard_names;
    for (const json::Member& m : map->as_object()) {
      if (!m.second.is_string()) {
        index_error(detail::cat("tensor '", m.first, "' maps to ", json::type_name(m.second.type()), ", not a file name"));
      }
      const std::string& file = m.second.as_string();
      const bool plain = !file.empty() && file != "." && file != ".." && file.find_first_of("/\\") == std::string::npos;
      if (!plain) {
        index_error(detail::cat("tensor '", m.first, "' maps to '", file, "', which is not a file name in this folder"));
      }
      if (shard_index.count(file) == 0) {
        const fs::path shard = fs::path(folder_) / file;
        // The error_code form: a name the file system refuses (longer than NAME_MAX, say) is a shard that is not
        // there, reported as such — the throwing form would escape as std::filesystem_error (found by fuzzing).
        std::error_code refused;
        if (!fs::is_regular_file(shard, refused)) {
          throw FileError(detail::cat("[checkpoint] ", path_, ": shard '", file, "' (holding tensor '", m.first,
                                      "') does not exist in '", folder_, "'",
                                      refused ? detail::cat(" (", refused.message(), ")") : std::string()));
        }
        shard_index[file] = shard_names.size();
        shard_names.push_back(file);
        add_shard(shard.string());
      }
    }
    // 2) Index and shards agree both ways.
    std::map<std::string, std::string> listed;
    for (const json::Member& m : map->as_object()) listed[m.first] = m.second.as_string();
    for (const auto& [name, file] : listed) {
      auto it = index_.find(name);
      if (it == index_.end() || shard_names[shard_of_[it->second]] != file) {
        index_error(detail::cat("tensor '", name, "' is listed in shard '", file, "', but that file has no such tensor"));
      }
    }
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
      auto it = listed.find(tensors_[i].name);
      if (it == listed.end() || it->second != shard_names[shard_of_[i]]) {
        const std::string where = it == listed.end() ? "does not list" : "places in '" + it->second + "'";
        index_error(detail::cat("shard '", shard_names[shard_of_[i]], "' holds tensor '", tensors_[i].name,
                                "', which the index ", where));
      }
    }
    if (tensors_.size() != listed.size()) index_error("a tensor appears in more than one shard");
  }

  std::string folder_;
  ModelConfig config_;
  std::string path_;
  bool sharded_ = false;
  std::vector<std::unique_ptr<SafeTensorsReader>> shards_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;  // name → position in tensors_
  std::vector<std::size_t> shard_of_;                   // position in tensors_ → shard
};

/// Loads every parameter from the checkpoint under its Hugging Face name (or an accepted older spelling),
/// converting F16/BF16 to Scalar. Strict: a parameter missing from the file, a file tensor that is neither a
/// parameter nor ignored, and a shape that differs from the one config.json implies are FormatErrors naming
/// the tensor (and both shapes).
template <class Scalar>
void load_checkpoint(ParameterList<Scalar>& params, Checkpoint& checkpoint, const NameMapping& names) {
  // 1) Pick each parameter's file name: the first spelling the file has (the canonical one when none).
  std::unordered_map<std::string, std::string> chosen;
  std::set<std::string> spare;  // other spellings present in the file: copies, skipped
  for (const ParameterRef<Scalar>& p : params) {
    std::vector<std::string> spellings{names.to_hf(p.name)};
    if (names.aliases) {
      for (std::string& a : names.aliases(spellings.front())) spellings.push_back(std::move(a));
    }
    std::string pick = spellings.front();
    bool found = false;
    for (const std::string& s : spellings) {
      if (!checkpoint.contains(s)) continue;
      if (!found) {
        pick = s;
        found = true;
      } else {
        spare.insert(s);
      }
    }
    chosen[p.name] = pick;
    // Shapes first, before any data is read: the model's shapes come from config.json.
    const TensorInfo* t = checkpoint.find(pick);
    if (t != nullptr && t->shape != p.shape) {
      throw FormatError(detail::cat("[load] ", checkpoint.path(), ": tensor '", pick, "' has shape ",
                                    detail::shape_str(t->shape), " but config.json implies ", detail::shape_str(p.shape)));
    }
  }
  // 2) The core loader does the rest: strict both ways, shapes checked, dtypes converted.
  LoadOptions options;
  options.strict = true;
  options.rename = [&](const std::string& ours) { return chosen.at(ours); };
  options.ignore = [&](const std::string& file_name) {
    return spare.count(file_name) != 0 || (names.ignore && names.ignore(file_name));
  };
  load_parameters(params, checkpoint, options);
}

namespace detail {

inline const char* torch_dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    case DType::F64: return "float64";
    default: return "float32";
  }
}

}  // namespace detail

/// Saves a checkpoint folder that transformers' from_pretrained reads: config.json (`config`, with
/// "torch_dtype" set) and model.safetensors (every parameter under its Hugging Face name, as `dtype`, with the
/// {"format": "pt"} metadata transformers expects). Both files are written atomically. The folder is created
/// when needed; a folder that already holds a sharded checkpoint is refused (its index would shadow nothing
/// but confuse readers).
template <class Scalar>
void save_checkpoint(const std::string& folder, const json::Value& config, const ParameterList<Scalar>& params,
                     const NameMapping& names, DType dtype = DType::F32) {
  namespace fs = std::filesystem;
  if (dtype != DType::F32 && dtype != DType::F16 && dtype != DType::BF16 && dtype != DType::F64) {
    throw ValueError(detail::cat("[checkpoint] cannot save weights as ", dtype_name(dtype), "; use F32, F16 or BF16"));
  }
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (!fs::is_directory(folder)) throw FileError(detail::cat("[checkpoint] cannot create the folder '", folder, "'"));
  if (fs::exists(fs::path(folder) / Checkpoint::kIndex)) {
    throw FileError(detail::cat("[checkpoint] '", folder, "' holds a sharded checkpoint (", Checkpoint::kIndex,
                                "); save to another folder"));
  }
  // 1) The weights.
  SafeTensorsWriter writer;
  writer.set_metadata("format", "pt");
  for (const ParameterRef<Scalar>& p : params) writer.add(names.to_hf(p.name), p.shape, p.data, dtype);
  writer.write((fs::path(folder) / Checkpoint::kWeights).string());
  // 2) The config, last: a folder with a config.json always has the weights it describes.
  json::Value out = config;
  out.set("torch_dtype", detail::torch_dtype_name(dtype));
  write_file_atomically((fs::path(folder) / Checkpoint::kConfig).string(), json::dump(out, 2) + "\n", "[checkpoint]");
}

}  // namespace eigenformer
