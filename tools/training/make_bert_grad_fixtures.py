#!/usr/bin/python3
"""Gradient fixtures for BERT: the loss and PyTorch autograd's gradient of every tensor of the tiny BERT
checkpoints in tests/fixtures/models, for the checks of examples/bert/bert.hpp's backward passes.

Run with Debian's Python (python3-torch; no `transformers` here):
    /usr/bin/python3 tools/training/make_bert_grad_fixtures.py [--models tests/fixtures/models]

The model is tools/fixtures/reference_bert.py (written from the paper and transformers' modeling_bert.py), run
in float64 on the checkpoint's own weights, in eval mode (no dropout), with two details of transformers that
decide gradients:
  - BertEmbeddings' word table is nn.Embedding(V, C, padding_idx=pad_token_id): lookups of the pad row send it no
    gradient. Here the lookup reads a copy of the table whose pad row is detached, while the tied decoder reads
    the table itself, so the pad row still gets the decoder's share — exactly what nn.Embedding + tying give.
  - Tied weights are one parameter: the MLM decoder *is* the word table (bert-base-uncased also stores a copy as
    cls.predictions.decoder.weight, which therefore gets the same total gradient), cls.predictions.decoder.bias
    *is* cls.predictions.bias.
Tensors the loss does not reach (the pooler and the NSP head under the MLM loss) get zeros, as
`p.grad if p.grad is not None else zeros` would. The position_ids buffer (integers) gets nothing.

For each checkpoint <name> with a loss (bert-base-style: masked LM; bert-classifier: classification; the bare
bert-model-f16 has no head, hence no loss) it writes <models>/<name>.grad.safetensors:
    input_ids (T) I64, labels (T, masked LM) or label (1, classifier) I64
    loss (1) F32, grad.<stored name> F32                 what `bert --grad` must write for that input
    batch.input_ids, batch.token_type_ids, batch.attention_mask (B, T) I64, batch.labels (B, T) or (B) I64
    batch.loss (1) F64, batch.grad.<stored name> F64     a padded batch with token types, through the library API
with metadata {"objective": "masked_lm" | "classification"}.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import reference_bert  # noqa: E402
import safetensors_io  # noqa: E402

torch.set_default_dtype(torch.float64)


def modern_name(stored):
    """The stored name → the unprefixed, modern name reference_bert reads."""
    name = stored[5:] if stored.startswith("bert.") else stored
    return name.replace("LayerNorm.gamma", "LayerNorm.weight").replace("LayerNorm.beta", "LayerNorm.bias")


def loss_and_grads(stored, config, ids, labels, objective, token_types=None, attention_mask=None):
    """Loss and {stored name: gradient} for one batch, float64."""
    pad = config.get("pad_token_id", 0)
    params = {}   # modern name → leaf (one leaf per parameter: tied names share it)
    owner = {}    # stored name → modern name of its parameter
    for name, t in stored.items():
        if name.endswith("position_ids"):
            continue
        modern = modern_name(name)
        if modern == "cls.predictions.decoder.weight":
            modern = "embeddings.word_embeddings.weight"  # tied: the decoder is the word table
        if modern == "cls.predictions.decoder.bias":
            modern = "cls.predictions.bias"               # tied: the decoder's bias is the head's bias
        owner[name] = modern
        if modern not in params:
            params[modern] = t.to(torch.float64).clone().requires_grad_(True)

    state = dict(params)
    word = params["embeddings.word_embeddings.weight"]
    is_pad = (torch.arange(word.shape[0]) == pad)[:, None]
    state["embeddings.word_embeddings.weight"] = torch.where(is_pad, word.detach(), word)  # padding_idx lookups
    if "cls.predictions.transform.dense.weight" in params:
        state["cls.predictions.decoder.weight"] = word  # the tied decoder reads the whole table

    out = reference_bert.forward(state, config, ids, token_types, attention_mask)
    if objective == "masked_lm":
        logits = out["mlm_logits"]
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    else:
        loss = F.cross_entropy(out["classifier_logits"], labels)
    loss.backward()
    grads = {}
    for name, modern in owner.items():
        p = params[modern]
        grads[name] = p.grad.clone() if p.grad is not None else torch.zeros_like(p)
    return loss.detach(), grads


CASES = {
    # BertForMaskedLM layout (prefix, gamma/beta, decoder copy, NSP head): the pad id 0 at a real position (its
    # row gets only the decoder's gradient), [MASK] = 4 at two labelled positions, one unmasked labelled position.
    "bert-base-style": dict(objective="masked_lm",
                            ids=[2, 17, 4, 33, 0, 9, 4, 12, 3],
                            labels=[-100, -100, 21, -100, -100, 9, 30, -100, -100],
                            batch_ids=[[2, 17, 4, 33, 0, 9, 4, 12, 3], [2, 40, 0, 4, 55, 3, 0, 0, 0]],
                            batch_lengths=[9, 6],
                            batch_labels=[[-100, 8, 21, -100, -100, -100, 30, -100, -100],
                                          [-100, -100, 0, 61, -100, -100, -100, -100, -100]]),
    # BertForSequenceClassification, 3 labels.
    "bert-classifier": dict(objective="classification",
                            ids=[2, 17, 33, 0, 5], label=2,
                            batch_ids=[[2, 7, 19, 0, 33, 3], [2, 11, 25, 3, 0, 0], [2, 38, 1, 14, 3, 0]],
                            batch_lengths=[6, 4, 5],
                            batch_labels=[2, 0, 1]),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=os.path.join(HERE, "..", "..", "tests", "fixtures", "models"))
    args = parser.parse_args()
    for name, case in CASES.items():
        folder = os.path.join(args.models, name)
        stored, _ = safetensors_io.load(os.path.join(folder, "model.safetensors"))
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
        objective = case["objective"]
        out = {}

        # 1) One sequence, as `bert --grad` computes it (no padding, token types 0).
        ids = torch.tensor(case["ids"])
        out["input_ids"] = ids
        if objective == "masked_lm":
            labels = torch.tensor(case["labels"])
            out["labels"] = labels
            loss, grads = loss_and_grads(stored, config, ids[None], labels[None], objective)
        else:
            labels = torch.tensor([case["label"]])
            out["label"] = labels
            loss, grads = loss_and_grads(stored, config, ids[None], labels, objective)
        out["loss"] = loss.reshape(1).to(torch.float32)
        for n, g in grads.items():
            out["grad." + n] = g.to(torch.float32)

        # 2) A padded batch with token types (sentence B from the middle on).
        batch_ids = torch.tensor(case["batch_ids"])
        B, T = batch_ids.shape
        mask = (torch.arange(T)[None] < torch.tensor(case["batch_lengths"])[:, None]).long()
        types = torch.zeros_like(batch_ids)
        types[:, T // 2:] = 1
        types = types * mask
        batch_labels = torch.tensor(case["batch_labels"])
        loss, grads = loss_and_grads(stored, config, batch_ids, batch_labels, objective, types, mask)
        out["batch.input_ids"] = batch_ids
        out["batch.token_type_ids"] = types
        out["batch.attention_mask"] = mask
        out["batch.labels"] = batch_labels
        out["batch.loss"] = loss.reshape(1)
        for n, g in grads.items():
            out["batch.grad." + n] = g

        path = os.path.join(args.models, name + ".grad.safetensors")
        safetensors_io.save(path, out, {"objective": objective})
        print(f"{path}: loss {out['loss'].item():.6f}, batch loss {out['batch.loss'].item():.6f}, "
              f"{len(grads)} gradients")


if __name__ == "__main__":
    main()
