// The family programs (examples/bert, examples/llama, examples/t5) through their command line: --dump matches the
// PyTorch references within the tolerance, --text goes through the tokenizer, --help explains, and every bad folder,
// config, tensor or argument ends the program with exit code 1 (2 for usage) and exactly one line on stderr.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <cctype>
#include <cstdlib>
#include <set>

#include "bert/bert_options.hpp"
#include "llama/llama_options.hpp"
#include "model_fixture.hpp"
#include "t5/t5_options.hpp"
#include "tokenize/tokenize_options.hpp"
#include "train_bpe/train_bpe_options.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

#if defined(EIGENFORMER_BERT_PROGRAM) && defined(EIGENFORMER_LLAMA_PROGRAM) && defined(EIGENFORMER_T5_PROGRAM) && \
    defined(EIGENFORMER_TOKENIZE_PROGRAM) && defined(EIGENFORMER_TRAIN_BPE_PROGRAM)

namespace {

struct Result {
  int exit_code = -1;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

/// Runs `program args...`, capturing its exit code, stdout and stderr.
Result run(const std::string& program, const std::vector<std::string>& args) {
  static const TempDir tmp("programs-io");
  std::string command = quote(program);
  for (const std::string& a : args) command += " " + quote(a);
  command += " > " + quote(tmp / "out") + " 2> " + quote(tmp / "err");
  const int status = std::system(command.c_str());
  Result r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_text(tmp / "out");
  r.err = read_text(tmp / "err");
  return r;
}

std::string program_of(const std::string& family) {
  if (family == "bert") return EIGENFORMER_BERT_PROGRAM;
  if (family == "tokenize") return EIGENFORMER_TOKENIZE_PROGRAM;
  if (family == "train_bpe") return EIGENFORMER_TRAIN_BPE_PROGRAM;
  if (family == "llama") return EIGENFORMER_LLAMA_PROGRAM;
  return EIGENFORMER_T5_PROGRAM;
}

std::string ids_text(const TokenIds& ids) {
  std::string s;
  for (Index i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids.data()[i]);
  return s;
}

/// Expects a failure with `code`, one line on stderr, "<program>: error: " and `fragment` in it.
void expect_failure(const std::string& family, const std::vector<std::string>& args, int code, const std::string& fragment) {
  const Result r = run(program_of(family), args);
  INFO(family << " stderr: " << r.err);
  CHECK(r.exit_code == code);
  CHECK(r.err.rfind(family + ": error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(fragment) != std::string::npos);
}

}  // namespace

TEST_CASE("The programs' --dump matches the PyTorch reference for every generated checkpoint") {
  const std::vector<std::pair<std::string, std::string>> checkpoints = {
      {"bert", "bert-base-style"}, {"bert", "bert-model-f16"}, {"bert", "bert-classifier"},
      {"llama", "llama-gqa-sharded"}, {"llama", "llama-tied-bf16"}, {"llama", "llama-mqa-f16"},
      {"t5", "t5-small-style"}, {"t5", "flan-t5-style"}};
  TempDir tmp("dumps");
  for (const auto& checkpoint : checkpoints) {
    const std::string family = checkpoint.first, name = checkpoint.second;  // (clang 14: no lambda capture of bindings)
    for (const bool in_double : {false, true}) {
      CAPTURE(name);
      CAPTURE(in_double);
      Reference ref(name);
      const std::string dump = tmp / (name + (in_double ? "-double" : "") + ".safetensors");
      std::vector<std::string> args = {"--model", model_dir(name), "--ids", ids_text(ref.ids("input_ids")), "--dump", dump};
      if (ref.has("decoder_input_ids")) {
        args.push_back("--decoder-ids");
        args.push_back(ids_text(ref.ids("decoder_input_ids")));
      }
      if (in_double) args.push_back("--double");
      const Result r = run(program_of(family), args);
      INFO("stderr: " << r.err);
      REQUIRE(r.exit_code == 0);
      CHECK(r.err.empty());

      // Every reference tensor of the one sequence (not the batch.* extras, not the inputs) is in the dump, F32,
      // with the same shape, within the float tolerance (the dump is F32 even when computed in double).
      SafeTensorsReader out(dump);
      std::size_t compared = 0;
      double worst = 0;
      SafeTensorsReader expected(fixture_path("models/" + name + ".reference.safetensors"));
      for (const TensorInfo& t : expected.tensors()) {
        if (t.name.rfind("batch.", 0) == 0 || t.name.find("input_ids") != std::string::npos) continue;
        CAPTURE(t.name);
        REQUIRE(out.contains(t.name));
        CHECK(out.info(t.name).dtype == DType::F32);
        CHECK(out.info(t.name).shape == t.shape);
        const std::vector<double> got = out.read<double>(t.name);
        worst = std::max(worst, ref.check<float>(got.data(), got.size(), t.name));
        ++compared;
      }
      CHECK(compared + 1 >= out.tensors().size());  // nothing left unchecked but, at most, an extra pooler/logits
      MESSAGE(family << " --dump " << name << std::string(in_double ? " --double" : "") << ": " << compared
                     << " tensors, max abs error " << worst);
    }
  }
}

TEST_CASE("bert --text: WordPiece through the folder's vocab.txt, and fill-mask at each [MASK]") {
  const Result r = run(EIGENFORMER_BERT_PROGRAM,
                       {"--model", model_dir("bert-base-style"), "--text", "The cat [MASK] on the mat.", "--candidates", "3"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("input   9 tokens: 2,5,6,4,8,5,9,3") == std::string::npos);  // "mat." is two tokens
  CHECK(r.out.find("input   9 tokens: 2,5,6,4,8,5,9,") != std::string::npos);
  CHECK(r.out.find("[MASK] at position 3:") != std::string::npos);
  CHECK(r.out.find("\"was\"") != std::string::npos);  // the reference's top candidate, spelled by the vocabulary

  const Result e = run(EIGENFORMER_BERT_PROGRAM, {"--model", model_dir("bert-model-f16"), "--ids", "2,17,33,3", "--embed"});
  REQUIRE(e.exit_code == 0);
  CHECK(e.out.find("embedding (mean pooling, 20 values") != std::string::npos);
}

TEST_CASE("--help explains the contract and exits 0") {
  for (const std::string family : {"bert", "llama", "t5"}) {
    CAPTURE(family);
    const Result r = run(program_of(family), {"--help"});
    CHECK(r.exit_code == 0);
    for (const char* word : {"--model DIR", "--ids", "--text", "--dump", "hidden_states.<i>", "attentions.<i>", "--double"}) {
      CHECK_MESSAGE(r.out.find(word) != std::string::npos, word);
    }
  }
  CHECK(run(EIGENFORMER_T5_PROGRAM, {"--help"}).out.find("--decoder-ids") != std::string::npos);
  CHECK(run(EIGENFORMER_T5_PROGRAM, {"--help"}).out.find("cross_attentions.<i>") != std::string::npos);
}

TEST_CASE("Bad folders, configs, tensors and ids: exit code 1 and one clear line on stderr") {
  TempDir tmp("program-errors");
  const std::string llama = model_dir("llama-mqa-f16");
  expect_failure("llama", {"--model", tmp / "nowhere", "--ids", "1"}, 1, "[checkpoint] '" + (tmp / "nowhere") + "' does not exist");
  expect_failure("llama", {"--model", llama + "/config.json", "--ids", "1"}, 1, "is not a folder");
  expect_failure("t5", {"--model", llama, "--ids", "1"}, 1, "model_type is 'llama', expected 't5' or 'mt5'");
  expect_failure("bert", {"--model", model_dir("t5-small-style"), "--ids", "1"}, 1, "model_type is 't5', expected 'bert'");

  const std::string bad_config = tmp.copy_checkpoint("llama-tied-bf16");
  edit_config(bad_config, [](json::Value& c) { c.set("num_attention_heads", 3); });
  expect_failure("llama", {"--model", bad_config, "--ids", "1"}, 1,
                 "tensor 'model.layers.0.self_attn.q_proj.weight' has shape [24, 20] but config.json implies [36, 20]");
  const std::string huge = tmp.copy_checkpoint("llama-gqa-sharded");
  edit_config(huge, [](json::Value& c) { c.set("vocab_size", 16000000); });  // would allocate 2 GB: refused first
  expect_failure("llama", {"--model", huge, "--ids", "1"}, 1, "config.json and the weights disagree");
  const std::string bad_json = tmp.copy_checkpoint("bert-classifier");
  write_text(bad_json + "/config.json", "{\"model_type\": \"bert\",");
  expect_failure("bert", {"--model", bad_json, "--ids", "1"}, 1, "config.json: line 1 column 23");

  const std::string bad_tensor = tmp.copy_checkpoint("t5-small-style");
  edit_safetensors(bad_tensor + "/model.safetensors", [](std::vector<StoredTensor>& t) {
    for (StoredTensor& s : t) {
      if (s.name == "decoder.final_layer_norm.weight") {
        s.shape = {8};
        s.values.resize(8);
      }
    }
  });
  expect_failure("t5", {"--model", bad_tensor, "--ids", "1"}, 1,
                 "tensor 'decoder.final_layer_norm.weight' has shape [8] but config.json implies [16]");

  expect_failure("llama", {"--model", llama, "--ids", "1,2,x"}, 1, "--ids: 'x' is not a token id");
  expect_failure("llama", {"--model", llama, "--ids", "1,50"}, 1, "--ids: token id 50 at position 1 is outside the vocabulary of 50");
  expect_failure("t5", {"--model", model_dir("t5-small-style"), "--ids", "1", "--decoder-ids", "0,,3"}, 1,
                 "--decoder-ids: '' is not a token id");
  expect_failure("llama", {"--model", llama, "--text", "hello"}, 1, "--text needs tokenizer files");
  expect_failure("llama", {"--model", llama}, 2, "give the input as --ids or as --text");
  expect_failure("llama", {"--ids", "1"}, 2, "--model is required");
  expect_failure("bert", {"--model", model_dir("bert-classifier"), "--ids", "1", "--frobnicate"}, 2,
                 "unknown argument '--frobnicate'");
  expect_failure("bert", {"--model", model_dir("bert-classifier"), "--ids", "2,3", "--embed", "--pooling", "max"}, 2,
                 "--pooling must be mean, cls or pooler, got 'max'");
}

TEST_CASE("Generation from the command line: the same sequences as the API and the PyTorch reference") {
  // Greedy on Llama: the reference case llama-gqa-sharded/greedy (tests/fixtures/generation).
  const Result g = run(EIGENFORMER_LLAMA_PROGRAM, {"--model", model_dir("llama-gqa-sharded"), "--ids", "1,5,9,33",
                                                   "--max-new-tokens", "12"});
  INFO(g.out << g.err);
  REQUIRE(g.exit_code == 0);
  CHECK(g.out.find("ids   50,64,32,27,56,11,2\n") != std::string::npos);
  CHECK(g.out.find("stopped by end of sequence (id 2)") != std::string::npos);
  CHECK(g.out.find("EOS ids 2") != std::string::npos);  // from config.json

  // Beam search on T5: the reference case flan-t5-style/beam4, best two sequences.
  const Result b = run(EIGENFORMER_T5_PROGRAM, {"--model", model_dir("flan-t5-style"), "--ids", "8,2,30,1", "--num-beams", "4",
                                                "--max-new-tokens", "7", "--num-return-sequences", "2"});
  INFO(b.out << b.err);
  REQUIRE(b.exit_code == 0);
  CHECK(b.out.find("strategy beam") != std::string::npos);
  CHECK(b.out.find("sequence 1: 7 tokens, stopped by max_new_tokens") != std::string::npos);
  CHECK(b.out.find("ids   53,23,19,46,46,46,46\n") != std::string::npos);
  CHECK(b.out.find("ids   53,23,19,13,29,46,46\n") != std::string::npos);

  // Sampling: a seed reproduces the run; the trace is written as JSON and printed with --explain.
  TempDir tmp("generate-cli");
  const std::vector<std::string> sample = {"--model", model_dir("llama-mqa-f16"), "--ids", "1,7,3", "--strategy", "sample",
                                           "--temperature", "0.8", "--top-p", "0.9", "--seed", "11", "--max-new-tokens", "6",
                                           "--trace", tmp / "trace.json", "--explain"};
  const Result s1 = run(EIGENFORMER_LLAMA_PROGRAM, sample), s2 = run(EIGENFORMER_LLAMA_PROGRAM, sample);
  REQUIRE(s1.exit_code == 0);
  const auto ids_line = [](const std::string& out) { return out.substr(out.find("  ids   "), out.find('\n', out.find("  ids   ")) - out.find("  ids   ")); };
  CHECK((ids_line(s1.out) == "  ids   3,28,15,28,2" && ids_line(s2.out) == ids_line(s1.out)));  // PyTorch's draws: sampled_sequences.json "cli_llama_mqa_f16"
  CHECK(s1.out.find("top_p") != std::string::npos);
  const json::Value trace = json::parse_file(tmp / "trace.json");
  CHECK(trace.at("steps").as_array().size() == 5);  // one step per sampled token, the 5th is EOS 2

  // Streaming needs text: a copy of the checkpoint with a WordPiece vocabulary of 71 entries.
  const std::string folder = tmp.copy_checkpoint("llama-gqa-sharded");
  std::string vocab = read_text(model_dir("bert-base-style") + "/vocab.txt");
  for (const char* extra : {"zebra\n", "quokka\n", "axolotl\n", "narwhal\n"}) vocab += extra;
  write_text(folder + "/vocab.txt", vocab);
  const Result st = run(EIGENFORMER_LLAMA_PROGRAM, {"--model", folder, "--prompt", "the cat", "--max-new-tokens", "5", "--stream"});
  INFO(st.out << st.err);
  REQUIRE(st.exit_code == 0);
  const std::size_t open = st.out.find("--- streamed ---\n"), close = st.out.find("\n--- end ---");
  REQUIRE(open != std::string::npos);
  REQUIRE(close != std::string::npos);
  const std::string streamed = st.out.substr(open + 17, close - open - 17);
  CHECK(st.out.find("  text  " + streamed + "\n") != std::string::npos);  // the stream spells the final text
}

TEST_CASE("Generation options: bad values exit 1, usage mistakes 2, each with one line") {
  const std::string llama = model_dir("llama-gqa-sharded");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--max-new-tokens", "5", "--temperature", "-1", "--strategy", "sample"},
                 1, "temperature must be a finite number >= 0, got -1");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--max-new-tokens", "5", "--top-p", "0"}, 1,
                 "top_p must lie in (0, 1], got 0");
  expect_failure("llama", {"--model", llama, "--ids", "1,2", "--max-new-tokens", "63"}, 1,
                 "the prompt (2 tokens) plus max_new_tokens (63) exceeds the model's context of 64 positions");
  expect_failure("llama", {"--model", llama, "--prompt", "hello"}, 1, "--prompt needs tokenizer files");
  expect_failure("llama", {"--model", llama, "--ids", "1,99", "--max-new-tokens", "2"}, 1,
                 "--ids: token id 99 at position 1 is outside the vocabulary of 71");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--strategy", "creative"}, 2,
                 "--strategy must be greedy, sample or beam, got 'creative'");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--prompt", "x"}, 2, "give the prompt as --prompt TEXT or as --ids LIST");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--max-new-tokens", "many"}, 2,
                 "--max-new-tokens needs a non-negative integer, got 'many'");
  expect_failure("t5", {"--model", model_dir("t5-small-style"), "--ids", "1", "--num-beams", "2", "--decoder-ids", "0"}, 2,
                 "--decoder-ids is for one step");
  for (const std::string family : {"llama", "t5"}) {
    const Result r = run(program_of(family), {"--help"});
    for (const char* word : {"--prompt", "--max-new-tokens", "--strategy", "--num-beams", "--temperature", "--top-k",
                             "--top-p", "--seed", "--stream", "--trace"}) {
      CHECK_MESSAGE(r.out.find(word) != std::string::npos, family << " --help lacks " << word);
    }
  }
}

