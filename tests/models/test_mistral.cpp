// Sliding-window attention: the mask kind in the attention core (attention/attention.hpp), the window-bounded KV
// cache (attention/kv_cache.hpp), and the llama program's "mistral" model_type and Qwen2 with use_sliding_window
// (examples/llama/llama_config.hpp), against tools/fixtures/reference_mistral.py:
//   - the core's window mask equals a full (non-causal) attention with the window applied by hand as a −∞ bias,
//     for every window, query offset and dropped-key offset — brute force over all (i, j);
//   - logits, every hidden state and attention map ≤ 1e-4 in float, ≤ 1e-10 in double;
//   - token-by-token and chunked decoding far beyond the window, with the full cache and with the window-bounded
//     one (whose size stays ≤ W), equal the uncached full-mask pass;
//   - greedy search gives the reference's tokens (tests/fixtures/generation/mistral_sequences.json) uncached, cached
//     and with the bounded cache;
//   - config.json: sliding_window null / absent / a number, head_dim, Qwen2's max_window_layers and layer_types.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "llama/llama.hpp"
#include "model_fixture.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

namespace mistral_tests {

const std::vector<std::string> kCheckpoints = {"mistral-swa", "mistral-headdim-bf16", "mistral-nowindow", "qwen2-swa"};

template <class T>
Matrix<T> full_logits(Llama<T>& model, const TokenIds& ids, Capture<T>* capture = nullptr) {
  Matrix<T> logits;
  LlamaOptions<T> options;
  options.capture = capture;
  model.forward(ids, logits, options);
  return logits;
}

TokenSequence ids_of(const json::Value& v) {
  TokenSequence out;
  for (const json::Value& id : v.as_array()) out.push_back(static_cast<TokenId>(id.as_int()));
  return out;
}

template <class T>
Matrix<T> random_matrix(Index rows, Index cols, std::mt19937& rng) {
  std::normal_distribution<double> normal(0.0, 1.0);
  Matrix<T> m(rows, cols);
  for (Index r = 0; r < rows; ++r) {
    for (Index c = 0; c < cols; ++c) m(r, c) = static_cast<T>(normal(rng));
  }
  return m;
}

/// Removes a member of a JSON object (json::Object keeps file order in a vector).
void erase_field(json::Value& j, const std::string& field) {
  json::Object& o = j.as_object();
  o.erase(std::remove_if(o.begin(), o.end(), [&](const json::Member& m) { return m.first == field; }), o.end());
}

/// A random sequence of `length` ids below `vocab`, starting with `first`.
TokenIds random_ids(Index length, Index vocab, TokenId first, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<TokenId> pick(0, static_cast<TokenId>(vocab - 1));
  TokenIds ids(1, length);
  ids(0, 0) = first;
  for (Index t = 1; t < length; ++t) ids(0, t) = pick(rng);
  return ids;
}

}  // namespace mistral_tests

