// t5 — a T5 checkpoint reads a source and scores the next target token.
//
// What it teaches: an encoder-decoder reads the whole source once (the encoder, bidirectional), then writes the
// target one token at a time (the decoder, causal), each decoder block looking back at the source through
// cross-attention. T5 adds no position vectors: a learned bias per distance bucket, shared by the layers of a
// stack, enters every self-attention's scores. The model is examples/t5/t5.hpp.
//
// Run on a generated checkpoint (tests/fixtures/models, made by tools/fixtures/make_model_fixtures.py):
//     ./build/release/examples/t5/t5 --model tests/fixtures/models/flan-t5-style --ids 7,20,33,1 --decoder-ids 0
// On a real one (see docs/models.md):
//     ./build/release/examples/t5/t5 --model ~/models/flan-t5-small --text "translate English to German: Hello"
// Compare with another implementation:
//     ... --ids 13959,1566,12,2968,10,8774,1 --decoder-ids 0 --dump t5.safetensors
#include "common/cli.hpp"
#include "t5/t5.hpp"

#include <cstdio>
#include <string>

using namespace eigenformer;

namespace {

const char* const kHelp = R"(usage: t5 --model DIR (--ids LIST | --text TEXT) [--decoder-ids LIST] [--top-k N] [--dump FILE] [--double]

Runs a T5 checkpoint (Hugging Face layout, model_type "t5": t5-small/base/large, t5-v1_1, flan-t5, mt5) on one
source and prints the most likely next target token after the decoder input.

  --model DIR         the checkpoint folder: config.json and model.safetensors (or a sharded index); tokenizer
                      files in it are used for --text and to print tokens
  --ids LIST          the encoder input as token ids, comma-separated (end it with </s>, id 1, as T5 does)
  --text TEXT         the encoder input as text, through the folder's tokenizer (which appends </s>)
  --decoder-ids LIST  the decoder input so far (default: decoder_start_token_id from config.json, usually 0)
  --top-k N           how many candidates to print (default 10)
  --dump FILE         also write, in F32 safetensors: logits (T, V) over the decoder positions;
                      encoder_hidden_states.<i> (S, C) and decoder_hidden_states.<i> (T, C), i = 0 the
                      embeddings to N after the stack's final norm; encoder_attentions.<i> (H, S, S),
                      decoder_attentions.<i> (H, T, T) and cross_attentions.<i> (H, T, S) for each layer
  --double            compute in double instead of float
  --help              this text

Errors print one line on stderr and exit with code 1; a wrong command line exits with code 2.
)";

template <class T>
int run(const cli::Arguments& args) {
  // 1) The checkpoint and its tokenizer (if it ships one).
  const std::string folder = args.value("--model");
  cli::check_input_given(args);  // a usage mistake is reported before a large model is loaded
  if (args.has("--decoder-ids")) cli::parse_ids(args.value("--decoder-ids"), "--decoder-ids");
  T5<T> model = T5<T>::from_pretrained(folder);
  const std::optional<tokenizers::Tokenizer> tokenizer = cli::open_tokenizer(folder);
  const T5Config& c = model.config();
  std::printf("model   %s\n        t5: %ld encoder and %ld decoder layers, %ld heads of width %ld, width %ld, FFN %s %ld, "
              "%s head, vocabulary %ld, %.3fM parameters\n",
              folder.c_str(), static_cast<long>(c.num_layers), static_cast<long>(c.num_decoder_layers),
              static_cast<long>(c.num_heads), static_cast<long>(c.d_kv), static_cast<long>(c.d_model),
              c.feed_forward_proj.c_str(), static_cast<long>(c.d_ff), c.tie_word_embeddings ? "tied" : "untied",
              static_cast<long>(c.vocab_size), static_cast<double>(count_parameters(model)) / 1e6);

  // 2) Source and target so far.
  const TokenSequence source = cli::input_ids(args, tokenizer);
  cli::check_vocabulary(source, c.vocab_size, args.has("--ids") ? "--ids" : "--text");
  const TokenSequence target = args.has("--decoder-ids") ? cli::parse_ids(args.value("--decoder-ids"), "--decoder-ids")
                                                         : TokenSequence{*c.special_tokens.decoder_start};
  cli::check_vocabulary(target, c.vocab_size, "--decoder-ids");
  std::printf("source  %zu tokens: %s\ntarget  %zu tokens: %s\n", source.size(), cli::join_ids(source).c_str(),
              target.size(), cli::join_ids(target).c_str());

  // 3) Encoder and decoder in one forward pass.
  Matrix<T> logits;  // (T, V)
  Capture<T> encoder, decoder;
  T5Options<T> options;
  if (args.has("--dump")) {
    options.encoder_capture = &encoder;
    options.decoder_capture = &decoder;
  }
  model.forward(cli::as_batch(source), cli::as_batch(target), logits, options);

  // 4) The next target token: the last row of logits.
  std::printf("next target token after decoder position %zu:\n", target.size() - 1);
  cli::print_candidates(cli::top_k(logits.row(logits.rows() - 1), args.positive("--top-k", 10)), tokenizer);

  if (args.has("--dump")) {
    SafeTensorsWriter out;
    add_rows<T>(out, "logits", logits);
    add_capture(out, "encoder_", encoder);
    add_capture(out, "decoder_", decoder);  // also cross_attentions.<i>
    out.write(args.value("--dump"));
    std::printf("dump    %s: logits, %zu + %zu hidden states, %zu + %zu + %zu attention maps\n",
                args.value("--dump").c_str(), encoder.hidden_states.size(), decoder.hidden_states.size(),
                encoder.attentions.size(), decoder.attentions.size(), decoder.cross_attentions.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<cli::Option> options = cli::common_options();
  options.push_back({"--decoder-ids", true});
  return cli::run_program(argc, argv, "t5", kHelp, options, &run<float>, &run<double>);
}
