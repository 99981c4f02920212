// eigenformer/tokenizers/load.hpp — building a Tokenizer from the files real checkpoints ship.
//
//     tokenizer.json            Hugging Face: everything (model, normalizer, pre-tokenizer, added tokens...)
//     tokenizer_config.json     Hugging Face: which added token is bos / eos / pad / ...
//     special_tokens_map.json   Hugging Face (older): the same roles
//     generation_config.json    the ids that end generation ("eos_token_id": [128001, 128008, 128009])
//     vocab.txt                 BERT: WordPiece vocabulary, one token per line
//     vocab.json + merges.txt   GPT-2: byte-level BPE
//     *.tiktoken, tokenizer.model (Llama 3)   tiktoken ranks: needs an encoding name for the split pattern
//
// load_tokenizer(path) looks at what `path` is and picks the loader; a folder is read as a checkpoint.
// Every malformed file gives a typed error that names the file (and the line, or the JSON path).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "eigenformer/core/error.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/tokenizers/base64.hpp"
#include "eigenformer/tokenizers/bpe.hpp"
#include "eigenformer/tokenizers/files.hpp"
#include "eigenformer/tokenizers/precompiled.hpp"
#include "eigenformer/tokenizers/special_tokens.hpp"
#include "eigenformer/tokenizers/tokenizer.hpp"
#include "eigenformer/tokenizers/regex.hpp"
#include "eigenformer/tokenizers/unigram.hpp"
#include "eigenformer/tokenizers/wordlevel.hpp"
#include "eigenformer/tokenizers/wordpiece.hpp"

namespace eigenformer::tokenizers {

// ------------------------------------------------------------------------------------------------
// Named tiktoken encodings
// ------------------------------------------------------------------------------------------------

/// The split pattern a named encoding uses ("gpt2", "r50k_base", "p50k_base", "cl100k_base", "o200k_base",
/// "llama3"). Throws ValueError listing the names for anything else.
inline Family encoding_family(std::string_view name) {
  const auto f = family_from_name(name);
  if (!f || *f == Family::bert || *f == Family::t5 || *f == Family::deepseek_r1) {
    throw ValueError(eigenformer::detail::cat("[tokenizer] unknown encoding '", name,
                                 "'; expected gpt2, r50k_base, p50k_base, cl100k_base, o200k_base or llama3"));
  }
  return *f;
}

/// A tokenizer from tiktoken ranks and an encoding name: the name gives the split pattern and the
/// special tokens (with their fixed ids), as tiktoken's named encodings do.
inline Tokenizer tokenizer_from_ranks(BytePairEncoding ranks, std::string_view encoding) {
  const Family family = encoding_family(encoding);
  Pipeline pipeline;
  SplitPattern pattern = SplitPattern::gpt2;
  if (family == Family::cl100k_base) pattern = SplitPattern::cl100k;
  if (family == Family::o200k_base) pattern = SplitPattern::o200k;
  if (family == Family::llama3) pattern = SplitPattern::llama3;
  pipeline.pre_tokenizer.push_back(pre_tokenizers::Pattern{pattern});
  pipeline.decoder.push_back(decoders::ByteLevel{});
  SpecialTokens special;
  for (const SpecialTokenSpec& spec : family_special_tokens(family)) {
    AddedToken t;
    t.content = spec.content;
    t.id = *spec.id;
    special.add(t);
    if (spec.role) special.assign(*spec.role, t.id);
  }
  if (family == Family::llama3) {
    // Hugging Face's Llama 3 tokenizer.json adds <|begin_of_text|> in front (add_special_tokens).
    pipeline.post_processor = Template{{128000}, {}};
  }
  return Tokenizer(std::make_shared<BytePairEncoding>(std::move(ranks)), std::move(pipeline), std::move(special),
                   std::string(encoding));
}

// ------------------------------------------------------------------------------------------------
// tokenizer.json
// ------------------------------------------------------------------------------------------------
namespace detail {

/// Small typed accessors that name the file and the JSON path in their errors.
struct JsonReader {
  std::string source;