TEST_CASE_TEMPLATE("sliding-window mask: the core equals a full attention with the window applied by hand", T, float, double) {
  // B = 2 sequences, H = 4 query heads over Hkv = 2, D = 3; keys at positions 0..S−1.
  const Index B = 2, H = 4, Hkv = 2, D = 3, S = 13;
  std::mt19937 rng(7);
  const Matrix<T> q_all = mistral_tests::random_matrix<T>(B * S, H * D, rng);
  const Matrix<T> k_all = mistral_tests::random_matrix<T>(B * S, Hkv * D, rng);
  const Matrix<T> v_all = mistral_tests::random_matrix<T>(B * S, Hkv * D, rng);
  const T scale = static_cast<T>(1.0 / std::sqrt(3.0));
  const double tolerance = std::is_same_v<T, float> ? 1e-6 : 1e-14;
  double worst = 0;
  int cases = 0;
  for (Index W : {1, 2, 3, 5, 12, 13, 40}) {
    // Queries: positions first_query..S−1 (a cached call when first_query > 0). Keys: positions first_key..S−1
    // (a bounded cache dropped the ones before first_key), first_key ≤ first_query.
    for (Index first_query : {0, 4, 12}) {
      // (Dropping a key the window still sees — first_key > first_query − W + 1 — is the caller's error.)
      for (Index first_key : {Index(0), std::max<Index>(0, first_query - W + 1)}) {
        CAPTURE(W);
        CAPTURE(first_query);
        CAPTURE(first_key);
        const Index T_ = S - first_query, S_ = S - first_key;
        Matrix<T> q(B * T_, H * D), k(B * S_, Hkv * D), v(B * S_, Hkv * D), k_full(B * S, Hkv * D), v_full(B * S, Hkv * D);
        for (Index b = 0; b < B; ++b) {
          q.middleRows(b * T_, T_) = q_all.middleRows(b * S + first_query, T_);
          k.middleRows(b * S_, S_) = k_all.middleRows(b * S + first_key, S_);
          v.middleRows(b * S_, S_) = v_all.middleRows(b * S + first_key, S_);
        }
        k_full = k_all;
        v_full = v_all;

        // 1) The core's mask kind: causal + window, with the offsets.
        Matrix<T> context(B * T_, H * D);
        AttentionMask<T> mask;
        mask.causal = true;
        mask.window = W;
        mask.first_query = first_query;
        mask.first_key = first_key;
        AttentionScratch<T> scratch;
        Tensor4<T> weights;
        AttentionRecord<T> record;
        record.weights = &weights;
        scaled_dot_product_attention<T>(HeadsView<const T>::of(q, B, H), HeadsView<const T>::of(k, B, Hkv),
                                        HeadsView<const T>::of(v, B, Hkv), HeadsView<T>::of(context, B, H), mask, scale,
                                        scratch, record);

        // 2) By hand: every key 0..S−1, no causal flag, a (1, 1, T, S) bias of −∞ wherever NOT (i − W < j ≤ i).
        Tensor4<T> bias(1, 1, T_, S);
        for (Index t = 0; t < T_; ++t) {
          const Index i = first_query + t;
          for (Index j = 0; j < S; ++j) {
            const bool seen = j <= i && j > i - W;
            bias(0, 0, t, j) = seen ? T(0) : -std::numeric_limits<T>::infinity();
          }
        }
        Matrix<T> expected(B * T_, H * D);
        AttentionMask<T> by_hand;
        by_hand.bias = &bias;
        Tensor4<T> expected_weights;
        AttentionRecord<T> expected_record;
        expected_record.weights = &expected_weights;
        scaled_dot_product_attention<T>(HeadsView<const T>::of(q, B, H), HeadsView<const T>::of(k_full, B, Hkv),
                                        HeadsView<const T>::of(v_full, B, Hkv), HeadsView<T>::of(expected, B, H), by_hand,
                                        scale, scratch, expected_record);
        const double err = static_cast<double>((context - expected).cwiseAbs().maxCoeff());
        worst = std::max(worst, err);
        CHECK(err <= tolerance);
        // The weights: the kept keys' columns agree, and the dropped keys had weight 0 in the full version.
        for (Index b = 0; b < B; ++b) {
          for (Index h = 0; h < H; ++h) {
            for (Index t = 0; t < T_; ++t) {
              for (Index j = 0; j < S; ++j) {
                const T full = expected_weights(b, h, t, j);
                if (j < first_key) {
                  CHECK(full == T(0));
                } else {
                  CHECK(std::abs(static_cast<double>(weights(b, h, t, j - first_key) - full)) <= tolerance);
                }
              }
              // Exactly min(W, i + 1) keys carry weight.
              Index nonzero = 0;
              for (Index j = 0; j < S; ++j) nonzero += expected_weights(b, h, t, j) != T(0) ? 1 : 0;
              CHECK(nonzero == std::min(W, first_query + t + 1));
            }
          }
        }
        ++cases;
      }
    }
  }
  MESSAGE("window mask vs hand-made full mask, " << cases << " cases: max abs difference " << worst);

  // Misuse: a window without the causal mask, a negative one, keys starting after the first query.
  Matrix<T> context(B * S, H * D);
  AttentionScratch<T> scratch;
  AttentionMask<T> bad;
  bad.window = 3;
  CHECK_THROWS_AS(scaled_dot_product_attention<T>(HeadsView<const T>::of(q_all, B, H), HeadsView<const T>::of(k_all, B, Hkv),
                                                  HeadsView<const T>::of(v_all, B, Hkv), HeadsView<T>::of(context, B, H),
                                                  bad, scale, scratch),
                  ValueError);
  bad.causal = true;
  bad.window = -1;
  CHECK_THROWS_AS(scaled_dot_product_attention<T>(HeadsView<const T>::of(q_all, B, H), HeadsView<const T>::of(k_all, B, Hkv),
                                                  HeadsView<const T>::of(v_all, B, Hkv), HeadsView<T>::of(context, B, H),
                                                  bad, scale, scratch),
                  ValueError);
  bad.window = 2;
  bad.first_key = 1;
  CHECK_THROWS_AS(scaled_dot_product_attention<T>(HeadsView<const T>::of(q_all, B, H), HeadsView<const T>::of(k_all, B, Hkv),
                                                  HeadsView<const T>::of(v_all, B, Hkv), HeadsView<T>::of(context, B, H),
                                                  bad, scale, scratch),
                  ShapeError);
}

