#!/usr/bin/python3
"""Generates the parity fixtures of the training infrastructure: PyTorch computes, eigenformer must agree.

Run with Debian's Python, which has python3-torch:
    /usr/bin/python3 tools/training/make_training_fixtures.py [--out tests/fixtures/training]

Writes training.safetensors. Tensor names are "<case>.input.<name>" and "<case>.expected.<name>"; the
metadata maps "<case>" to a JSON object with the case's settings. Inputs are stored as float32 values
(exactly representable in float and double alike), so the float and the double computation in C++ start
from the same numbers; expected values are stored per dtype ("expected.f32.*" PyTorch in float32,
"expected.f64.*" PyTorch in float64).

References (none of them written by us):
  - torch.nn.functional.cross_entropy(ignore_index=-100, reduction="mean") and its autograd gradient;
  - torch.optim.AdamW and torch.optim.SGD (momentum, dampening, nesterov, weight decay), ten steps each on
    named tensors with fixed synthetic gradients, parameter groups built by the rule "no weight decay on
    1-D tensors and on names containing norm/embed/bias";
  - torch.nn.utils.clip_grad_norm_;
  - transformers' get_cosine_schedule_with_warmup, whose lambda is written out below (transformers is not
    installed here) and driven by torch.optim.lr_scheduler.LambdaLR, reading the optimizer's lr each step.
"""
import argparse
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
import safetensors_io  # noqa: E402


class Fixture:
    def __init__(self):
        self.tensors = {}
        self.metadata = {}

    def case(self, name, **settings):
        self.metadata[name] = json.dumps(settings, sort_keys=True)

    def add(self, name, t):
        assert name not in self.tensors, name
        self.tensors[name] = t.detach().clone().contiguous()


def f32_values(shape, generator, scale=1.0):
    """Random values that are exact in float32 (so float and double C++ read identical inputs)."""
    return (torch.randn(*shape, generator=generator, dtype=torch.float64) * scale).float()


def cross_entropy_case(fx, g):
    # N = 9 rows, V = 13 classes; one row of huge scores (a naive exp() would overflow float and double),
    # two ignored rows.
    N, V = 9, 13
    logits = f32_values((N, V), g, scale=3.0)
    logits[4] += 1000.0  # exp(1000) overflows double; log-sum-exp must subtract the max first
    labels = torch.tensor([3, -100, 0, 12, 7, -100, 5, 5, 1], dtype=torch.int64)
    fx.case("cross_entropy", ignore_index=-100, rows=N, classes=V)
    fx.add("cross_entropy.input.logits", logits)
    fx.add("cross_entropy.input.labels", labels)
    for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        z = logits.to(dtype).clone().requires_grad_(True)
        loss = F.cross_entropy(z, labels, ignore_index=-100, reduction="mean")
        loss.backward()
        fx.add(f"cross_entropy.expected.{tag}.loss", loss.detach().reshape(1).double())
        fx.add(f"cross_entropy.expected.{tag}.dlogits", z.grad.double())


def named_tensors(g):
    """A small named set: a matrix that decays, and a bias, a norm gain, an embedding that do not."""
    return {
        "layers.0.attn.q.weight": f32_values((4, 3), g),
        "layers.0.attn.q.bias": f32_values((4,), g),
        "layers.0.norm.weight": (1.0 + 0.1 * f32_values((4,), g)).float(),
        "embed_tokens.weight": f32_values((5, 4), g),
        "lm_head.weight": f32_values((5, 4), g),
    }


def decays(name, t):
    # The rule of training/optimizer.hpp, written again here: no decay on 1-D tensors, norms, embeddings, biases.
    return t.dim() > 1 and not any(w in name for w in ("norm", "embed", "bias"))


def synthetic_gradients(params, steps, g):
    """Fixed gradients per step; one tensor gets tiny gradients (1e-9) where eps's placement matters."""
    grads = []
    for k in range(steps):
        step = {}
        for name, t in params.items():
            scale = 1e-9 if name == "lm_head.weight" and k % 2 == 0 else 1.0 / (1 + k)
            step[name] = f32_values(t.shape, g, scale=scale)
        grads.append(step)
    return grads