  [[noreturn]] void fail(std::string_view path, std::string_view what) const {
    throw FormatError(eigenformer::detail::cat("[tokenizer.json] ", source, ": ", path, ": ", what));
  }
  [[noreturn]] void unsupported(std::string_view path, std::string_view what) const {
    throw ConfigError(eigenformer::detail::cat("[tokenizer.json] ", source, ": ", path, ": ", what));
  }
  const json::Value& at(const json::Value& v, std::string_view key, std::string_view path) const {
    const json::Value* x = v.find(key);
    if (x == nullptr) fail(path, eigenformer::detail::cat("missing \"", key, "\""));
    return *x;
  }
  std::string str(const json::Value& v, std::string_view path) const {
    if (!v.is_string()) fail(path, "must be a string");
    return v.as_string();
  }
  bool boolean(const json::Value& v, std::string_view key, bool fallback, std::string_view path) const {
    const json::Value* x = v.find(key);
    if (x == nullptr || x->is_null()) return fallback;
    if (!x->is_bool()) fail(eigenformer::detail::cat(path, ".", key), "must be true or false");
    return x->as_bool();
  }
  std::int64_t integer(const json::Value& v, std::string_view path, std::int64_t lo, std::int64_t hi) const {
    if (!v.is_integer()) fail(path, "must be an integer");
    const std::int64_t n = v.as_int();
    if (n < lo || n > hi) fail(path, eigenformer::detail::cat("must be in [", lo, ", ", hi, "], got ", n));
    return n;
  }
  TokenId id(const json::Value& v, std::string_view path) const {
    return static_cast<TokenId>(integer(v, path, 0, kMaxTokenId));  // ids index tables: bounded (vocabulary.hpp)
  }
  const json::Array& array(const json::Value& v, std::string_view path) const {
    if (!v.is_array()) fail(path, "must be an array");
    return v.as_array();
  }
  const json::Object& object(const json::Value& v, std::string_view path) const {
    if (!v.is_object()) fail(path, "must be an object");
    return v.as_object();
  }
  std::string type(const json::Value& v, std::string_view path) const {
    return str(at(v, "type", path), std::string(path) + ".type");
  }
  /// Compiles a regex; an unsupported one is refused with the JSON path and the engine's reason.
  std::shared_ptr<const regex::Regex> compile(const std::string& pattern, std::string_view path) const {
    try {
      return std::make_shared<const regex::Regex>(pattern);
    } catch (const regex::RegexError& e) {
      unsupported(path, e.what());
    }
  }
  /// A {"String": "..."} or {"Regex": "..."} pattern, as a compiled regex (a literal string is escaped).
  /// `literal` receives the string of a String pattern.
  std::shared_ptr<const regex::Regex> pattern(const json::Value& v, const std::string& path, std::string* literal = nullptr) const {
    if (const json::Value* re = v.find("Regex")) return compile(str(*re, path + ".Regex"), path + ".Regex");
    const json::Value* lit = v.find("String");
    if (lit == nullptr) fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
    const std::string text = str(*lit, path + ".String");
    if (literal != nullptr) *literal = text;
    std::string escaped;
    for (char c : text) {
      if (std::string_view("\\^$.|?*+()[]{}-").find(c) != std::string_view::npos) escaped += '\\';
      escaped += c;
    }
    return compile(escaped, path + ".String");
  }
  pre_tokenizers::Behavior behavior(const json::Value& v, std::string_view path, pre_tokenizers::Behavior fallback) const {
    const json::Value* b = v.find("behavior");
    if (b == nullptr || b->is_null()) return fallback;
    const std::string name = str(*b, std::string(path) + ".behavior");
    using B = pre_tokenizers::Behavior;
    if (name == "Removed") return B::removed;
    if (name == "Isolated") return B::isolated;
    if (name == "MergedWithPrevious") return B::merged_with_previous;
    if (name == "MergedWithNext") return B::merged_with_next;
    if (name == "Contiguous") return B::contiguous;
    fail(std::string(path) + ".behavior", eigenformer::detail::cat("unknown behavior \"", name,
                                                                  "\" (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)"));
  }
};

inline void parse_normalizer(const JsonReader& r, const json::Value& v, const std::string& path,
                             std::vector<NormalizerStep>& out) {
  if (v.is_null()) return;
  const std::string type = r.type(v, path);
  if (type == "Sequence") {
    const json::Array& list = r.array(r.at(v, "normalizers", path), path + ".normalizers");
    for (std::size_t k = 0; k < list.size(); ++k) parse_normalizer(r, list[k], eigenformer::detail::cat(path, ".normalizers[", k, "]"), out);
  } else if (type == "BertNormalizer") {
    BertNormalizerOptions o;
    o.clean_text = r.boolean(v, "clean_text", true, path);
    o.handle_chinese_chars = r.boolean(v, "handle_chinese_chars", true, path);
    o.lowercase = r.boolean(v, "lowercase", true, path);
    o.strip_accents = r.boolean(v, "strip_accents", o.lowercase, path);  // null: follows lowercase
    out.push_back(normalizers::Bert{o});
  } else if (type == "NFC") {
    out.push_back(normalizers::Unicode{unicode::NormalForm::NFC});
  } else if (type == "NFD") {
    out.push_back(normalizers::Unicode{unicode::NormalForm::NFD});
  } else if (type == "NFKC") {
    out.push_back(normalizers::Unicode{unicode::NormalForm::NFKC});
  } else if (type == "NFKD") {
    out.push_back(normalizers::Unicode{unicode::NormalForm::NFKD});
  } else if (type == "Lowercase") {
    out.push_back(normalizers::Lowercase{});
  } else if (type == "StripAccents") {
    out.push_back(normalizers::StripAccents{});
  } else if (type == "Strip") {
    out.push_back(normalizers::Strip{r.boolean(v, "strip_left", true, path), r.boolean(v, "strip_right", true, path)});
  } else if (type == "Prepend") {
    out.push_back(normalizers::Prepend{r.str(r.at(v, "prepend", path), path + ".prepend")});
  } else if (type == "Replace") {
    const json::Value& pattern = r.at(v, "pattern", path);
    normalizers::Replace rep;
    rep.content = r.str(r.at(v, "content", path), path + ".content");
    if (pattern.find("Regex") != nullptr) {
      rep.regex = r.pattern(pattern, path + ".pattern");
    } else {
      r.pattern(pattern, path + ".pattern", &rep.pattern);
      if (rep.pattern.empty()) r.fail(path + ".pattern.String", "must not be empty");
    }
    out.push_back(rep);
  } else if (type == "Precompiled") {
    const json::Value& map = r.at(v, "precompiled_charsmap", path);
    if (map.is_null()) return;  // an empty rule set: nothing to do
    const auto blob = base64_decode(r.str(map, path + ".precompiled_charsmap"));
    if (!blob) r.fail(path + ".precompiled_charsmap", "is not valid base64");
    out.push_back(normalizers::Precompiled{std::make_shared<PrecompiledCharsmap>(*blob, r.source)});
  } else {
    r.unsupported(path, eigenformer::detail::cat("normalizer type \"", type, "\" is not supported"));
  }
}

inline void parse_pre_tokenizer(const JsonReader& r, const json::Value& v, const std::string& path,
                                std::vector<PreTokenizerStep>& out) {
  if (v.is_null()) return;
  const std::string type = r.type(v, path);
  if (type == "Sequence") {
    const json::Array& list = r.array(r.at(v, "pretokenizers", path), path + ".pretokenizers");
    for (std::size_t k = 0; k < list.size(); ++k) {
      parse_pre_tokenizer(r, list[k], eigenformer::detail::cat(path, ".pretokenizers[", k, "]"), out);
    }
  } else if (type == "ByteLevel") {
    out.push_back(pre_tokenizers::ByteLevel{r.boolean(v, "add_prefix_space", false, path), r.boolean(v, "use_regex", true, path)});
  } else if (type == "Split") {
    pre_tokenizers::Split split;
    split.pattern = r.pattern(r.at(v, "pattern", path), path + ".pattern");
    split.behavior = r.behavior(v, path, pre_tokenizers::Behavior::isolated);
    split.invert = r.boolean(v, "invert", false, path);
    out.push_back(split);
  } else if (type == "Punctuation") {
    out.push_back(pre_tokenizers::Punctuation{r.behavior(v, path, pre_tokenizers::Behavior::isolated)});
  } else if (type == "Whitespace") {
    out.push_back(pre_tokenizers::Whitespace{});
  } else if (type == "CharDelimiterSplit") {
    const std::string d = r.str(r.at(v, "delimiter", path), path + ".delimiter");
    std::size_t k = 0;
    if (d.empty() || find_invalid_utf8(d) != std::string::npos || (next_code_point(d, k), k != d.size())) {
      r.fail(path + ".delimiter", "must be one character");
    }
    k = 0;
    out.push_back(pre_tokenizers::CharDelimiterSplit{next_code_point(d, k)});
  } else if (type == "WhitespaceSplit") {
    out.push_back(pre_tokenizers::WhitespaceSplit{});
  } else if (type == "BertPreTokenizer") {
    out.push_back(pre_tokenizers::Bert{});
  } else if (type == "Metaspace") {
    pre_tokenizers::Metaspace m;
    if (const json::Value* rep = v.find("replacement")) m.replacement = r.str(*rep, path + ".replacement");
    if (m.replacement.empty()) r.fail(path + ".replacement", "must not be empty");
    const json::Value* scheme = v.find("prepend_scheme");
    if (scheme != nullptr && !scheme->is_null()) {
      const std::string s = r.str(*scheme, path + ".prepend_scheme");
      if (s == "always") m.prepend = pre_tokenizers::Metaspace::Prepend::always;
      else if (s == "first") m.prepend = pre_tokenizers::Metaspace::Prepend::first;
      else if (s == "never") m.prepend = pre_tokenizers::Metaspace::Prepend::never;
      else r.fail(path + ".prepend_scheme", "must be \"always\", \"first\" or \"never\"");
    } else {  // older files: add_prefix_space
      m.prepend = r.boolean(v, "add_prefix_space", true, path) ? pre_tokenizers::Metaspace::Prepend::always
                                                                 : pre_tokenizers::Metaspace::Prepend::never;
    }
    m.split = r.boolean(v, "split", true, path);
    out.push_back(m);
  } else if (type == "Digits") {
    out.push_back(pre_tokenizers::Digits{r.boolean(v, "individual_digits", false, path)});
  } else {
    r.unsupported(path, eigenformer::detail::cat("pre-tokenizer type \"", type, "\" is not supported"));
  }
}

inline void parse_decoder(const JsonReader& r, const json::Value& v, const std::string& path, std::vector<DecoderStep>& out) {
  if (v.is_null()) return;
  const std::string type = r.type(v, path);
  if (type == "Sequence") {
    const json::Array& list = r.array(r.at(v, "decoders", path), path + ".decoders");
    for (std::size_t k = 0; k < list.size(); ++k) parse_decoder(r, list[k], eigenformer::detail::cat(path, ".decoders[", k, "]"), out);
  } else if (type == "ByteLevel") {
    out.push_back(decoders::ByteLevel{});
  } else if (type == "WordPiece") {
    decoders::WordPiece w;
    if (const json::Value* p = v.find("prefix")) w.prefix = r.str(*p, path + ".prefix");
    w.cleanup = r.boolean(v, "cleanup", true, path);
    out.push_back(w);
  } else if (type == "Metaspace") {
    decoders::Metaspace m;
    if (const json::Value* rep = v.find("replacement")) m.replacement = r.str(*rep, path + ".replacement");
    const json::Value* scheme = v.find("prepend_scheme");
    if (scheme != nullptr && !scheme->is_null()) {
      m.strip_first = r.str(*scheme, path + ".prepend_scheme") != "never";
    } else {
      m.strip_first = r.boolean(v, "add_prefix_space", true, path);
    }
    out.push_back(m);
  } else if (type == "ByteFallback") {
    out.push_back(decoders::ByteFallback{});
  } else if (type == "Fuse") {
    out.push_back(decoders::Fuse{});
  } else if (type == "Strip") {
    decoders::Strip s;
    s.content = r.str(r.at(v, "content", path), path + ".content");
    s.start = static_cast<std::size_t>(r.integer(r.at(v, "start", path), path + ".start", 0, 1 << 20));
    s.stop = static_cast<std::size_t>(r.integer(r.at(v, "stop", path), path + ".stop", 0, 1 << 20));
    out.push_back(s);
  } else if (type == "Replace") {
    const json::Value& pattern = r.at(v, "pattern", path);
    decoders::Replace rep;
    rep.content = r.str(r.at(v, "content", path), path + ".content");
    if (pattern.find("Regex") != nullptr) {
      rep.regex = r.pattern(pattern, path + ".pattern");
    } else {
      r.pattern(pattern, path + ".pattern", &rep.pattern);
      if (rep.pattern.empty()) r.fail(path + ".pattern.String", "must not be empty");
    }
    out.push_back(rep);
  } else {
    r.unsupported(path, eigenformer::detail::cat("decoder type \"", type, "\" is not supported"));
  }
}

/// Turns the post_processor into a template; `id_of` resolves token names for Bert/Roberta processors.
inline void parse_post_processor(const JsonReader& r, const json::Value& v, const std::string& path,
                                 std::optional<Template>& out) {
  if (v.is_null()) return;
  const std::string type = r.type(v, path);
  const auto pair_id = [&](std::string_view key) {
    const json::Array& p = r.array(r.at(v, key, path), path + "." + std::string(key));
    if (p.size() != 2) r.fail(path + "." + std::string(key), "must be [token, id]");
    return r.id(p[1], path + "." + std::string(key) + "[1]");
  };
  if (type == "Sequence") {
    const json::Array& list = r.array(r.at(v, "processors", path), path + ".processors");
    for (std::size_t k = 0; k < list.size(); ++k) parse_post_processor(r, list[k], eigenformer::detail::cat(path, ".processors[", k, "]"), out);
  } else if (type == "ByteLevel") {
    // Only adjusts offsets; ids are unchanged.
  } else if (type == "BertProcessing" || type == "RobertaProcessing") {
    out = Template{{pair_id("cls")}, {pair_id("sep")}};
  } else if (type == "TemplateProcessing") {
    const json::Array& single = r.array(r.at(v, "single", path), path + ".single");
    const json::Value& specials = r.at(v, "special_tokens", path);
    Template t;
    bool seen_sequence = false;
    for (std::size_t k = 0; k < single.size(); ++k) {
      const std::string item = eigenformer::detail::cat(path, ".single[", k, "]");
      if (const json::Value* seq = single[k].find("Sequence")) {
        if (r.str(r.at(*seq, "id", item), item + ".Sequence.id") != "A") r.unsupported(item, "a single-sequence template may only use $A");
        if (seen_sequence) r.unsupported(item, "the sequence appears twice");
        seen_sequence = true;
      } else if (const json::Value* sp = single[k].find("SpecialToken")) {
        const std::string name = r.str(r.at(*sp, "id", item), item + ".SpecialToken.id");
        const json::Value* entry = specials.find(name);
        if (entry == nullptr) r.fail(item, eigenformer::detail::cat("special token '", name, "' is not in special_tokens"));
        const json::Array& ids = r.array(r.at(*entry, "ids", path + ".special_tokens"), path + ".special_tokens." + name + ".ids");
        for (std::size_t n = 0; n < ids.size(); ++n) {
          (seen_sequence ? t.suffix : t.prefix).push_back(r.id(ids[n], path + ".special_tokens." + name + ".ids"));
        }
      } else {
        r.fail(item, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
    out = t;
  } else {
    r.unsupported(path, eigenformer::detail::cat("post-processor type \"", type, "\" is not supported"));
  }
}

/// The double Hugging Face tokenizers gets for a JSON number that serde_json (its JSON library) reads
/// with its default, fast algorithm: the decimal digits become a 64-bit integer, which is converted to
/// double and then multiplied or divided once by a power of ten. That is not always the correctly
/// rounded value (it can be 1 ulp off), and Unigram's Viterbi compares sums of scores, so near-ties
/// (".." + "." against "." + "..") are decided by those last bits. We read the correctly rounded value,
/// re-create the shortest decimal text (which is what serde_json wrote into tokenizer.json) and redo the
/// fast computation, so that ties break as in the reference.
inline double serde_json_double(double exact) {
  if (!std::isfinite(exact) || exact == 0) return exact;
  char text[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(text, sizeof text, "%.*e", precision - 1, exact);
    if (std::strtod(text, nullptr) == exact) break;
  }
  // text is "-d.ddddde±XX": collect the digits into an integer and count the exponent.
  bool negative = false;
  std::uint64_t significand = 0;
  int exponent = 0, fraction_digits = 0;
  bool after_point = false;
  const char* p = text;
  if (*p == '-') {
    negative = true;
    ++p;
  }
  for (; *p != 'e' && *p != '\0'; ++p) {
    if (*p == '.') {
      after_point = true;
      continue;
    }
    significand = significand * 10 + static_cast<std::uint64_t>(*p - '0');
    if (after_point) ++fraction_digits;
  }
  if (*p == 'e') exponent = std::atoi(p + 1);
  exponent -= fraction_digits;
  static const std::vector<double> pow10 = [] {
    std::vector<double> t;
    for (int k = 0; k <= 308; ++k) t.push_back(std::strtod(("1e" + std::to_string(k)).c_str(), nullptr));
    return t;
  }();
  double f = static_cast<double>(significand);
  while (true) {
    const int a = exponent < 0 ? -exponent : exponent;
    if (a <= 308) {
      f = exponent >= 0 ? f * pow10[static_cast<std::size_t>(a)] : f / pow10[static_cast<std::size_t>(a)];
      break;
    }
    if (f == 0) break;
    f /= 1e308;  // only reached for tiny numbers (exponent < -308)
    exponent += 308;
  }
  return negative ? -f : f;
}

inline bool has_byte_level(const Pipeline& p) {
  for (const PreTokenizerStep& s : p.pre_tokenizer) {
    if (std::holds_alternative<pre_tokenizers::ByteLevel>(s)) return true;
  }
  for (const DecoderStep& s : p.decoder) {
    if (std::holds_alternative<decoders::ByteLevel>(s)) return true;
  }
  return false;
}

/// `added` holds the contents of the file's added_tokens: a byte-level vocabulary entry that is not spelled
/// in the byte-level alphabet (DeepSeek-V3 lists "<｜begin▁of▁sentence｜>" in model.vocab too) can never come
/// out of the merges, and is left to the added token of the same text.
inline std::shared_ptr<const Model> parse_model(const JsonReader& r, const json::Value& v, const Pipeline& pipeline,
                                                const std::vector<std::string>& added = {}) {
  const std::string type = r.type(v, "model");
  if (type == "BPE") {
    BpeOptions options;
    options.byte_level = has_byte_level(pipeline);
    options.whole_piece_first = r.boolean(v, "ignore_merges", false, "model");
    options.byte_fallback = r.boolean(v, "byte_fallback", false, "model");
    options.fuse_unk = r.boolean(v, "fuse_unk", false, "model");
    if (const json::Value* d = v.find("dropout"); d != nullptr && !d->is_null() && d->as_number("model.dropout") > 0) {
      r.unsupported("model.dropout", "BPE dropout (random segmentation) is not supported");
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      const json::Value* x = v.find(key);
      if (x != nullptr && !x->is_null() && !(x->is_string() && x->as_string().empty())) {
        r.unsupported(std::string("model.") + key, "is not supported");
      }
    }
    Vocabulary vocab;
    for (const auto& [token, id] : r.object(r.at(v, "vocab", "model"), "model.vocab")) {
      if (options.byte_level && !byte_level_to_bytes(token) && std::find(added.begin(), added.end(), token) != added.end()) {
        continue;
      }
      const std::string entry = options.byte_level ? byte_level_entry(token, r.source) : token;
      if (!vocab.insert(entry, r.id(id, "model.vocab[\"" + token + "\"]"))) {
        r.fail("model.vocab", eigenformer::detail::cat("the token '", token, "' or its id is repeated"));
      }
    }
    if (const json::Value* unk = v.find("unk_token"); unk != nullptr && !unk->is_null()) {
      const std::string name = r.str(*unk, "model.unk_token");
      const auto id = vocab.find(options.byte_level ? byte_level_entry(name, r.source) : name);
      if (!id) r.fail("model.unk_token", eigenformer::detail::cat("'", name, "' is not in the vocabulary"));
      options.unk_id = *id;
    }
    std::vector<std::pair<std::string, std::string>> merges;
    const json::Array& list = r.array(r.at(v, "merges", "model"), "model.merges");
    merges.reserve(list.size());
    for (std::size_t k = 0; k < list.size(); ++k) {
      const std::string path = eigenformer::detail::cat("model.merges[", k, "]");
      std::string a, b;
      if (list[k].is_string()) {  // "left right"
        const std::string& s = list[k].as_string();
        const std::size_t space = s.find(' ');
        if (space == std::string::npos || space == 0 || space + 1 == s.size() || s.find(' ', space + 1) != std::string::npos) {
          r.fail(path, "must be two tokens separated by one space");
        }
        a = s.substr(0, space);
        b = s.substr(space + 1);
      } else {  // ["left", "right"]
        const json::Array& pair = r.array(list[k], path);
        if (pair.size() != 2) r.fail(path, "must be a pair of tokens");
        a = r.str(pair[0], path + "[0]");
        b = r.str(pair[1], path + "[1]");
      }
      if (options.byte_level) {
        a = byte_level_entry(a, r.source);
        b = byte_level_entry(b, r.source);
      }
      merges.emplace_back(std::move(a), std::move(b));
    }
    return std::make_shared<BytePairEncoding>(BytePairEncoding::from_merges(std::move(vocab), merges, options, r.source));
  }
  if (type == "WordPiece") {
    WordPieceOptions options;
    if (const json::Value* u = v.find("unk_token")) options.unk_token = r.str(*u, "model.unk_token");
    if (const json::Value* p = v.find("continuing_subword_prefix")) options.continuing_subword_prefix = r.str(*p, "model.continuing_subword_prefix");
    if (const json::Value* m = v.find("max_input_chars_per_word")) {
      options.max_input_chars_per_word = static_cast<std::size_t>(r.integer(*m, "model.max_input_chars_per_word", 1, 1 << 30));
    }
    Vocabulary vocab;
    for (const auto& [token, id] : r.object(r.at(v, "vocab", "model"), "model.vocab")) {
      if (!vocab.insert(token, r.id(id, "model.vocab[\"" + token + "\"]"))) {
        r.fail("model.vocab", eigenformer::detail::cat("the token '", token, "' or its id is repeated"));
      }
    }
    return std::make_shared<WordPiece>(std::move(vocab), options, r.source);
  }
  if (type == "Unigram") {
    std::vector<std::pair<std::string, double>> pieces;
    const json::Array& list = r.array(r.at(v, "vocab", "model"), "model.vocab");
    pieces.reserve(list.size());
    for (std::size_t k = 0; k < list.size(); ++k) {
      const std::string path = eigenformer::detail::cat("model.vocab[", k, "]");
      const json::Array& entry = r.array(list[k], path);
      if (entry.size() != 2 || !entry[1].is_number()) r.fail(path, "must be [piece, score]");
      pieces.emplace_back(r.str(entry[0], path + "[0]"), serde_json_double(entry[1].as_number()));
    }
    std::optional<TokenId> unk;
    if (const json::Value* u = v.find("unk_id"); u != nullptr && !u->is_null()) unk = r.id(*u, "model.unk_id");
    return std::make_shared<Unigram>(pieces, unk, r.boolean(v, "byte_fallback", false, "model"), r.source);
  }
  if (type == "WordLevel") {
    Vocabulary vocab;
    for (const auto& [token, id] : r.object(r.at(v, "vocab", "model"), "model.vocab")) {
      if (!vocab.insert(token, r.id(id, "model.vocab[\"" + token + "\"]"))) {
        r.fail("model.vocab", eigenformer::detail::cat("the token '", token, "' or its id is repeated"));
      }
    }
    std::string unk = "<unk>";
    if (const json::Value* u = v.find("unk_token"); u != nullptr && !u->is_null()) unk = r.str(*u, "model.unk_token");
    return std::make_shared<WordLevel>(std::move(vocab), unk, r.source);
  }
  r.unsupported("model.type", eigenformer::detail::cat("model type \"", type, "\" is not supported (BPE, WordPiece, Unigram, WordLevel are)"));
}

}  // namespace detail

/// Builds a tokenizer from the text of a tokenizer.json; `source` names it in errors.
inline Tokenizer parse_tokenizer_json(std::string_view text, const std::string& source) {
  const json::Value root = json::parse(text, source);
  const detail::JsonReader r{source};
  r.object(root, "(top level)");
  Pipeline pipeline;
  if (const json::Value* n = root.find("normalizer")) detail::parse_normalizer(r, *n, "normalizer", pipeline.normalizer);
  if (const json::Value* p = root.find("pre_tokenizer")) detail::parse_pre_tokenizer(r, *p, "pre_tokenizer", pipeline.pre_tokenizer);
  if (const json::Value* d = root.find("decoder")) detail::parse_decoder(r, *d, "decoder", pipeline.decoder);
  if (const json::Value* pp = root.find("post_processor")) detail::parse_post_processor(r, *pp, "post_processor", pipeline.post_processor);
  std::vector<std::string> added_contents;
  if (const json::Value* added = root.find("added_tokens"); added != nullptr && added->is_array()) {
    for (const json::Value& t : added->as_array()) {
      if (const json::Value* c = t.find("content"); c != nullptr && c->is_string()) added_contents.push_back(c->as_string());
    }
  }
  std::shared_ptr<const Model> model = detail::parse_model(r, r.at(root, "model", "(top level)"), pipeline, added_contents);
  if (pipeline.decoder.empty()) {
    // No decoder: byte-level models still need their bytes joined; the others are joined with spaces, as
    // Hugging Face's decode() does without a decoder.
    if (model->byte_level()) pipeline.decoder.push_back(decoders::ByteLevel{});
    else pipeline.decoder.push_back(decoders::JoinWithSpaces{});
  }

  SpecialTokens special;
  if (const json::Value* added = root.find("added_tokens"); added != nullptr && !added->is_null()) {
    const json::Array& list = r.array(*added, "added_tokens");
    for (std::size_t k = 0; k < list.size(); ++k) {
      const std::string path = eigenformer::detail::cat("added_tokens[", k, "]");
      AddedToken t;
      t.id = r.id(r.at(list[k], "id", path), path + ".id");
      t.content = r.str(r.at(list[k], "content", path), path + ".content");
      if (t.content.empty()) r.fail(path + ".content", "must not be empty");
      t.special = r.boolean(list[k], "special", false, path);
      t.single_word = r.boolean(list[k], "single_word", false, path);
      t.lstrip = r.boolean(list[k], "lstrip", false, path);
      t.rstrip = r.boolean(list[k], "rstrip", false, path);
      t.normalized = r.boolean(list[k], "normalized", !t.special, path);
      special.add(t);
    }
  }
  // Roles: what the family presets say for the tokens this file has (tokenizer_config.json, read by
  // load_checkpoint_tokenizer, may override them).
  for (Family f : {Family::bert, Family::gpt2, Family::llama3, Family::t5, Family::deepseek_r1}) {
    for (const SpecialTokenSpec& spec : family_special_tokens(f)) {
      if (!spec.role) continue;
      if (const AddedToken* t = special.find(spec.content)) special.assign(*spec.role, t->id);
    }
  }
  return Tokenizer(std::move(model), std::move(pipeline), std::move(special), source);
}

inline Tokenizer load_tokenizer_json(const std::string& path) {
  return parse_tokenizer_json(read_file_bytes(path, "tokenizer.json"), path);
}

/// BERT's vocab.txt: WordPiece with BertNormalizer (lowercase = uncased models), BertPreTokenizer, the
/// WordPiece decoder and the [CLS] $A [SEP] template; the BERT special tokens from the vocabulary.
inline Tokenizer load_vocab_txt(const std::string& path, bool lowercase = true) {
  auto model = std::make_shared<WordPiece>(parse_vocab_txt(read_file_bytes(path, "wordpiece"), path), WordPieceOptions{}, path);
  Pipeline pipeline;
  BertNormalizerOptions o;
  o.lowercase = lowercase;
  o.strip_accents = lowercase;
  pipeline.normalizer.push_back(normalizers::Bert{o});
  pipeline.pre_tokenizer.push_back(pre_tokenizers::Bert{});
  pipeline.decoder.push_back(decoders::WordPiece{});
  SpecialTokens special;
  for (const SpecialTokenSpec& spec : family_special_tokens(Family::bert)) {
    const auto id = model->token_to_id(spec.content);
    if (!id) continue;
    special.add(AddedToken{spec.content, *id, true, false, false, false, false});
    if (spec.role) special.assign(*spec.role, *id);
  }
  if (special.id(Role::cls) && special.id(Role::sep)) {
    pipeline.post_processor = Template{{*special.id(Role::cls)}, {*special.id(Role::sep)}};
  }
  return Tokenizer(model, std::move(pipeline), std::move(special), path);
}

/// GPT-2's vocab.json + merges.txt: byte-level BPE with the GPT-2 split pattern and <|endoftext|>.
inline Tokenizer load_gpt2_tokenizer(const std::string& vocab_json, const std::string& merges_txt) {
  auto model = std::make_shared<BytePairEncoding>(load_gpt2_files(vocab_json, merges_txt));
  Pipeline pipeline;
  pipeline.pre_tokenizer.push_back(pre_tokenizers::Pattern{SplitPattern::gpt2});
  pipeline.decoder.push_back(decoders::ByteLevel{});
  SpecialTokens special;
  if (const auto id = model->token_to_id("<|endoftext|>")) {
    special.add(AddedToken{"<|endoftext|>", *id, true, false, false, false, false});
    special.assign(Role::eos, *id);
    special.assign(Role::bos, *id);
  }
  return Tokenizer(model, std::move(pipeline), std::move(special), vocab_json);
}

// ------------------------------------------------------------------------------------------------
// Checkpoint folders
// ------------------------------------------------------------------------------------------------

/// Applies the roles of tokenizer_config.json / special_tokens_map.json ("eos_token": "</s>" or
/// {"content": "</s>", ...}) and the extra tokens of "added_tokens_decoder". Returns the updated registry.
inline SpecialTokens apply_token_config(SpecialTokens special, const json::Value& config, const std::string& source,
                                        const Tokenizer& tok) {
  const detail::JsonReader r{source};
  if (const json::Value* decoder = config.find("added_tokens_decoder"); decoder != nullptr && decoder->is_object()) {
    for (const auto& [key, entry] : decoder->as_object()) {
      std::int64_t id = 0;
      for (char c : key) {
        if (c < '0' || c > '9' || id > std::numeric_limits<TokenId>::max() / 10) r.fail("added_tokens_decoder", "keys must be token ids");
        id = id * 10 + (c - '0');
      }
      if (key.empty()) r.fail("added_tokens_decoder", "keys must be token ids");
      if (id > kMaxTokenId) r.fail("added_tokens_decoder." + key, eigenformer::detail::cat("the id is above ", kMaxTokenId));
      const std::string content = r.str(r.at(entry, "content", "added_tokens_decoder." + key), "added_tokens_decoder." + key + ".content");
      if (special.find(content) == nullptr && !content.empty()) {
        AddedToken t;
        t.content = content;
        t.id = static_cast<TokenId>(id);
        t.special = r.boolean(entry, "special", true, "added_tokens_decoder." + key);
        t.normalized = r.boolean(entry, "normalized", !t.special, "added_tokens_decoder." + key);
        special.add(t);
      }
    }
  }
  for (Role role : kAllRoles) {
    const json::Value* v = config.find(std::string(role_name(role)) + "_token");
    if (v == nullptr || v->is_null()) continue;
    std::string content;
    if (v->is_string()) {
      content = v->as_string();
    } else if (v->is_object() && v->find("content") != nullptr) {
      content = r.str(*v->find("content"), std::string(role_name(role)) + "_token.content");
    } else {
      r.fail(std::string(role_name(role)) + "_token", "must be a string or {\"content\": ...}");
    }
    std::optional<TokenId> id;
    if (const AddedToken* t = special.find(content)) id = t->id;
    if (!id) id = tok.token_to_id(content);
    if (!id) {
      throw ConfigError(eigenformer::detail::cat("[tokenizer] ", source, ": ", role_name(role), "_token '", content,
                                                 "' is not a token of this tokenizer"));
    }
    special.clear(role);
    special.assign(role, *id);
  }
  return special;
}

/// Loads the tokenizer of a Hugging Face style checkpoint folder: tokenizer.json (or tokenizer.model as
/// Llama 3 tiktoken ranks, or vocab.txt, or vocab.json + merges.txt), then the roles from
/// tokenizer_config.json and special_tokens_map.json, and extra end-of-generation ids from
/// generation_config.json.
inline Tokenizer load_checkpoint_tokenizer(const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path dir(folder);
  const auto has = [&](const char* name) { return fs::is_regular_file(dir / name); };
  const auto file = [&](const char* name) { return (dir / name).string(); };
  std::optional<Tokenizer> tok;
  if (has("tokenizer.json")) {
    tok = load_tokenizer_json(file("tokenizer.json"));
  } else if (has("tokenizer.model")) {
    tok = tokenizer_from_ranks(load_tiktoken(file("tokenizer.model")), "llama3");
  } else if (has("vocab.txt")) {
    bool lowercase = true;
    if (has("tokenizer_config.json")) {
      const json::Value config = json::parse_file(file("tokenizer_config.json"));
      if (const json::Value* l = config.find("do_lower_case"); l != nullptr && l->is_bool()) lowercase = l->as_bool();
    }
    tok = load_vocab_txt(file("vocab.txt"), lowercase);
  } else if (has("vocab.json") && has("merges.txt")) {
    tok = load_gpt2_tokenizer(file("vocab.json"), file("merges.txt"));
  } else {
    throw FileError(eigenformer::detail::cat("[tokenizer] ", folder,
                                             ": no tokenizer.json, tokenizer.model, vocab.txt or vocab.json + merges.txt"));
  }
  SpecialTokens special = tok->special_tokens();
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {  // the config wins
    if (has(name)) special = apply_token_config(std::move(special), json::parse_file(file(name)), file(name), *tok);
  }
  if (has("generation_config.json")) {
    const json::Value gen = json::parse_file(file("generation_config.json"));
    const detail::JsonReader r{file("generation_config.json")};
    if (const json::Value* eos = gen.find("eos_token_id"); eos != nullptr && !eos->is_null()) {
      if (eos->is_array()) {
        for (const json::Value& id : eos->as_array()) special.assign(Role::eos, r.id(id, "eos_token_id[]"));
      } else {
        special.assign(Role::eos, r.id(*eos, "eos_token_id"));
      }
    }
  }
  tok->set_special_tokens(std::move(special));
  return std::move(*tok);
}

// ------------------------------------------------------------------------------------------------
// Auto-detection
// ------------------------------------------------------------------------------------------------

struct LoadOptions {
  /// For a bare tiktoken rank file: the encoding that gives its split pattern and special tokens.
  std::string encoding;
};

/// Loads any supported tokenizer: a checkpoint folder, a tokenizer.json, a tiktoken rank file (with
/// options.encoding), a vocab.txt, or a vocab.json with merges.txt beside it. Decides by content, not by
/// name alone, and says what it expected when nothing fits.
inline Tokenizer load_tokenizer(const std::string& path, const LoadOptions& options = {}) {
  namespace fs = std::filesystem;
  if (fs::is_directory(path)) return load_checkpoint_tokenizer(path);
  const std::string bytes = read_file_bytes(path, "tokenizer");
  std::size_t first = 0;
  while (first < bytes.size() && (bytes[first] == ' ' || bytes[first] == '\n' || bytes[first] == '\r' || bytes[first] == '\t')) ++first;
  if (first < bytes.size() && bytes[first] == '{') {
    const json::Value root = json::parse(bytes, path);
    if (root.find("model") != nullptr) return parse_tokenizer_json(bytes, path);
    // vocab.json: token -> id, with merges.txt beside it.
    const fs::path merges = fs::path(path).parent_path() / "merges.txt";
    if (!fs::is_regular_file(merges)) {
      throw FormatError(eigenformer::detail::cat("[tokenizer] ", path,
                                                 ": a JSON file without \"model\" is read as GPT-2's vocab.json, but there is no merges.txt beside it"));
    }
    return load_gpt2_tokenizer(path, merges.string());
  }
  // A tiktoken rank file: the first line is "<base64> <integer>".
  const std::string_view first_line = std::string_view(bytes).substr(0, bytes.find('\n'));
  const std::size_t space = first_line.find(' ');
  const bool looks_tiktoken = space != std::string_view::npos && base64_decode(first_line.substr(0, space)).has_value() &&
                              first_line.find_first_not_of("0123456789\r", space + 1) == std::string_view::npos;
  if (looks_tiktoken) {
    if (options.encoding.empty()) {
      throw ValueError(eigenformer::detail::cat("[tokenizer] ", path, " is a tiktoken rank file, which has no split pattern: "
                                                "name the encoding (gpt2, r50k_base, p50k_base, cl100k_base, o200k_base, llama3)"));
    }
    return tokenizer_from_ranks(parse_tiktoken(bytes, path), options.encoding);
  }
  return load_vocab_txt(path);
}

}  // namespace eigenformer::tokenizers