TEST_CASE("KVCache::keep_last drops the oldest positions and keeps the absolute positions") {
  KVCache<double> cache;
  Matrix<double> k(2 * 5, 2), v(2 * 5, 2);  // B = 2, T = 5, width 2: value = 100·b + 10·t + column
  for (Index b = 0; b < 2; ++b) {
    for (Index t = 0; t < 5; ++t) {
      k.row(b * 5 + t) << 100.0 * b + 10.0 * t, 100.0 * b + 10.0 * t + 1;
      v.row(b * 5 + t) = -k.row(b * 5 + t);
    }
  }
  cache.append(k, v, 2);
  cache.keep_last(2);
  CHECK(cache.first_position() == 3);
  CHECK(cache.length() == 2);
  CHECK(cache.end_position() == 5);
  const HeadsView<const double> keys = cache.key_heads(1);
  CHECK(keys.block(0, 0)(0, 0) == 30.0);   // sequence 0, position 3
  CHECK(keys.block(1, 0)(1, 1) == 141.0);  // sequence 1, position 4
  CHECK(cache.value_heads(1).block(1, 0)(0, 0) == -130.0);
  cache.keep_last(5);  // fewer stored: nothing happens
  CHECK(cache.length() == 2);
  CHECK_THROWS_AS(cache.truncate(2), ValueError);  // position 2 was dropped
  cache.truncate(4);
  CHECK(cache.end_position() == 4);
  cache.clear();
  CHECK(cache.first_position() == 0);
  CHECK(cache.end_position() == 0);
}

TEST_CASE_TEMPLATE("Mistral and Qwen2 (use_sliding_window) match the PyTorch reference: logits, hidden states, attentions", T,
                   float, double) {
  for (const std::string& name : mistral_tests::kCheckpoints) {
    CAPTURE(name);
    Reference ref(name);
    Llama<T> model = Llama<T>::from_pretrained(model_dir(name));
    Capture<T> capture;
    const Matrix<T> logits = mistral_tests::full_logits(model, ref.ids("input_ids"), &capture);
    double worst = ref.check(logits, "logits");
    worst = std::max(worst, ref.check_capture(capture, ""));
    CHECK(capture.hidden_states.size() == static_cast<std::size_t>(model.config().num_hidden_layers + 1));
    CHECK(capture.attentions.size() == static_cast<std::size_t>(model.config().num_hidden_layers));
    if (std::is_same_v<T, double>) CHECK(worst <= 1e-10);
    const std::string scalar = std::is_same_v<T, float> ? "float" : "double";
    MESSAGE(name << " (" << scalar << "): max abs error " << worst);
  }
}

