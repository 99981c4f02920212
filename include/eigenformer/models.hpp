// eigenformer/models.hpp — the family-independent machinery for real checkpoints (models/).
//
//   config.hpp          config.json with typed errors naming the file and the field
//   checkpoint.hpp      a Hugging Face checkpoint folder (single or sharded safetensors): open, load, save
//   stored_layout.hpp   tensors a file stores fused (GPT-2's c_attn) or transposed (GPT-2's Conv1D)
//   name_table.hpp      our parameter names ↔ Hugging Face's, as a table with "{i}" for the layer
//   language_model.hpp  CausalLM and Seq2SeqLM: what generation needs from a model
//   dump.hpp            the --dump format: logits, hidden_states.<i>, attentions.<i> in F32
//   gradient_dump.hpp   the --grad format: loss and grad.<name> of every stored tensor, in F32
//
// The families themselves (BERT, Llama, T5, the 2017 Transformer) are assembled in examples/<family>/.
#pragma once

#include "eigenformer/models/config.hpp"
#include "eigenformer/models/checkpoint.hpp"
#include "eigenformer/models/stored_layout.hpp"
#include "eigenformer/models/name_table.hpp"
#include "eigenformer/models/language_model.hpp"
#include "eigenformer/models/dump.hpp"
#include "eigenformer/models/gradient_dump.hpp"
