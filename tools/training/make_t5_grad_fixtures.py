#!/usr/bin/python3
"""Generates the T5 gradient parity fixtures: PyTorch autograd computes the loss and every parameter gradient of
the committed tiny T5 checkpoints; eigenformer's hand-written backward (examples/t5/t5.hpp, T5::backward) and the
`t5 --grad` program must agree.

Run with Debian's Python, which has python3-torch (there is no `transformers` package here):
    /usr/bin/python3 tools/training/make_t5_grad_fixtures.py [--models tests/fixtures/models]

The model is the hand-written reference tools/fixtures/reference_t5.py (written from the paper and from Hugging
Face's modeling_t5.py, independently of eigenformer), run in float64 on the checkpoint's stored weights. The loss
is what transformers' T5ForConditionalGeneration computes from `labels`:
    decoder_input_ids = labels shifted right, decoder_start_token_id in front, -100 replaced by pad_token_id
    loss = F.cross_entropy(logits, labels, ignore_index=-100)          (the mean over the scored labels)
The shared embedding is *one* tensor that requires grad, read by the encoder's lookup, the decoder's lookup and,
when tied, the LM head (after the d_model^-0.5 rescale): autograd sums the three uses.

For each checkpoint <name> it writes tests/fixtures/models/<name>.grad.safetensors (F32, like `t5 --grad`):
    input_ids (S) I64, labels (T) I64       one sequence: what `t5 --grad` is given as --ids and --labels
    loss (1)                                its loss
    grad.<file name>                        the gradient of every tensor the checkpoint stores, under each name
                                            the file stores it under (the shared table under every spelling
                                            present, each carrying the total); the stale cross-attention bias
                                            old files carry is read by nothing and gets no entry (autograd
                                            leaves its .grad None)
    batch.input_ids (2, S) I64, batch.attention_mask (2, S) I64, batch.labels (2, T) I64
                                            two sequences, the second with 3 padded source positions and its
                                            last 2 labels -100
    batch.loss (1), batch.grad.<file name>  the mean over both sequences' scored labels, and its gradients
                                            (the shared table under its first stored name only)
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import reference_t5  # noqa: E402
import safetensors_io  # noqa: E402

torch.set_default_dtype(torch.float64)
SEED = 20261201
CHECKPOINTS = ["t5-small-style", "flan-t5-style"]
TABLE_NAMES = ["shared.weight", "encoder.embed_tokens.weight", "decoder.embed_tokens.weight"]
STALE = "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"


def shift_right(labels, config):
    """transformers' T5 _shift_right: decoder_start_token_id in front, -100 → pad_token_id."""
    start, pad = config.get("decoder_start_token_id", 0), config.get("pad_token_id", 0)
    shifted = torch.cat([torch.tensor([start]), labels[:-1]])
    return shifted.masked_fill(shifted == -100, pad)


class Model:
    """The checkpoint's tensors as float64 leaves: one tensor for the shared table, one per other parameter."""

    def __init__(self, folder):
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            self.config = json.load(f)
        stored, _ = safetensors_io.load(os.path.join(folder, "model.safetensors"))
        self.stored_names = list(stored)
        self.table_names = [n for n in TABLE_NAMES if n in stored]
        if self.config.get("tie_word_embeddings", True) and "lm_head.weight" in stored:
            self.table_names.append("lm_head.weight")  # a tied file's copy of the head: the same tensor
        table = stored[self.table_names[0]].to(torch.float64)
        self.state = {"shared.weight": table.clone().requires_grad_(True)}
        for name, t in stored.items():
            if name in self.table_names or name == STALE:
                continue
            self.state[name] = t.to(torch.float64).clone().requires_grad_(True)

    def zero(self):
        for t in self.state.values():
            t.grad = None

    def gradients(self, all_spellings):
        """File name → gradient, for every tensor the checkpoint stores (but the stale bias)."""
        out = {}
        for name in self.stored_names:
            if name == STALE:
                continue
            if name in self.table_names:
                if all_spellings or name == self.table_names[0]:
                    out[name] = self.state["shared.weight"].grad
            else:
                out[name] = self.state[name].grad
        return out


def sequence_loss_sum(model, source, labels, mask=None):
    """Σ over the scored labels of −log p(label): one sequence through the reference forward."""
    out = reference_t5.forward(model.state, model.config, source, shift_right(labels, model.config), mask)
    return F.cross_entropy(out["logits"], labels, ignore_index=-100, reduction="sum"), int((labels != -100).sum())


def make(models_dir, name, seed):
    model = Model(os.path.join(models_dir, name))
    V = model.config["vocab_size"]
    gen = torch.Generator().manual_seed(seed)
    S, T = 8, 6
    result = {}

    # 1) One sequence, as `t5 --grad --ids ... --labels ...` takes it: a -100 inside the labels (not scored, and
    #    a pad in the decoder input after the shift), </s> (1) closing both.
    source = torch.randint(2, V, (S,), generator=gen)
    source[-1] = 1
    labels = torch.randint(2, V, (T,), generator=gen)
    labels[2] = -100
    labels[-1] = 1
    model.zero()
    total, counted = sequence_loss_sum(model, source, labels)
    loss = total / counted
    loss.backward()
    result["input_ids"] = source
    result["labels"] = labels
    result["loss"] = loss.detach().reshape(1)
    for n, g in model.gradients(all_spellings=True).items():
        result["grad." + n] = g

    # 2) A batch of two: the second source has 3 padding positions (attention_mask 0, pad id 0), the second
    #    target 2 ignored labels at its end (padding, as a collator writes it). The mean runs over all scored labels.
    sources = torch.randint(2, V, (2, S), generator=gen)
    sources[0, -1] = 1
    sources[1, S - 4] = 1
    sources[1, S - 3:] = 0
    mask = torch.ones(2, S, dtype=torch.long)
    mask[1, S - 3:] = 0
    batch_labels = torch.randint(2, V, (2, T), generator=gen)
    batch_labels[0, -1] = 1
    batch_labels[1, T - 3] = 1
    batch_labels[1, T - 2:] = -100
    model.zero()
    totals, counts = zip(*(sequence_loss_sum(model, sources[b], batch_labels[b], mask[b]) for b in range(2)))
    batch_loss = sum(totals) / sum(counts)
    batch_loss.backward()
    result["batch.input_ids"] = sources
    result["batch.attention_mask"] = mask
    result["batch.labels"] = batch_labels
    result["batch.loss"] = batch_loss.detach().reshape(1)
    for n, g in model.gradients(all_spellings=False).items():
        result["batch.grad." + n] = g

    out = {}
    for n, t in result.items():
        t = t.detach()
        out[n] = t.to(torch.float32).contiguous() if t.is_floating_point() else t.to(torch.int64).contiguous()
    path = os.path.join(models_dir, name + ".grad.safetensors")
    safetensors_io.save(path, out, {"format": "pt", "family": "t5", "loss": "mean cross-entropy, ignore_index -100"})
    print(f"wrote {path}: {len(out)} tensors, {os.path.getsize(path)} bytes; loss {loss.item():.6f}, "
          f"batch loss {batch_loss.item():.6f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=os.path.join(HERE, "..", "..", "tests", "fixtures", "models"))
    args = parser.parse_args()
    for k, name in enumerate(CHECKPOINTS):
        make(args.models, name, SEED + k)


if __name__ == "__main__":
    main()