TEST_CASE("config.json: mistral's sliding_window, head_dim, and Qwen2's use_sliding_window, max_window_layers, layer_types") {
  Llama<double> swa = Llama<double>::from_pretrained(model_dir("mistral-swa"));
  CHECK(swa.config().model_type == "mistral");
  CHECK(swa.config().sliding_window == 4);
  CHECK(swa.config().layer_windows() == std::vector<Index>{4, 4});
  CHECK(swa.decoder.layers[1].attention.config().window == 4);
  CHECK(swa.config().head_width() == 4);  // "head_dim": null → C / H
  CHECK_FALSE(swa.config().qkv_bias());
  CHECK(swa.decoder.layers[0].attention.o.bias.size() == 0);
  CHECK(swa.config().parameter_count() == count_parameters(swa));
  Llama<double> hd = Llama<double>::from_pretrained(model_dir("mistral-headdim-bf16"));
  CHECK(hd.config().head_width() == 6);
  CHECK(hd.config().layer_windows() == std::vector<Index>{3, 3, 3});
  Llama<double> none = Llama<double>::from_pretrained(model_dir("mistral-nowindow"));
  CHECK(none.config().sliding_window == 0);
  CHECK(none.config().layer_windows() == std::vector<Index>{0, 0});
  Llama<double> qwen = Llama<double>::from_pretrained(model_dir("qwen2-swa"));
  CHECK(qwen.config().layer_windows() == std::vector<Index>{0, 3, 3});  // layers ≥ max_window_layers (1)
  CHECK(qwen.decoder.layers[0].attention.config().window == 0);
  CHECK(qwen.decoder.layers[2].attention.config().window == 3);

  TempDir tmp("mistral-config");
  const std::string folder = tmp.copy_checkpoint("mistral-swa");
  // Absent sliding_window: MistralConfig's default, 4096.
  edit_config(folder, [](json::Value& j) { mistral_tests::erase_field(j, "sliding_window"); });
  CHECK(Llama<float>::from_pretrained(folder).config().sliding_window == 4096);
  edit_config(folder, [](json::Value& j) { j.set("sliding_window", 0); });
  CHECK_THROWS_WITH_AS(Llama<float>::from_pretrained(folder), doctest::Contains("sliding_window"), ConfigError);
  edit_config(folder, [](json::Value& j) { j.set("sliding_window", "4096"); });
  CHECK_THROWS_WITH_AS(Llama<float>::from_pretrained(folder), doctest::Contains("sliding_window"), ConfigError);
  edit_config(folder, [](json::Value& j) { j.set("model_type", "mixtral"); });
  CHECK_THROWS_WITH_AS(Llama<float>::from_pretrained(folder), doctest::Contains("'mistral'"), ConfigError);
  // Saved: model_type, architectures and sliding_window (null stays null).
  TempDir saved("mistral-save");
  none.save_pretrained(saved / "none", DType::F64);
  const json::Value j = json::parse_file(saved / "none/config.json");
  CHECK(j.at("model_type").as_string() == "mistral");
  CHECK(j.at("sliding_window").is_null());
  swa.save_pretrained(saved / "swa", DType::F64);
  CHECK(json::parse_file(saved / "swa/config.json").at("sliding_window").as_int() == 4);
  Reference ref("mistral-swa");
  Llama<double> again = Llama<double>::from_pretrained(saved / "swa");
  CHECK((mistral_tests::full_logits(again, ref.ids("input_ids")) - mistral_tests::full_logits(swa, ref.ids("input_ids")))
            .cwiseAbs()
            .maxCoeff() == 0.0);

  // Qwen2: explicit layer_types win over max_window_layers; use_sliding_window false turns every window off.
  const std::string q = tmp.copy_checkpoint("qwen2-swa");
  edit_config(q, [](json::Value& c) {
    c.set("layer_types", json::Array{json::Value("sliding_attention"), json::Value("full_attention"),
                                     json::Value("sliding_attention")});
  });
  CHECK(Llama<float>::from_pretrained(q).config().layer_windows() == std::vector<Index>{3, 0, 3});
  edit_config(q, [](json::Value& c) { c.set("layer_types", json::Array{json::Value("sliding_attention")}); });
  CHECK_THROWS_WITH_AS(Llama<float>::from_pretrained(q), doctest::Contains("layer_types"), ConfigError);
  edit_config(q, [](json::Value& c) {
    c.set("layer_types", json::Array{json::Value("full_attention"), json::Value("chunked_attention"),
                                     json::Value("full_attention")});
  });
  CHECK_THROWS_WITH_AS(Llama<float>::from_pretrained(q), doctest::Contains("layer_types[1]"), ConfigError);
  edit_config(q, [](json::Value& c) {
    mistral_tests::erase_field(c, "layer_types");
    c.set("max_window_layers", 0);
  });
  CHECK(Llama<float>::from_pretrained(q).config().layer_windows() == std::vector<Index>{3, 3, 3});
  edit_config(q, [](json::Value& c) { c.set("use_sliding_window", false); });
  CHECK(Llama<float>::from_pretrained(q).config().layer_windows() == std::vector<Index>{0, 0, 0});
}

