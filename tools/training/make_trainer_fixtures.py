#!/usr/bin/python3
"""Generates the parity fixture of the training loop (include/eigenformer/training/trainer.hpp): ten steps of a
small causal LM trained by PyTorch — torch.optim.AdamW, clip_grad_norm_, transformers' warmup + cosine
schedule, gradient accumulation over two micro-batches — whose loss trace, learning rates, gradient norms and
final weights eigenformer's Trainer must reproduce (tests/training/test_trainer.cpp).

Run with Debian's Python, which has python3-torch:
    /usr/bin/python3 tools/training/make_trainer_fixtures.py [--out tests/fixtures/training]

What tools/training/make_training_fixtures.py already checks is not repeated: there the optimizers, the
clipping and the schedule each run on synthetic gradients; here they run together inside the loop, on the
gradients of a real model and loss, in the loop's order (schedule → accumulate → clip → step).

The model (tests/training/tiny_lm.hpp builds the same from library blocks): token embedding E (V, C) →
2 Llama blocks (pre-norm RMSNorm, RoPE half-split, GQA 4 query / 2 key-value heads, SwiGLU) → final RMSNorm →
logits = h Eᵀ (tied head). Causal-LM loss: logits[:, :-1] against labels[:, 1:], labels = ids with some
positions set to -100 (so micro-batches count different numbers of tokens and the accumulation must weight
them by n_k / n). Everything in float64. The Llama pieces are make_core_fixtures' published definitions.

File trainer.safetensors, case "trainer_lm" (settings in the metadata):
    trainer_lm.params.<name>            initial weights (eigenformer names)
    trainer_lm.input.ids, .labels       (steps, K, B, T) int64: micro-batch k of step s
    trainer_lm.expected.loss, .lr, .grad_norm   (steps) per step (the loss before the update)
    trainer_lm.expected.final.<name>    the weights after the last step
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import make_core_fixtures as ref  # noqa: E402

torch.set_default_dtype(torch.float64)

V, C, H, HKV, FF, L = 13, 8, 4, 2, 12, 2
B, T, K, STEPS = 2, 6, 2, 10
EPS, THETA = 1e-6, 10000.0
LR, WARMUP, CLIP, WD, BETAS, ADAM_EPS = 2e-2, 3, 0.5, 0.1, (0.9, 0.999), 1e-8


def weights(g):
    w = {"embed_tokens.weight": torch.randn(V, C, generator=g) * 0.5}
    for l in range(L):
        p = f"layers.{l}."
        D = C // H
        w[p + "attn.q.weight"] = torch.randn(H * D, C, generator=g) * 0.4
        w[p + "attn.k.weight"] = torch.randn(HKV * D, C, generator=g) * 0.4
        w[p + "attn.v.weight"] = torch.randn(HKV * D, C, generator=g) * 0.4
        w[p + "attn.o.weight"] = torch.randn(C, H * D, generator=g) * 0.4
        w[p + "attn_norm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
        w[p + "ffn.gate.weight"] = torch.randn(FF, C, generator=g) * 0.4
        w[p + "ffn.up.weight"] = torch.randn(FF, C, generator=g) * 0.4
        w[p + "ffn.down.weight"] = torch.randn(C, FF, generator=g) * 0.4
        w[p + "ffn_norm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    w["final_norm.weight"] = 1 + 0.1 * torch.randn(C, generator=g)
    return {n: t.float().double().requires_grad_() for n, t in w.items()}  # float32-exact: both C++ dtypes read the same


def forward(w, ids):
    inv_freq = ref.rope_inv_freq(C // H, THETA)
    h = w["embed_tokens.weight"][ids]
    for l in range(L):
        p = f"layers.{l}."
        a, _ = ref.gqa_attention(ref.rms_norm(h, w[p + "attn_norm.weight"], EPS), w[p + "attn.q.weight"],
                                 w[p + "attn.k.weight"], w[p + "attn.v.weight"], w[p + "attn.o.weight"], H, HKV,
                                 inv_freq, torch.arange(ids.shape[1]))
        h = h + a
        h = h + ref.swiglu(ref.rms_norm(h, w[p + "ffn_norm.weight"], EPS), w[p + "ffn.gate.weight"],
                           w[p + "ffn.up.weight"], w[p + "ffn.down.weight"])
    h = ref.rms_norm(h, w["final_norm.weight"], EPS)
    return h @ w["embed_tokens.weight"].T  # (B, T, V)


def cosine_with_warmup_lambda(warmup, total, cycles=0.5):
    """transformers.get_cosine_schedule_with_warmup's lr_lambda, written out (transformers is not installed)."""
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * progress)))
    return f


def decays(name, t):
    """The trainer's default rule: no decay on 1-D tensors and on names holding norm, embed or bias."""
    return t.dim() > 1 and not any(word in name for word in ("norm", "embed", "bias"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "fixtures", "training"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"torch {torch.__version__}")
    g = torch.Generator().manual_seed(20261201)
    w = weights(g)
    ids = torch.randint(0, V, (STEPS, K, B, T), generator=g)
    labels = ids.clone()
    labels[torch.rand(STEPS, K, B, T, generator=g) < 0.25] = -100

    fx = ref.Fixture()
    case = fx.case("trainer_lm", {"vocab": V, "width": C, "heads": H, "kv_heads": HKV, "ffn": FF, "layers": L,
                                  "norm_eps": EPS, "rope_theta": THETA, "batch": B, "positions": T, "accumulate": K,
                                  "steps": STEPS, "lr": LR, "warmup": WARMUP, "clip": CLIP, "weight_decay": WD,
                                  "betas": list(BETAS), "eps": ADAM_EPS})
    for n, t in w.items():
        case.param(n, t.detach().clone())  # a copy: the optimizer updates t in place
    case.input("ids", ids)
    case.input("labels", labels)

    groups = [{"params": [t for n, t in w.items() if decays(n, t)], "weight_decay": WD},
              {"params": [t for n, t in w.items() if not decays(n, t)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=LR, betas=BETAS, eps=ADAM_EPS)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup_lambda(WARMUP, STEPS))
    losses, lrs, norms = [], [], []
    for s in range(STEPS):
        optimizer.zero_grad()
        counts = [int((labels[s, k, :, 1:] != -100).sum()) for k in range(K)]
        n = sum(counts)
        total = 0.0
        for k in range(K):
            logits = forward(w, ids[s, k])
            mean = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[s, k, :, 1:].reshape(-1), ignore_index=-100)
            (mean * counts[k] / n).backward()  # token-weighted: the gradient of the mean over all n tokens
            total += mean.item() * counts[k] / n
        norm = torch.nn.utils.clip_grad_norm_(list(w.values()), CLIP)
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        losses.append(total)
        norms.append(float(norm))
        print(f"step {s + 1}: loss {total:.6f} lr {lrs[-1]:.6f} grad norm {norms[-1]:.6f} (tokens {counts})")
    case.expected("loss", torch.tensor(losses))
    case.expected("lr", torch.tensor(lrs))
    case.expected("grad_norm", torch.tensor(norms))
    for n, t in w.items():
        case.expected("final." + n, t)
    fx.save(os.path.join(args.out, "trainer.safetensors"))


if __name__ == "__main__":
    main()