def cosine_with_warmup_lambda(warmup, total, cycles=0.5):
    # transformers.optimization._get_cosine_schedule_with_warmup_lr_lambda, written from its documentation.
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        progress = float(step - warmup) / float(max(1, total - warmup))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(cycles) * 2.0 * progress)))
    return f


def optimizer_case(fx, g, case, make_optimizer, settings, steps=10, schedule=None):
    params0 = named_tensors(g)
    grads = synthetic_gradients(params0, steps, g)
    fx.case(case, steps=steps, names=list(params0.keys()), **settings)
    for name, t in params0.items():
        fx.add(f"{case}.input.param.{name}", t)
        for k in range(steps):
            fx.add(f"{case}.input.grad.{k}.{name}", grads[k][name])
    for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
        params = {n: torch.nn.Parameter(t.to(dtype).clone()) for n, t in params0.items()}
        decay = [p for n, p in params.items() if decays(n, p)]
        no_decay = [p for n, p in params.items() if not decays(n, p)]
        opt = make_optimizer([{"params": decay}, {"params": no_decay, "weight_decay": 0.0}])
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule) if schedule else None
        lrs = []
        for k in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            for n, p in params.items():
                p.grad = grads[k][n].to(dtype).clone()
            opt.step()
            if sched:
                sched.step()
            for n, p in params.items():
                fx.add(f"{case}.expected.{tag}.step.{k}.{n}", p.detach().double())
        fx.add(f"{case}.expected.{tag}.lr", torch.tensor(lrs, dtype=torch.float64))


def clip_case(fx, g):
    params = named_tensors(g)
    grads = {n: f32_values(t.shape, g, scale=0.7) for n, t in params.items()}
    for max_norm in (1.0, 100.0):
        case = f"clip_{int(max_norm)}"
        fx.case(case, max_norm=max_norm, names=list(params.keys()))
        for n in params:
            fx.add(f"{case}.input.grad.{n}", grads[n])
        for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
            ps = [torch.nn.Parameter(params[n].to(dtype).clone()) for n in params]
            for p, n in zip(ps, params):
                p.grad = grads[n].to(dtype).clone()
            total = torch.nn.utils.clip_grad_norm_(ps, max_norm)
            fx.add(f"{case}.expected.{tag}.norm", total.detach().reshape(1).double())
            for p, n in zip(ps, params):
                fx.add(f"{case}.expected.{tag}.grad.{n}", p.grad.double())


def schedule_case(fx):
    warmup, total, steps, base = 5, 20, 25, 3e-4
    fx.case("schedule", warmup=warmup, total=total, steps=steps, base_lr=base)
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=base)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, cosine_with_warmup_lambda(warmup, total))
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        p.grad = torch.zeros_like(p)
        opt.step()
        sched.step()
    fx.add("schedule.expected.lr", torch.tensor(lrs, dtype=torch.float64))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                  "tests", "fixtures", "training"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    g = torch.Generator().manual_seed(20261201)
    fx = Fixture()
    cross_entropy_case(fx, g)
    optimizer_case(fx, g, "adamw",
                   lambda groups: torch.optim.AdamW(groups, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
                   dict(lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1, warmup=3, total=10),
                   schedule=cosine_with_warmup_lambda(3, 10))
    optimizer_case(fx, g, "adamw_constant",
                   lambda groups: torch.optim.AdamW(groups, lr=3e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.5),
                   dict(lr=3e-3, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.5))
    optimizer_case(fx, g, "sgd",
                   lambda groups: torch.optim.SGD(groups, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01),
                   dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01, nesterov=False))
    optimizer_case(fx, g, "sgd_nesterov",
                   lambda groups: torch.optim.SGD(groups, lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.02),
                   dict(lr=0.05, momentum=0.8, dampening=0.0, weight_decay=0.02, nesterov=True))
    clip_case(fx, g)
    schedule_case(fx)
    path = os.path.join(args.out, "training.safetensors")
    safetensors_io.save(path, fx.tensors, fx.metadata)
    print(f"wrote {path}: {len(fx.tensors)} tensors, {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