TEST_CASE_TEMPLATE("sliding window: cached decoding far beyond the window equals the uncached full-mask pass — with the "
                   "full cache and with the window-bounded one", T, float, double) {
  const double tolerance = std::is_same_v<T, float> ? 1e-4 : 1e-12;
  for (const std::string& name : mistral_tests::kCheckpoints) {
    CAPTURE(name);
    Llama<T> model = Llama<T>::from_pretrained(model_dir(name));
    const LlamaConfig& c = model.config();
    // 3 to 10 windows long: every position after the first W has dropped keys.
    const Index length = std::min<Index>(c.max_position_embeddings, 30);
    const TokenIds ids = mistral_tests::random_ids(length, c.vocab_size, 1, 11);
    const Matrix<T> full = mistral_tests::full_logits(model, ids);  // no cache: the (T, T) mask with the window
    const std::vector<Index> windows = c.layer_windows();
    for (bool bounded : {false, true}) {
      for (Index chunk : {1, 2, 5}) {
        CAPTURE(bounded);
        CAPTURE(chunk);
        DecoderCache<T> cache;
        cache.bound_to_window = bounded;
        double worst = 0;
        for (Index t = 0; t < length; t += chunk) {
          const Index n = std::min(chunk, length - t);
          Matrix<T> step;
          LlamaOptions<T> options;
          options.cache = &cache;
          model.forward(ids.middleCols(t, n), step, options);
          worst = std::max(worst, static_cast<double>((step - full.middleRows(t, n)).cwiseAbs().maxCoeff()));
          CHECK(cache.length() == t + n);
          for (std::size_t l = 0; l < windows.size(); ++l) {
            const KVCache<T>& layer = cache.self[l];
            if (bounded && windows[l] > 0) {
              // Memory bounded by the window: W − 1 kept + the n new.
              CHECK(layer.length() <= windows[l] - 1 + n);
              CHECK(layer.length() == std::min(t + n, windows[l] - 1 + n));
            } else {
              CHECK(layer.length() == t + n);
            }
          }
        }
        CHECK(worst <= tolerance);
        MESSAGE(name << std::string(bounded ? " bounded" : " full") << " cache, chunks of " << chunk << ": max abs difference " << worst);
      }
    }
  }
}

