// Checkpoint folders (models/checkpoint.hpp), config.json (models/config.hpp) and name tables
// (models/name_table.hpp): every way a folder, a config or a tensor can be wrong gives one typed error, on one line,
// naming the file, the field or the tensor — before a large allocation where the config is at fault.
#include <doctest/doctest.h>

#include "bert/bert.hpp"
#include "llama/llama.hpp"
#include "model_fixture.hpp"
#include "t5/t5.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace {

/// Runs `load`, expects an exception of type E whose message contains `fragment` and is one line.
template <class E, class Load>
void expect_error(Load load, const std::string& fragment) {
  CAPTURE(fragment);
  try {
    load();
    FAIL("no exception");
  } catch (const E& e) {
    const std::string message = e.what();
    INFO("message: " << message);
    CHECK(message.find(fragment) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  }
}

void load_llama(const std::string& folder) { Llama<float>::from_pretrained(folder); }

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Name tables
// ---------------------------------------------------------------------------------------------------------------

TEST_CASE("NameTable maps prefixes and exact names, with {i} for the layer") {
  const NameTable table({
      {"embed.", "model.embed_tokens."},
      {"layers.{i}.attn.q.", "model.layers.{i}.self_attn.q_proj."},
      {"layers.{i}.attn_norm.", "model.layers.{i}.input_layernorm."},
      {"mlm.bias", "cls.predictions.bias"},
  });
  CHECK(table.to_hf("embed.weight") == "model.embed_tokens.weight");
  CHECK(table.to_hf("layers.12.attn.q.bias") == "model.layers.12.self_attn.q_proj.bias");
  CHECK(table.to_hf("layers.0.attn_norm.weight") == "model.layers.0.input_layernorm.weight");
  CHECK(table.to_hf("mlm.bias") == "cls.predictions.bias");
  CHECK(table.from_hf("model.layers.7.self_attn.q_proj.weight") == "layers.7.attn.q.weight");
  CHECK(table.from_hf("model.layers.x.self_attn.q_proj.weight").empty());
  CHECK(table.from_hf("cls.predictions.bias.extra").empty());  // an exact row does not match as a prefix
  CHECK_THROWS_WITH_AS(table.to_hf("layers.3.attn.k.weight"), "[NameTable] no Hugging Face name for parameter 'layers.3.attn.k.weight'",
                       ValueError);
  CHECK_THROWS_AS(table.to_hf("embed."), ValueError);  // a prefix row needs something after the prefix
}

TEST_CASE("Every parameter of every family has a Hugging Face name that maps back") {
  for (const char* name : {"llama-gqa-sharded", "llama-tied-bf16"}) {
    Llama<float> model = Llama<float>::from_pretrained(model_dir(name));
    for (const auto& p : named_parameters(model)) CHECK(Llama<float>::hf_names().from_hf(model.names().to_hf(p.name)) == p.name);
  }
  T5<float> t5 = T5<float>::from_pretrained(model_dir("flan-t5-style"));
  for (const auto& p : named_parameters(t5)) CHECK(t5.hf_names().from_hf(t5.names().to_hf(p.name)) == p.name);
  Bert<float> bert = Bert<float>::from_pretrained(model_dir("bert-classifier"));
  for (const auto& p : named_parameters(bert)) {
    std::string hf = bert.names().to_hf(p.name);
    if (hf.compare(0, 5, "bert.") == 0) hf = hf.substr(5);
    CHECK(Bert<float>::hf_names().from_hf(hf) == p.name);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// config.json
// ---------------------------------------------------------------------------------------------------------------

TEST_CASE("ModelConfig: typed access, HF defaults, and one ConfigError per problem naming file and field") {
  const ModelConfig c(json::parse(R"({"a": 3, "b": "x", "c": null, "d": 1.5, "e": [1, 2], "f": true, "g": {"h": 0},
                                      "z": 0, "big": 100000000, "neg": -1, "n": 10000})"),
                      "dir/config.json");
  CHECK(c.integer("a") == 3);
  CHECK(c.integer("c", 7) == 7);  // null counts as absent
  CHECK(c.positive_or("missing", 5) == 5);
  CHECK(c.integers("e") == std::vector<std::int64_t>{1, 2});
  CHECK(c.integers("a") == std::vector<std::int64_t>{3});
  CHECK(c.integers("c").empty());
  CHECK(c.number("n") == 10000.0);  // an integer is a number too ("rope_theta": 10000)
  CHECK(c.boolean("f", false));
  CHECK_THROWS_WITH_AS(c.integer("missing"), "[config] dir/config.json: field 'missing' is missing", ConfigError);
  CHECK_THROWS_WITH_AS(c.integer("b"), "[config] dir/config.json: field 'b' must be an integer, got a string", ConfigError);
  CHECK_THROWS_WITH_AS(c.integer("d"), "[config] dir/config.json: field 'd' must be an integer, got 1.5", ConfigError);
  CHECK_THROWS_WITH_AS(c.boolean("a", false), "[config] dir/config.json: field 'a' must be true or false, got a number",
                       ConfigError);
  CHECK_THROWS_WITH_AS(c.positive("z"), "[config] dir/config.json: field 'z' must be at least 1, got 0", ConfigError);
  CHECK_THROWS_WITH_AS(c.positive("neg"), "[config] dir/config.json: field 'neg' must be at least 1, got -1", ConfigError);
  CHECK_THROWS_WITH_AS(c.positive("big"), doctest::Contains("field 'big' is 100000000, above the limit of 16777216"),
                       ConfigError);
  CHECK_THROWS_WITH_AS(c.object("g").positive("h"), "[config] dir/config.json: g: field 'h' must be at least 1, got 0",
                       ConfigError);
  CHECK_THROWS_WITH_AS(c.object("a"), "[config] dir/config.json: field 'a' must be an object, got a number", ConfigError);
  CHECK_THROWS_WITH_AS(c.check_divisible("n", 30, "heads", 4), "[config] dir/config.json: n 30 is not divisible by heads 4",
                       ConfigError);
  CHECK_THROWS_WITH_AS(ModelConfig(json::parse("[1]"), "x.json"), "[config] x.json: expected a JSON object, got an array",
                       ConfigError);
}

TEST_CASE("Llama config.json mistakes are ConfigErrors naming the field, before anything is allocated") {
  TempDir tmp("llama-config");
  const std::string base = "llama-gqa-sharded";
  struct Case {
    const char* what;
    std::function<void(json::Value&)> edit;
    const char* fragment;
  };
  const std::vector<Case> cases = {
      {"missing field", [](json::Value& c) { erase_key(c, "hidden_size"); }, "field 'hidden_size' is missing"},
      {"mistyped field", [](json::Value& c) { c.set("num_hidden_layers", "2"); },
       "field 'num_hidden_layers' must be an integer, got a string"},
      {"zero layers", [](json::Value& c) { c.set("num_hidden_layers", 0); }, "field 'num_hidden_layers' must be at least 1, got 0"},
      {"hidden not divisible by heads", [](json::Value& c) { c.set("num_attention_heads", 3); },
       "hidden_size 16 is not divisible by num_attention_heads 3"},
      {"heads not divisible by kv heads", [](json::Value& c) { c.set("num_key_value_heads", 3); },
       "num_attention_heads 4 is not divisible by num_key_value_heads 3"},
      {"odd head_dim", [](json::Value& c) { c.set("head_dim", 5); }, "head_dim 5 is odd"},
      {"unknown activation", [](json::Value& c) { c.set("hidden_act", "mish"); }, "field 'hidden_act' is 'mish'"},
      {"unsupported rope scaling", [](json::Value& c) {
         json::Value r;
         r.set("rope_type", "yarn");
         r.set("factor", 4.0);
         c.set("rope_scaling", r);
       }, "rope type 'yarn' is not supported"},
      {"llama3 scaling without its fields", [](json::Value& c) {
         json::Value r;
         r.set("rope_type", "llama3");
         r.set("factor", 8.0);
         c.set("rope_scaling", r);
       }, "rope_scaling: field 'low_freq_factor' is missing"},
      {"negative eps", [](json::Value& c) { c.set("rms_norm_eps", -1e-5); }, "field 'rms_norm_eps' must be a positive number"},
      {"eos outside the vocabulary", [](json::Value& c) { c.set("eos_token_id", 71); },
       "field 'eos_token_id' is 71, outside the vocabulary of 71 tokens"},
      {"another family", [](json::Value& c) { c.set("model_type", "gpt2"); }, "model_type is 'gpt2', expected 'llama'"},
      // A vocabulary the weights cannot hold: refused before the (huge) model is allocated.
      {"inflated vocabulary", [](json::Value& c) { c.set("vocab_size", 10000000); },
       "describes a model of 320004304 parameters, but"},
      {"absurd size", [](json::Value& c) { c.set("intermediate_size", 1000000000); }, "above the limit of 16777216"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    const std::string folder = tmp / (std::string("case-") + std::to_string(&c - cases.data()));
    std::filesystem::copy(model_dir(base), folder, std::filesystem::copy_options::recursive);
    edit_config(folder, c.edit);
    expect_error<ConfigError>([&] { load_llama(folder); }, c.fragment);
    expect_error<ConfigError>([&] { load_llama(folder); }, folder + "/config.json");
  }
}

TEST_CASE("T5 and BERT config.json mistakes are ConfigErrors naming the field") {
  TempDir tmp("family-config");
  const std::string t5 = tmp.copy_checkpoint("t5-small-style");
  edit_config(t5, [](json::Value& c) { c.set("feed_forward_proj", "gated-gelu-new"); });
  expect_error<ConfigError>([&] { T5<float>::from_pretrained(t5); }, "feed_forward_proj 'gated-gelu-new' is not");
  edit_config(t5, [](json::Value& c) { c.set("feed_forward_proj", "swiglu"); });
  expect_error<ConfigError>([&] { T5<float>::from_pretrained(t5); }, "field 'feed_forward_proj' is 'swiglu'");
  edit_config(t5, [](json::Value& c) {
    c.set("feed_forward_proj", "relu");
    c.set("relative_attention_max_distance", 2);
  });
  expect_error<ConfigError>([&] { T5<float>::from_pretrained(t5); }, "relative_attention_max_distance 2 must exceed half of 8");
  const std::string bert = tmp.copy_checkpoint("bert-classifier");
  edit_config(bert, [](json::Value& c) { c.set("position_embedding_type", "relative_key"); });
  expect_error<ConfigError>([&] { Bert<float>::from_pretrained(bert); }, "position_embedding_type 'relative_key' is not supported");
  edit_config(bert, [](json::Value& c) {
    c.set("position_embedding_type", "absolute");
    c.set("hidden_size", 15);
  });
  expect_error<ConfigError>([&] { Bert<float>::from_pretrained(bert); }, "hidden_size 15 is not divisible by num_attention_heads 2");
}

// ---------------------------------------------------------------------------------------------------------------
// Folders and files
// ---------------------------------------------------------------------------------------------------------------

TEST_CASE("A wrong folder is a FileError naming it") {
  TempDir tmp("folders");
  expect_error<FileError>([&] { Checkpoint(tmp / "nowhere"); }, "does not exist");
  write_text(tmp / "file.txt", "hello");
  expect_error<FileError>([&] { Checkpoint(tmp / "file.txt"); }, "is not a folder");
  std::filesystem::create_directories(tmp / "empty");
  expect_error<FileError>([&] { Checkpoint(tmp / "empty"); }, "has no config.json");
  const std::string folder = tmp.copy_checkpoint("llama-mqa-f16");
  std::filesystem::rename(folder + "/model.safetensors", folder + "/pytorch_model.bin");
  expect_error<FileError>([&] { Checkpoint{folder}; }, "has neither model.safetensors nor model.safetensors.index.json");
  expect_error<FileError>([&] { Checkpoint{folder}; }, "pytorch_model.bin is a Python pickle");
}

TEST_CASE("A malformed config.json or weights file is a FormatError naming the file") {
  TempDir tmp("malformed");
  const std::string folder = tmp.copy_checkpoint("llama-mqa-f16");
  write_text(folder + "/config.json", "{\"vocab_size\": 50,\n \"hidden_size\": }");
  expect_error<ParseError>([&] { load_llama(folder); }, "config.json: line 2 column 17");
  write_text(folder + "/config.json", "[]");
  expect_error<ConfigError>([&] { load_llama(folder); }, "expected a JSON object, got an array");
  const std::string other = tmp.copy_checkpoint("llama-tied-bf16");
  write_text(other + "/model.safetensors", std::string("\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13));
  expect_error<FormatError>([&] { load_llama(other); }, "model.safetensors");
}

TEST_CASE("A sharded checkpoint's index is checked against its shards, both ways") {
  TempDir tmp("index");
  const std::string name = "llama-gqa-sharded";
  const auto fresh = [&](const std::string& tag) {
    const std::string folder = tmp / tag;
    std::filesystem::copy(model_dir(name), folder, std::filesystem::copy_options::recursive);
    return folder;
  };
  const auto edit_index = [](const std::string& folder, const std::function<void(json::Value&)>& edit) {
    json::Value index = json::parse_file(folder + "/model.safetensors.index.json");
    edit(index);
    write_text(folder + "/model.safetensors.index.json", json::dump(index, 2));
  };
  {
    const std::string f = fresh("ok");
    Checkpoint c(f);
    CHECK(c.sharded());
    CHECK(c.path() == f + "/model.safetensors.index.json");
    CHECK(c.contains("model.layers.1.mlp.up_proj.weight"));  // in the second shard
  }
  {
    const std::string f = fresh("no-map");
    edit_index(f, [](json::Value& i) { erase_key(i, "weight_map"); });
    expect_error<FormatError>([&] { Checkpoint{f}; }, "expected an object \"weight_map\"");
  }
  {
    const std::string f = fresh("missing-shard");
    std::filesystem::remove(f + "/model-00002-of-00002.safetensors");
    expect_error<FileError>([&] { Checkpoint{f}; }, "shard 'model-00002-of-00002.safetensors' (holding tensor");
  }
  {
    // A shard name longer than the file system allows (found by fuzz_checkpoint_index): a FileError, not an
    // escaping std::filesystem_error.
    const std::string f = fresh("long-shard-name");
    const std::string name = std::string(300, 'c') + ".safetensors";
    edit_index(f, [&](json::Value& i) {
      json::Value map = i.at("weight_map");
      map.set("model.norm.weight", name);
      i.set("weight_map", map);
    });
    expect_error<FileError>([&] { Checkpoint{f}; }, "shard '" + name + "' (holding tensor 'model.norm.weight') does not exist");
  }
  {
    const std::string f = fresh("wrong-shard");
    edit_index(f, [](json::Value& i) {
      json::Value map = i.at("weight_map");
      map.set("model.norm.weight", "model-00001-of-00002.safetensors");
      i.set("weight_map", map);
    });
    expect_error<FormatError>([&] { Checkpoint{f}; },
                              "tensor 'model.norm.weight' is listed in shard 'model-00001-of-00002.safetensors', but that file has no such tensor");
  }
  {
    const std::string f = fresh("unlisted");
    edit_index(f, [](json::Value& i) {
      json::Value map = i.at("weight_map");
      erase_key(map, "lm_head.weight");
      i.set("weight_map", map);
    });
    expect_error<FormatError>([&] { Checkpoint{f}; }, "holds tensor 'lm_head.weight', which the index does not list");
  }
  {
    const std::string f = fresh("escape");
    edit_index(f, [](json::Value& i) {
      json::Value map = i.at("weight_map");
      map.set("model.norm.weight", "../model-00002-of-00002.safetensors");
      i.set("weight_map", map);
    });
    expect_error<FormatError>([&] { Checkpoint{f}; }, "which is not a file name in this folder");
  }
}

TEST_CASE("Strict loading: a missing, an unexpected or a misshapen tensor is a FormatError naming it") {
  TempDir tmp("tensors");
  {
    const std::string f = tmp.copy_checkpoint("llama-mqa-f16");
    edit_safetensors(f + "/model.safetensors", [](std::vector<StoredTensor>& t) {
      t.erase(std::remove_if(t.begin(), t.end(), [](const StoredTensor& s) { return s.name == "model.norm.weight"; }), t.end());
    });
    expect_error<FormatError>([&] { load_llama(f); }, "missing tensor 'model.norm.weight' (expected shape [16])");
  }
  {
    const std::string f = tmp.copy_checkpoint("llama-tied-bf16");
    edit_safetensors(f + "/model.safetensors", [](std::vector<StoredTensor>& t) {
      t.push_back({"model.layers.0.self_attn.extra.weight", {2, 2}, {1, 2, 3, 4}});
    });
    expect_error<FormatError>([&] { load_llama(f); },
                              "unexpected tensor 'model.layers.0.self_attn.extra.weight' with shape [2, 2]");
  }
  {
    // A GQA checkpoint whose config.json forgot num_key_value_heads: k_proj is (Hkv·D, C) = [8, 16], not [16, 16].
    TempDir gqa("gqa-config");
    const std::string f = gqa.copy_checkpoint("llama-gqa-sharded");
    edit_config(f, [](json::Value& c) { erase_key(c, "num_key_value_heads"); });
    expect_error<FormatError>([&] { load_llama(f); },
                              "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [8, 16] but config.json implies [16, 16]");
  }
  {
    // bert-base's old names: a file with LayerNorm.gamma and without beta is missing the bias (named in HF's
    // modern spelling, the one the model looks for first).
    const std::string f = tmp.copy_checkpoint("bert-base-style");
    edit_safetensors(f + "/model.safetensors", [](std::vector<StoredTensor>& t) {
      t.erase(std::remove_if(t.begin(), t.end(), [](const StoredTensor& s) { return s.name == "bert.embeddings.LayerNorm.beta"; }),
              t.end());
    });
    expect_error<FormatError>([&] { Bert<float>::from_pretrained(f); }, "missing tensor 'bert.embeddings.LayerNorm.bias'");
  }
}

TEST_CASE("Saving: BF16 and F16 round to the nearest value, and a sharded folder is not overwritten") {
  TempDir tmp("save");
  Llama<float> model = Llama<float>::from_pretrained(model_dir("llama-tied-bf16"));  // BF16 values: exact in BF16
  model.save_pretrained(tmp / "bf16", DType::BF16);
  SafeTensorsReader file(tmp / "bf16/model.safetensors");
  CHECK(file.info("model.embed_tokens.weight").dtype == DType::BF16);
  CHECK(json::parse_file(tmp / "bf16/config.json").at("torch_dtype").as_string() == "bfloat16");
  Llama<float> again = Llama<float>::from_pretrained(tmp / "bf16");
  CHECK(again.embed_tokens.weight == model.embed_tokens.weight);

  const std::string sharded = tmp.copy_checkpoint("llama-gqa-sharded");
  Llama<float> gqa = Llama<float>::from_pretrained(sharded);
  expect_error<FileError>([&] { gqa.save_pretrained(sharded); }, "holds a sharded checkpoint");
  CHECK_THROWS_AS(gqa.save_pretrained(tmp / "i32", DType::I32), ValueError);
}
