// eigenformer/tokenizers.hpp — everything about turning text into token ids and back.
//
//     #include "eigenformer/tokenizers.hpp"
//     using namespace eigenformer::tokenizers;
//     Tokenizer tok = load_tokenizer("path/to/tokenizer.json");      // or a checkpoint folder
//     TokenSequence ids = tok.encode("Hello world");
//
// Read docs/tokenizers.md beside the headers, in this order: utf8, unicode, pretokenize, bpe, wordpiece,
// unigram (with precompiled), special_tokens, pipeline, tokenizer, load, stream_decoder, bpe_trainer.
#pragma once

#include "eigenformer/tokenizers/base64.hpp"
#include "eigenformer/tokenizers/bpe.hpp"
#include "eigenformer/tokenizers/bpe_trainer.hpp"
#include "eigenformer/tokenizers/load.hpp"
#include "eigenformer/tokenizers/model.hpp"
#include "eigenformer/tokenizers/pipeline.hpp"
#include "eigenformer/tokenizers/precompiled.hpp"
#include "eigenformer/tokenizers/pretokenize.hpp"
#include "eigenformer/tokenizers/regex.hpp"
#include "eigenformer/tokenizers/special_tokens.hpp"
#include "eigenformer/tokenizers/stream_decoder.hpp"
#include "eigenformer/tokenizers/tokenizer.hpp"
#include "eigenformer/tokenizers/unicode.hpp"
#include "eigenformer/tokenizers/unigram.hpp"
#include "eigenformer/tokenizers/utf8.hpp"
#include "eigenformer/tokenizers/vocabulary.hpp"
#include "eigenformer/tokenizers/wordlevel.hpp"
#include "eigenformer/tokenizers/wordpiece.hpp"