TEST_CASE_TEMPLATE("sliding window: greedy search gives the reference's tokens — uncached, cached, window-bounded cache", T,
                   double, float) {
  const json::Value file = json::parse_file(fixture_path("generation/mistral_sequences.json"));
  int compared = 0;
  for (const json::Value& c : file.at("cases").as_array()) {
    CAPTURE(c.at("name").as_string());
    Llama<T> model = Llama<T>::from_pretrained(model_dir(c.at("checkpoint").as_string()));
    generation::GenerationConfig config;
    config.strategy = generation::Strategy::Greedy;
    config.max_new_tokens = c.at("max_new_tokens").as_int();
    config.eos_token_ids = mistral_tests::ids_of(c.at("eos_token_ids"));
    for (int mode = 0; mode < 3; ++mode) {  // 0 uncached, 1 full cache, 2 window-bounded cache
      CAPTURE(mode);
      config.use_cache = mode > 0;
      model.window_cache = mode == 2;
      const std::vector<generation::GeneratedSequence> got =
          generation::generate(model, mistral_tests::ids_of(c.at("prompt")), config);
      REQUIRE(got.size() == 1);
      CHECK(got[0].tokens == mistral_tests::ids_of(c.at("tokens")));
      const bool eos = c.at("stop_reason").as_string() == "eos";
      CHECK(got[0].stop_reason == (eos ? generation::StopReason::EndOfSequence : generation::StopReason::MaxNewTokens));
      ++compared;
    }
  }
  CHECK(compared == 3 * 8);
}

TEST_CASE("sliding window: training gradients through the windowed mask agree with finite differences") {
  Llama<double> model = Llama<double>::from_pretrained(model_dir("mistral-swa"));
  ParameterList<double> params = parameters_with_gradients(model);
  const TokenIds ids = mistral_tests::random_ids(9, model.config().vocab_size, 1, 5);  // 9 > W = 4
  model.loss_and_gradients(ids, ids);
  double worst = 0;
  int checked = 0;
  for (ParameterRef<double>& p : params) {
    if (p.name != "decoder.layers.0.attn.k.weight" && p.name != "decoder.layers.1.attn.q.weight" &&
        p.name != "embed_tokens.weight") {
      continue;
    }
    for (std::size_t i = 0; i < 4; ++i) {
      const double saved = p.data[i], h = 1e-6;
      p.data[i] = saved + h;
      const double up = training::causal_lm_loss<double>(mistral_tests::full_logits(model, ids), ids, nullptr).loss;
      p.data[i] = saved - h;
      const double down = training::causal_lm_loss<double>(mistral_tests::full_logits(model, ids), ids, nullptr).loss;
      p.data[i] = saved;
      worst = std::max(worst, std::abs((up - down) / (2 * h) - p.grad[i]));
      ++checked;
    }
  }
  CHECK(checked == 12);
  MESSAGE("mistral-swa gradients against central differences: max abs difference " << worst);
  CHECK(worst <= 1e-7);
}

#ifdef EIGENFORMER_LLAMA_PROGRAM
TEST_CASE("the llama program generates with Mistral's window (its cache bounded by it) the reference's greedy tokens") {
  const json::Value file = json::parse_file(fixture_path("generation/mistral_sequences.json"));
  int compared = 0;
  for (const json::Value& c : file.at("cases").as_array()) {
    if (!c.at("eos_token_ids").as_array().empty()) continue;  // the program stops at config.json's EOS: the no-EOS runs
    CAPTURE(c.at("name").as_string());
    std::string prompt, expected;
    for (const json::Value& id : c.at("prompt").as_array()) prompt += (prompt.empty() ? "" : ",") + std::to_string(id.as_int());
    for (const json::Value& id : c.at("tokens").as_array()) expected += (expected.empty() ? "" : ",") + std::to_string(id.as_int());
    const TempDir tmp("mistral-program");
    const std::string command = std::string("'") + EIGENFORMER_LLAMA_PROGRAM + "' --model '" + model_dir(c.at("checkpoint").as_string()) +
                                "' --ids " + prompt + " --max-new-tokens 12 --strategy greedy > '" + (tmp / "out") + "' 2>&1";
    const int status = std::system(command.c_str());
    const std::string out = read_text(tmp / "out");
    INFO(out);
    CHECK(status == 0);
    CHECK((out.find("sliding window of") != std::string::npos) == (c.at("checkpoint").as_string() != "mistral-nowindow"));
    CHECK(out.find("ids   " + expected + "\n") != std::string::npos);
    ++compared;
  }
  CHECK(compared == 4);
}
#endif
