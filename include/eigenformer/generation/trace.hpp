// eigenformer/generation/trace.hpp — what happened at every step, to print or to save as JSON.
//
// Greedy search and sampling record, for each step and sequence, the top candidates after every filter
// ("model" = the softmax of the raw scores, then "repetition_penalty", "no_repeat_ngram", "temperature",
// "top_k", "top_p", "min_p" — only the filters that are on), and the token chosen. Watching a token's
// probability change from one stage to the next is the point: temperature reshapes, top-k and top-p cut.
//
// Beam search records, for each step, the candidates it ranked (which beam they extend, the token, the
// beam's total log-probability with it) and what became of each: kept as a beam, finished (an EOS or a
// stop string; with its length-penalised score), or dropped. The "parent" links form the tree of beams.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "eigenformer/core/atomic_file.hpp"
#include "eigenformer/core/json.hpp"
#include "eigenformer/core/types.hpp"

namespace eigenformer::generation {

struct Candidate {
  TokenId id = 0;
  double probability = 0;  // under the distribution of this stage
};

struct FilterStage {
  std::string name;              // "model", "repetition_penalty", ..., "min_p"
  std::vector<Candidate> top;    // the most likely tokens after this stage, best first
  std::int64_t kept = 0;         // how many tokens still have a non-zero probability
};

struct TokenStep {
  std::int64_t step = 0;   // 0 = the first generated token
  std::int64_t sequence = 0;
  std::vector<FilterStage> stages;
  TokenId chosen = 0;
  double chosen_probability = 0;  // in the last stage's distribution
};

struct BeamCandidate {
  std::int64_t parent = 0;  // the beam it extends (index into the previous step's beams)
  TokenId token = 0;
  double score = 0;         // Σ log p of the beam with this token (before the length penalty)
  enum class Fate { Kept, Finished, Dropped } fate = Fate::Dropped;
  std::int64_t beam = -1;      // Kept: its index among the new beams
  double final_score = 0;      // Finished: score / length^length_penalty
};

struct BeamStep {
  std::int64_t step = 0;
  std::vector<BeamCandidate> candidates;  // best first
};

struct Trace {
  std::size_t top_n = 5;        // candidates recorded per stage
  bool keep_logits = false;     // also keep every step's raw scores (tests compare cached and uncached runs)

  std::vector<TokenStep> steps;          // greedy and sampling
  std::vector<BeamStep> beam_steps;      // beam search
  std::vector<std::vector<double>> logits;  // (steps · sequences) raw score rows, when keep_logits

  /// Human-readable text. `token_text(id)` spells a token (e.g. the tokenizer's id_to_token); ids otherwise.
  std::string to_text(const std::function<std::string(TokenId)>& token_text = {}) const {
    const auto spell = [&](TokenId id) {
      std::string s = token_text ? token_text(id) : std::to_string(id);
      return "'" + escape(s) + "'";
    };
    std::string out;
    char buf[160];
    for (const TokenStep& s : steps) {
      std::snprintf(buf, sizeof buf, "step %lld (sequence %lld): chose %s (id %d, p = %.4f)\n",
                    static_cast<long long>(s.step), static_cast<long long>(s.sequence), spell(s.chosen).c_str(),
                    static_cast<int>(s.chosen), s.chosen_probability);
      out += buf;
      for (const FilterStage& stage : s.stages) {
        std::snprintf(buf, sizeof buf, "  %-19s %6lld kept:", stage.name.c_str(), static_cast<long long>(stage.kept));
        out += buf;
        for (const Candidate& c : stage.top) {
          std::snprintf(buf, sizeof buf, " %s %.4f", spell(c.id).c_str(), c.probability);
          out += buf;
        }
        out += "\n";
      }
    }
    for (const BeamStep& s : beam_steps) {
      std::snprintf(buf, sizeof buf, "step %lld:\n", static_cast<long long>(s.step));
      out += buf;
      for (const BeamCandidate& c : s.candidates) {
        const char* fate = c.fate == BeamCandidate::Fate::Kept ? "kept as beam" : c.fate == BeamCandidate::Fate::Finished ? "finished" : "dropped";
        std::snprintf(buf, sizeof buf, "  beam %lld + %s: log p = %.4f  %s", static_cast<long long>(c.parent),
                      spell(c.token).c_str(), c.score, fate);
        out += buf;
        if (c.fate == BeamCandidate::Fate::Kept) {
          std::snprintf(buf, sizeof buf, " %lld", static_cast<long long>(c.beam));
          out += buf;
        } else if (c.fate == BeamCandidate::Fate::Finished) {
          std::snprintf(buf, sizeof buf, " (score %.4f)", c.final_score);
          out += buf;
        }
        out += "\n";
      }
    }
    return out;
  }

  json::Value to_json(const std::function<std::string(TokenId)>& token_text = {}) const {
    const auto token = [&](TokenId id) {
      json::Value t;
      t.set("id", static_cast<std::int64_t>(id));
      if (token_text) t.set("text", token_text(id));
      return t;
    };
    json::Value root;
    json::Array step_list;
    for (const TokenStep& s : steps) {
      json::Value step;
      step.set("step", s.step);
      step.set("sequence", s.sequence);
      json::Array stages;
      for (const FilterStage& stage : s.stages) {
        json::Value st;
        st.set("name", stage.name);
        st.set("kept", stage.kept);
        json::Array top;
        for (const Candidate& c : stage.top) {
          json::Value cand = token(c.id);
          cand.set("probability", c.probability);
          top.push_back(cand);
        }
        st.set("top", json::Value(top));
        stages.push_back(st);
      }
      step.set("stages", json::Value(stages));
      json::Value chosen = token(s.chosen);
      chosen.set("probability", s.chosen_probability);
      step.set("chosen", chosen);
      step_list.push_back(step);
    }
    root.set("steps", json::Value(step_list));
    json::Array beam_list;
    for (const BeamStep& s : beam_steps) {
      json::Value step;
      step.set("step", s.step);
      json::Array cands;
      for (const BeamCandidate& c : s.candidates) {
        json::Value cand = token(c.token);
        cand.set("parent", c.parent);
        cand.set("score", finite_or_null(c.score));  // null: −∞, a token the filters forbid (e.g. a forced BOS)
        cand.set("fate", c.fate == BeamCandidate::Fate::Kept ? "kept" : c.fate == BeamCandidate::Fate::Finished ? "finished" : "dropped");
        if (c.fate == BeamCandidate::Fate::Kept) cand.set("beam", c.beam);
        if (c.fate == BeamCandidate::Fate::Finished) cand.set("final_score", finite_or_null(c.final_score));
        cands.push_back(cand);
      }
      step.set("candidates", json::Value(cands));
      beam_list.push_back(step);
    }
    root.set("beam_steps", json::Value(beam_list));
    return root;
  }

  /// Writes to_json() to `path`, atomically.
  void write_json(const std::string& path, const std::function<std::string(TokenId)>& token_text = {}) const {
    write_file_atomically(path, json::dump(to_json(token_text), 1) + "\n", "[generation trace]");
  }

 private:
  /// JSON has no infinity: a beam's log p of −∞ (every token but one forbidden) is written as null.
  static json::Value finite_or_null(double x) { return std::isfinite(x) ? json::Value(x) : json::Value(); }

  static std::string escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else if (c == '\r') out += "\\r";
      else out += c;
    }
    return out;
  }
};

}  // namespace eigenformer::generation
