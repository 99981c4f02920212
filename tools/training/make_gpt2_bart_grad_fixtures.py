#!/usr/bin/python3
"""Generates the gradient parity fixtures of the tiny GPT-2 and BART checkpoints: PyTorch autograd computes the
loss transformers computes and the gradient of every stored tensor; eigenformer's hand-written backward passes
(examples/gpt2/gpt2.hpp and examples/bart/bart.hpp: loss_and_gradients, and `gpt2 --grad`, `bart --grad`) must
agree.

Run with Debian's Python, which has python3-torch:
    /usr/bin/python3 tools/training/make_gpt2_bart_grad_fixtures.py [--models tests/fixtures/models]

The checkpoints are those of tools/fixtures/make_gpt2_bart_fixtures.py; the forwards are the references
tools/fixtures/reference_gpt2.py and reference_bart.py (from the published definitions), computing with the
stored weights as leaf tensors in float64:

  GPT-2 (GPT2LMHeadModel with labels = input_ids):
      loss = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100)
    The reference multiplies by the stored Conv1D weights (in, out) and splits the fused c_attn after the product,
    so each gradient comes out in the stored layout, under the stored name (bare "h.0..." names in the original
    gpt2 file's layout). The causal-mask buffers some files carry (h.<i>.attn.bias, .masked_bias) are not
    parameters: no entry.
  BART (BartForConditionalGeneration with labels):
      decoder_input_ids = shift_tokens_right(labels, pad_token_id, decoder_start_token_id)
      loss = F.cross_entropy(logits, labels, ignore_index=-100)
    The shared table is ONE parameter however many names the file stores it under (model.shared.weight,
    model.encoder/decoder.embed_tokens.weight, and lm_head.weight when tied): each name gets its total gradient.
    Its pad row gets none from the lookups (nn.Embedding's padding_idx; reference_bart.embed). final_logits_bias is
    a buffer (register_buffer): no gradient, no entry.

Each fixture, tests/fixtures/models/<checkpoint>.grad.safetensors (float64):
    input_ids (T or S)  labels (T)  (int64: what to pass as --ids and --labels)
    loss (1)
    grad.<stored name>   for every stored parameter
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import reference_bart  # noqa: E402
import reference_gpt2  # noqa: E402
import safetensors_io  # noqa: E402
from make_llama_grad_fixtures import fixture_tensors, read_checkpoint  # noqa: E402

# GPT-2: the positions (of the labels) set to -100; None = the ids themselves.
GPT2_CASES = [
    dict(name="gpt2-style", ignored=None),        # GPT2LMHeadModel names, tied, F32
    dict(name="gpt2-bare-f16", ignored=[3, 6]),   # the original file's bare names and mask buffers, F16
]
# BART: the labels; -100 becomes the pad id in the decoder input (so its lookup sends the pad row nothing).
BART_CASES = [
    dict(name="bart-large-style", labels=[61, 49, -100, 28, 41, 2]),   # tied, the table stored under four names
    dict(name="bart-scaled-bf16", labels=[6, 15, 12, 28, 2]),          # untied, scale_embedding, BF16
]

SHARED_SPELLINGS = ["model.shared.weight", "model.encoder.embed_tokens.weight", "model.decoder.embed_tokens.weight"]


def is_gpt2_buffer(name):
    return name.endswith(".attn.bias") or name.endswith(".attn.masked_bias")


def save(models_dir, name, family, out, loss):
    path = os.path.join(models_dir, name + ".grad.safetensors")
    safetensors_io.save(path, out, {"family": family, "generator": "tools/training/make_gpt2_bart_grad_fixtures.py"})
    print(f"{path}: loss {loss.item():.9f}, {sum(1 for k in out if k.startswith('grad.'))} gradients")


def make_gpt2(models_dir, case):
    config, stored = read_checkpoint(os.path.join(models_dir, case["name"]))
    reference, _ = safetensors_io.load(os.path.join(models_dir, case["name"] + ".reference.safetensors"))
    ids = reference["input_ids"].to(torch.int64)
    labels = ids.clone()
    if case["ignored"]:
        labels[case["ignored"]] = -100
    state = {n: t.to(torch.float64).requires_grad_(not is_gpt2_buffer(n)) for n, t in stored.items()}
    logits = reference_gpt2.forward(state, config, ids)["logits"]  # (T, V)
    loss = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100)
    loss.backward()
    save(models_dir, case["name"], "gpt2", fixture_tensors(ids, labels, loss, state), loss)


def make_bart(models_dir, case):
    config, stored = read_checkpoint(os.path.join(models_dir, case["name"]))
    reference, _ = safetensors_io.load(os.path.join(models_dir, case["name"] + ".reference.safetensors"))
    source = reference["input_ids"].to(torch.int64)
    labels = torch.tensor(case["labels"], dtype=torch.int64)
    pad, start = config["pad_token_id"], config["decoder_start_token_id"]
    # transformers' shift_tokens_right.
    decoder_input = torch.full_like(labels, start)
    decoder_input[1:] = labels[:-1]
    decoder_input = decoder_input.masked_fill(decoder_input == -100, pad)

    tied = config.get("tie_word_embeddings", True)
    shared_names = [n for n in SHARED_SPELLINGS + (["lm_head.weight"] if tied else []) if n in stored]
    table = stored[shared_names[0]].to(torch.float64).requires_grad_(True)   # one leaf for every spelling
    state = {}
    for n, t in stored.items():
        if n in shared_names:
            state[n] = table
        else:
            state[n] = t.to(torch.float64).requires_grad_(n != "final_logits_bias")  # a buffer in transformers
    logits = reference_bart.forward(state, config, source, decoder_input)["logits"]  # (T, V)
    loss = F.cross_entropy(logits, labels, ignore_index=-100)
    loss.backward()
    save(models_dir, case["name"], "bart", fixture_tensors(source, labels, loss, state), loss)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=os.path.join(HERE, "..", "..", "tests", "fixtures", "models"))
    args = parser.parse_args()
    for case in GPT2_CASES:
        make_gpt2(args.models, case)
    for case in BART_CASES:
        make_bart(args.models, case)


if __name__ == "__main__":
    main()