TEST_CASE("Every program's --help is its option table: each option listed with its value and meaning") {
  const std::vector<std::pair<std::string, cli::Table>> programs = {
      {EIGENFORMER_BERT_PROGRAM, cli::bert_options()},         {EIGENFORMER_LLAMA_PROGRAM, cli::llama_options()},
      {EIGENFORMER_T5_PROGRAM, cli::t5_options()},             {EIGENFORMER_TOKENIZE_PROGRAM, cli::tokenize_options()},
      {EIGENFORMER_TRAIN_BPE_PROGRAM, cli::train_bpe_options()}};
  for (const auto& program : programs) {
    const std::string path = program.first;
    const cli::Table& table = program.second;
    CAPTURE(table.program);
    const Result r = run(path, {"--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    std::size_t options = 0;
    for (const cli::Section& section : table.sections) {
      if (!section.heading.empty()) CHECK(r.out.find("\n" + section.heading + "\n") != std::string::npos);
      for (const cli::Option& option : section.options) {
        CAPTURE(option.name);
        ++options;
        // A line "  --name VALUE   first line of the help", the help in one column.
        const std::string label = "\n  " + cli::Table::label(option) + "  ";
        const std::size_t at = r.out.find(label);
        REQUIRE(at != std::string::npos);
        const std::size_t end = r.out.find('\n', at + 1);
        std::string rest = r.out.substr(at + label.size(), end - at - label.size());
        rest.erase(0, rest.find_first_not_of(' '));
        CHECK(rest == option.help.substr(0, option.help.find('\n')));
        // A value option without its value is a usage error naming the option and its value.
        if (!option.value.empty()) {
          const Result missing = run(path, {option.name});
          CHECK(missing.exit_code == 2);
          CHECK(missing.err == table.program + ": error: " + option.name + " needs a value: " + cli::Table::label(option) +
                                   " (see --help)\n");
        }
      }
    }
    CHECK(options >= 6);
    CHECK(r.out.rfind("usage: " + table.program + " ", 0) == 0);
    // Anything not in the table is refused, naming it; so is an option given twice.
    const Result unknown = run(path, {"--frobnicate"});
    CHECK(unknown.exit_code == 2);
    CHECK(unknown.err == table.program + ": error: unknown argument '--frobnicate' (see --help)\n");
    const Result twice = run(path, {"--help", "--help"});
    CHECK(twice.exit_code == 2);
    CHECK(twice.err == table.program + ": error: --help is given twice\n");
  }
  // t5 has no chat format: --chat is llama's alone.
  expect_failure("t5", {"--model", model_dir("flan-t5-style"), "--prompt", "x", "--chat"}, 2, "unknown argument '--chat'");
}

TEST_CASE("README.md and docs/models.md name no program option that the programs' tables lack") {
  std::set<std::string> known;
  for (const cli::Table& table : {cli::bert_options(), cli::llama_options(), cli::t5_options(), cli::tokenize_options(),
                                  cli::train_bpe_options()}) {
    for (const cli::Section& section : table.sections) {
      for (const cli::Option& option : section.options) known.insert(option.name);
    }
  }
  // Options of other tools that the documents show (cmake, ctest, gdb, huggingface-cli, pkg-config, Google Benchmark,
  // the scripts in tools/).
  const std::set<std::string> other_tools = {"--preset", "--build", "--target", "--install", "--prefix", "--cflags",
                                             "--include", "--local-dir", "--args", "--benchmark_counters_tabular",
                                             "--benchmark_filter", "-R", "--list" /* tools/mutants.sh */,
                                             "--blas-dir", "--wait-eigenformer", "--bench-dir",
                                             "--torch-isa" /* tools/bench_vs_torch.py */};
  // The side-by-side script's options the README shows are ones its usage names.
  const std::string script = read_text(std::string(EIGENFORMER_SOURCE_DIR) + "/tools/bench_vs_torch.py");
  for (const char* option : {"--blas-dir", "--wait-eigenformer", "--bench-dir", "--torch-isa"}) {
    CHECK_MESSAGE(script.find(std::string("[") + option + " ") != std::string::npos,
                  option << " is not in tools/bench_vs_torch.py's usage");
  }
  for (const char* document : {"README.md", "docs/models.md"}) {
    const std::string text = read_text(std::string(EIGENFORMER_SOURCE_DIR) + "/" + document);
    std::size_t named = 0;
    for (std::size_t at = text.find("--"); at != std::string::npos; at = text.find("--", at + 2)) {
      std::size_t end = at + 2;
      while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) || text[end] == '-' || text[end] == '_')) ++end;
      const std::string option = text.substr(at, end - at);
      if (option.size() <= 2 || option.find("---") == 0 || (at > 0 && text[at - 1] != ' ' && text[at - 1] != '`' && text[at - 1] != '(')) continue;
      if (other_tools.count(option) != 0) continue;
      CAPTURE(document);
      CHECK_MESSAGE(known.count(option) != 0, option << " is not an option of any program");
      ++named;
    }
    CHECK(named >= 10);
  }
}

