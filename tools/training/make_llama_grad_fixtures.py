#!/usr/bin/python3
"""Generates the gradient parity fixtures of whole Llama checkpoints: PyTorch autograd computes the causal-LM
loss and the gradient of every stored tensor; eigenformer's hand-written backward (examples/llama/llama.hpp,
Llama::loss_and_gradients, and `llama --grad`) must agree.

Run with Debian's Python, which has python3-torch:
    /usr/bin/python3 tools/training/make_llama_grad_fixtures.py [--models tests/fixtures/models]

For each tiny checkpoint of tests/fixtures/models (written by tools/fixtures/make_model_fixtures.py), it reads
the stored weights (F32, F16 or BF16, sharded or not) into float64 leaf tensors, runs the hand-written reference
forward (tools/fixtures/reference_llama.py, or reference_mistral.py for qwen2, qwen3 and mistral — from the
published definitions), computes the loss exactly as
transformers' LlamaForCausalLM does with `labels`:

    loss = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100)      (mean over the counted positions)

calls loss.backward() and writes tests/fixtures/models/<checkpoint>.grad.safetensors (float64):
    input_ids (T)  labels (T)  (int64: what to pass as --ids and --labels)
    loss (1)
    grad.<stored name>   for every stored parameter (the rotary_emb.inv_freq buffers some files carry are not
                         parameters: they have no gradient and no entry). A tied checkpoint stores the embedding
                         once (no lm_head.weight): its gradient is the sum of its two uses, as autograd gives it.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import reference_llama  # noqa: E402
import reference_mistral  # noqa: E402
import safetensors_io  # noqa: E402

# The checkpoints, and the labels each fixture uses: None = the ids (transformers' labels=input_ids); otherwise
# the positions (of the labels, i.e. targets of the position before) set to -100.
CASES = [
    dict(name="llama-gqa-sharded", ignored=None),
    dict(name="llama-mqa-f16", ignored=[2, 5]),
    dict(name="llama-tied-bf16", ignored=None),
    # The relatives the llama program loads (their fixtures: tools/fixtures/make_qwen_fixtures.py and
    # make_mistral_fixtures.py): q/k/v biases (qwen2), a sliding window in some layers (qwen2 with
    # use_sliding_window) or all (mistral), the per-head q/k RMSNorm (qwen3; with attention biases and BF16).
    dict(name="qwen2-gqa", ignored=None),
    dict(name="qwen2-swa", ignored=[4]),
    dict(name="qwen3-tied", ignored=None),
    dict(name="qwen3-bias-bf16", ignored=[1]),
    dict(name="mistral-swa", ignored=[3, 7]),
]


def reference_forward(state, config, ids):
    """The reference forward of the checkpoint's model_type: reference_llama for llama; reference_mistral for
    qwen2, qwen3 and mistral (Llama's blocks with q/k/v biases, QK-Norm and each layer's sliding window, as the
    transformers config classes decide them)."""
    if config["model_type"] == "llama":
        return reference_llama.forward(state, config, ids)
    return reference_mistral.forward(state, config, ids)


def read_checkpoint(folder):
    """config.json and every stored tensor of a checkpoint folder (one file or an index with shards)."""
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    index = os.path.join(folder, "model.safetensors.index.json")
    files = ["model.safetensors"]
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    tensors = {}
    for name in files:
        loaded, _ = safetensors_io.load(os.path.join(folder, name))
        tensors.update(loaded)
    return config, tensors


def fixture_tensors(ids, labels, loss, state):
    """What a .grad.safetensors fixture holds: the inputs, the loss (after loss.backward()) and grad.<stored name>
    of every leaf that requires a gradient (buffers do not), in the state's (file's) order."""
    out = {"input_ids": ids, "labels": labels, "loss": loss.detach().reshape(1)}
    for name, t in state.items():
        if t.requires_grad:
            out["grad." + name] = t.grad
    return out


def make(models_dir, case):
    folder = os.path.join(models_dir, case["name"])
    config, stored = read_checkpoint(folder)
    reference, _ = safetensors_io.load(os.path.join(models_dir, case["name"] + ".reference.safetensors"))
    ids = reference["input_ids"].to(torch.int64)
    labels = ids.clone()
    if case["ignored"]:
        labels[case["ignored"]] = -100

    # Leaves in float64 holding the stored (already rounded) values; buffers are not parameters.
    state = {n: t.to(torch.float64).requires_grad_(not n.endswith(".rotary_emb.inv_freq")) for n, t in stored.items()}
    logits = reference_forward(state, config, ids)["logits"]  # (T, V)
    loss = F.cross_entropy(logits[:-1], labels[1:], ignore_index=-100)
    loss.backward()

    out = fixture_tensors(ids, labels, loss, state)
    path = os.path.join(models_dir, case["name"] + ".grad.safetensors")
    safetensors_io.save(path, out, {"family": config["model_type"], "generator": "tools/training/make_llama_grad_fixtures.py"})
    print(f"{path}: loss {loss.item():.9f}, {len(out) - 3} gradients")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=os.path.join(HERE, "..", "..", "tests", "fixtures", "models"))
    args = parser.parse_args()
    for case in CASES:
        make(args.models, case)


if __name__ == "__main__":
    main()
