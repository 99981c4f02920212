// eigenformer/tokenizers/bpe_trainer.hpp — learning a byte-level BPE vocabulary from a corpus.
//
// The training loop of Sennrich et al. (2016, algorithm 1), on bytes as GPT-2 does:
//
//   1) cut the corpus into pieces with a split pattern (pretokenize.hpp) and count each distinct piece;
//   2) start with 256 tokens, one per byte; every piece is a list of byte tokens;
//   3) repeat until the vocabulary is large enough:
//        count every adjacent pair of tokens over all pieces (weighted by how often the piece occurs),
//        take the most frequent pair (ties: the smallest pair of ids, so training is deterministic),
//        make it a new token and replace the pair everywhere;
//   4) add the special tokens after the learned ones.
//
// Each merge can be reported as it happens (`on_merge`) — the lesson's "watch the vocabulary grow".
// The result is a tiktoken-style model (the id of a token is its rank), so it saves as a tiktoken rank
// file and loads back with parse_tiktoken(). This is the clear O(merges × corpus) version: fine for the
// corpora a lecture uses, not for training GPT-4.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/tokenizers/bpe.hpp"
#include "eigenformer/tokenizers/pretokenize.hpp"
#include "eigenformer/tokenizers/tokenizer.hpp"

namespace eigenformer::tokenizers {

/// One learned merge, as reported to on_merge.
struct LearnedMerge {
  std::size_t index;       // 0 for the first merge
  TokenId left, right;     // the pair that was merged
  TokenId result;          // the new token's id (= its rank)
  std::string bytes;       // the new token's bytes
  std::size_t count;       // how often the pair occurred when it was chosen
};

struct BpeTrainerOptions {
  std::size_t vocab_size = 512;              // learned tokens (>= 256), special tokens come on top
  SplitPattern pattern = SplitPattern::cl100k;
  std::vector<std::string> special_tokens;   // e.g. {"<|endoftext|>"}, ids right after the learned ones
  std::function<void(const LearnedMerge&)> on_merge;  // called after each merge (may be empty)
};

/// What training produces: the model, and what a Tokenizer needs besides it.
struct TrainedBpe {
  BytePairEncoding model;
  SplitPattern pattern;
  std::vector<std::pair<std::string, TokenId>> special_tokens;

  /// A tokenizer that splits with `pattern` and knows the special tokens (all allowed roles: none).
  Tokenizer tokenizer() const { return make_tokenizer(model, pattern, special_tokens); }

  static Tokenizer make_tokenizer(const BytePairEncoding& model, SplitPattern pattern,
                                  const std::vector<std::pair<std::string, TokenId>>& specials) {
    Pipeline pipeline;
    pipeline.pre_tokenizer.push_back(pre_tokenizers::Pattern{pattern});
    pipeline.decoder.push_back(decoders::ByteLevel{});
    SpecialTokens special;
    for (const auto& [content, id] : specials) special.add(AddedToken{content, id, true, false, false, false, false});
    return Tokenizer(std::make_shared<BytePairEncoding>(model), std::move(pipeline), std::move(special), "trained BPE");
  }
};

/// Trains byte-level BPE on `corpus` (valid UTF-8). Throws ValueError for vocab_size < 256 or bad UTF-8.
inline TrainedBpe train_bpe(std::string_view corpus, const BpeTrainerOptions& options) {
  if (options.vocab_size < 256) {
    throw ValueError(eigenformer::detail::cat("[train_bpe] vocab_size must be at least 256 (one token per byte), got ", options.vocab_size));
  }
  require_utf8(corpus, "train_bpe");
  // 1) Distinct pieces and their counts (std::map: a deterministic order).
  std::map<std::string, std::size_t> counts;
  split_pieces(corpus, options.pattern, [&](std::string_view piece) { ++counts[std::string(piece)]; });
  // 2) Byte tokens.
  std::vector<std::string> token_bytes;
  for (int b = 0; b < 256; ++b) token_bytes.emplace_back(1, static_cast<char>(b));
  std::unordered_map<std::string, TokenId> id_of;
  for (int b = 0; b < 256; ++b) id_of[token_bytes[static_cast<std::size_t>(b)]] = b;
  std::vector<std::pair<std::vector<TokenId>, std::size_t>> words;
  for (const auto& [piece, count] : counts) {
    std::vector<TokenId> ids;
    for (char c : piece) ids.push_back(static_cast<unsigned char>(c));
    words.emplace_back(std::move(ids), count);
  }
  // 3) Merge the most frequent pair until the vocabulary is full or no pair is left.
  std::size_t merge_index = 0;
  while (token_bytes.size() < options.vocab_size) {
    std::map<std::pair<TokenId, TokenId>, std::size_t> pair_counts;
    for (const auto& [ids, count] : words) {
      for (std::size_t k = 0; k + 1 < ids.size(); ++k) pair_counts[{ids[k], ids[k + 1]}] += count;
    }
    if (pair_counts.empty()) break;
    auto best = pair_counts.begin();  // ties: the smallest pair, because std::map is ordered
    for (auto it = pair_counts.begin(); it != pair_counts.end(); ++it) {
      if (it->second > best->second) best = it;
    }
    const auto [left, right] = best->first;
    const std::string bytes = token_bytes[static_cast<std::size_t>(left)] + token_bytes[static_cast<std::size_t>(right)];
    // Two merge paths can build the same bytes ("a"+"bc", "ab"+"c"); a token exists once.
    TokenId result;
    if (const auto it = id_of.find(bytes); it != id_of.end()) {
      result = it->second;
    } else {
      result = static_cast<TokenId>(token_bytes.size());
      token_bytes.push_back(bytes);
      id_of.emplace(bytes, result);
    }
    for (auto& [ids, count] : words) {
      std::vector<TokenId> merged;
      merged.reserve(ids.size());
      for (std::size_t k = 0; k < ids.size(); ++k) {
        if (k + 1 < ids.size() && ids[k] == left && ids[k + 1] == right) {
          merged.push_back(result);
          ++k;
        } else {
          merged.push_back(ids[k]);
        }
      }
      ids.swap(merged);
    }
    if (options.on_merge) options.on_merge(LearnedMerge{merge_index, left, right, result, bytes, best->second});
    ++merge_index;
  }
  std::vector<std::pair<std::string, TokenId>> ranks;
  for (std::size_t id = 0; id < token_bytes.size(); ++id) ranks.emplace_back(token_bytes[id], static_cast<TokenId>(id));
  // 4) Special tokens after the learned ones.
  std::vector<std::pair<std::string, TokenId>> specials;
  for (const std::string& s : options.special_tokens) {
    specials.emplace_back(s, static_cast<TokenId>(token_bytes.size() + specials.size()));
  }
  return TrainedBpe{BytePairEncoding::from_ranks(ranks, "train_bpe"), options.pattern, std::move(specials)};
}

}  // namespace eigenformer::tokenizers