TEST_CASE("The integer options: one parser, errors naming the option and the text") {
  const std::string llama = model_dir("llama-gqa-sharded");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--candidates", "many"}, 2, "--candidates needs a positive integer, got 'many'");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--candidates", "0"}, 2, "--candidates must lie in [1, 1000000], got '0'");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--candidates", "-3"}, 2, "--candidates needs a positive integer, got '-3'");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--top-k", "99999999999999999999"}, 2,
                 "--top-k must lie in [0, 2147483647], got '99999999999999999999'");
  expect_failure("llama", {"--model", llama, "--ids", "1", "--seed", "1e3"}, 2, "--seed needs a non-negative integer, got '1e3'");
  expect_failure("bert", {"--model", model_dir("bert-base-style"), "--ids", "2,3", "--mask-id", "x"}, 2,
                 "--mask-id needs a non-negative integer, got 'x'");
  expect_failure("llama", {"--model", llama, "--ids", "1,99999999999"}, 1, "--ids: '99999999999' is not a token id");
  expect_failure("train_bpe", {"--vocab-size", "12"}, 2, "--vocab-size must lie in [256, 10000000], got '12'");
  expect_failure("train_bpe", {"--show", "all"}, 2, "--show needs a non-negative integer, got 'all'");
  const Result ok = run(EIGENFORMER_TRAIN_BPE_PROGRAM, {"--vocab-size", "260", "--show", "2"});
  INFO(ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(ok.out.find("merge   1:") != std::string::npos);
  CHECK(ok.out.find("merge   2:") == std::string::npos);  // --show 2: merges 0 and 1
}

#endif  // the programs were built
