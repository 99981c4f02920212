#!/usr/bin/python3
"""Generates the gradient parity fixture of the layers: PyTorch autograd computes, eigenformer's
hand-written backward passes must agree.

Run with Debian's Python, which has python3-torch:
    /usr/bin/python3 tools/training/make_layer_grad_fixtures.py [--out tests/fixtures/training]

For each layer: random inputs and weights, a forward pass in torch, then a random upstream gradient dy
pushed through autograd (y.backward(dy)); the file stores the inputs, weights, dy and every gradient.
Everything is float64 from a fixed seed, shapes tiny (the file stays a few tens of KB). Names follow the
foundation's fixtures (tools/fixtures/make_core_fixtures.py):
    "<case>.params.<eigenformer parameter name>"   weights, loaded into the C++ layer by name
    "<case>.input.<name>"                          inputs and upstream gradients (dy, ...)
    "<case>.expected.<name>"                       what autograd computed: "dx", "grad.<parameter name>"
and the metadata maps "<case>" to a JSON object of the case's settings.

References (torch.nn where it has the layer, otherwise the published definition written in torch):
  nn.Linear, nn.Embedding (with padding_idx), nn.LayerNorm, F.relu, F.gelu (erf and tanh), F.silu;
  RMSNorm (Zhang & Sennrich 2019, T5/Llama: x·rsqrt(mean(x²)+eps)·γ), the gated FFNs (Shazeer 2020),
  RoPE in both layouts and T5's relative position buckets — the definitions tools/fixtures/make_core_fixtures.py
  already uses for the forward fixtures, imported from there.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import make_core_fixtures as ref  # noqa: E402  (Fixture writer, rms_norm, RoPE and T5 bucket definitions)

torch.set_default_dtype(torch.float64)


def randn(*shape, scale=1.0):
    return torch.randn(*shape) * scale


def put_grads(case, module_params):
    """module_params: eigenformer name -> torch leaf tensor (after backward)."""
    for name, p in module_params.items():
        case.param(name, p)
        case.expected("grad." + name, p.grad)


def make_linear(fx):
    for name, n, d_in, d_out, bias in (("linear", 5, 4, 3, True), ("linear_nobias", 3, 6, 2, False)):
        case = fx.case(name, {"rows": n, "in": d_in, "out": d_out, "bias": bias})
        lin = torch.nn.Linear(d_in, d_out, bias=bias)
        x = randn(n, d_in).requires_grad_()
        dy = randn(n, d_out)
        lin(x).backward(dy)
        params = {"weight": lin.weight}
        if bias:
            params["bias"] = lin.bias
        put_grads(case, params)
        case.input("x", x)
        case.input("dy", dy)
        case.expected("dx", x.grad)


def make_embeddings(fx):
    # A lookup with a padding row and repeated ids (rows collect twice; the padding row gets nothing).
    V, C, padding_idx = 7, 4, 1
    case = fx.case("embedding", {"count": V, "width": C, "padding_idx": padding_idx})
    emb = torch.nn.Embedding(V, C, padding_idx=padding_idx)
    with torch.no_grad():
        emb.weight.copy_(randn(V, C))  # the padding row non-zero too: its gradient is still zero
    ids = torch.tensor([[3, 1, 3, 0], [6, 6, 1, 2]])
    dy = randn(2, 4, C)
    emb(ids).backward(dy)
    put_grads(case, {"weight": emb.weight})
    case.input("ids", ids)
    case.input("dy", dy)

    # Tied input/output weights: the table is looked up and read as the LM head, logits = h Eᵀ (F.linear).
    case = fx.case("tied", {"count": V, "width": C, "padding_idx": padding_idx})
    emb = torch.nn.Embedding(V, C, padding_idx=padding_idx)
    with torch.no_grad():
        emb.weight.copy_(randn(V, C))
    h = randn(3, C).requires_grad_()
    dx_lookup = randn(2, 4, C)
    dlogits = randn(3, V)
    torch.autograd.backward([emb(ids), F.linear(h, emb.weight)], [dx_lookup, dlogits])
    put_grads(case, {"weight": emb.weight})
    case.input("ids", ids)
    case.input("dx_lookup", dx_lookup)
    case.input("h", h)
    case.input("dlogits", dlogits)
    case.expected("dh", h.grad)

    # Learned absolute positions (BERT): rows first .. first+T-1 added to every sequence.
    P, B, T, first = 9, 2, 5, 3
    case = fx.case("positions", {"count": P, "width": C, "first": first})
    pos = torch.nn.Embedding(P, C)
    x = randn(B, T, C).requires_grad_()
    dy = randn(B, T, C)
    (x + pos(torch.arange(first, first + T))[None]).backward(dy)
    put_grads(case, {"weight": pos.weight})
    case.input("x", x)
    case.input("dy", dy)
    case.expected("dx", x.grad)


def make_norms(fx):
    N, C = 6, 8
    for name, eps, bias in (("layer_norm", 1e-5, True), ("layer_norm_nobias", 1e-12, False)):
        case = fx.case(name, {"width": C, "eps": eps, "bias": bias})
        # nn.LayerNorm; the bias-free one is F.layer_norm with bias None (torch 1.13's nn.LayerNorm has no
        # bias switch).
        ln = torch.nn.LayerNorm(C, eps=eps)
        with torch.no_grad():
            ln.weight.copy_(1 + randn(C, scale=0.3))
            ln.bias.copy_(randn(C, scale=0.3))
        x = (randn(N, C) * 2 + 0.5).requires_grad_()
        dy = randn(N, C)
        y = ln(x) if bias else F.layer_norm(x, (C,), ln.weight, None, eps)
        y.backward(dy)
        params = {"weight": ln.weight}
        if bias:
            params["bias"] = ln.bias
        put_grads(case, params)
        case.input("x", x)
        case.input("dy", dy)
        case.expected("dx", x.grad)

    eps = 1e-6
    case = fx.case("rms_norm", {"width": C, "eps": eps})
    gamma = (1 + randn(C, scale=0.3)).requires_grad_()
    x = (randn(N, C) * 2 + 0.5).requires_grad_()
    dy = randn(N, C)
    ref.rms_norm(x, gamma, eps).backward(dy)
    put_grads(case, {"weight": gamma})
    case.input("x", x)
    case.input("dy", dy)
    case.expected("dx", x.grad)


def make_activations(fx):
    case = fx.case("activations", {})
    x = torch.linspace(-5, 5, 42).reshape(6, 7)
    x = x + 0.01 * torch.sign(x)  # no input at ReLU's kink
    dy = randn(6, 7)
    case.input("x", x)
    case.input("dy", dy)
    for name, f in (("relu", F.relu), ("gelu", F.gelu), ("gelu_tanh", lambda v: F.gelu(v, approximate="tanh")),
                    ("silu", F.silu)):
        xi = x.clone().requires_grad_()
        f(xi).backward(dy)
        case.expected("dx." + name, xi.grad)


def make_ffns(fx):
    N, C, Fh = 5, 4, 6
    for name, act, gated, bias in (("ffn_relu", "relu", False, True), ("ffn_gelu", "gelu", False, True),
                                   ("swiglu", "silu", True, False), ("geglu", "gelu_tanh", True, False)):
        case = fx.case(name, {"width": C, "hidden": Fh, "activation": act, "gated": gated, "bias": bias})
        f = {"relu": F.relu, "gelu": F.gelu, "silu": F.silu,
             "gelu_tanh": lambda v: F.gelu(v, approximate="tanh")}[act]
        up = torch.nn.Linear(C, Fh, bias=bias)
        down = torch.nn.Linear(Fh, C, bias=bias)
        gate = torch.nn.Linear(C, Fh, bias=bias) if gated else None
        x = randn(N, C).requires_grad_()
        dy = randn(N, C)
        hidden = f(gate(x)) * up(x) if gated else f(up(x))
        down(hidden).backward(dy)
        params = {}
        for prefix, lin in (("gate.", gate), ("up.", up), ("down.", down)):
            if lin is None:
                continue
            params[prefix + "weight"] = lin.weight
            if bias:
                params[prefix + "bias"] = lin.bias
        put_grads(case, params)
        case.input("x", x)
        case.input("dy", dy)
        case.expected("dx", x.grad)


def make_rope(fx):
    B, T, H, D, first, base = 2, 3, 2, 8, 5, 10000.0
    inv_freq = ref.rope_inv_freq(D, base)
    positions = torch.arange(first, first + T)
    for name, apply in (("rope_half_split", ref.apply_rope_half_split), ("rope_interleaved", ref.apply_rope_interleaved)):
        case = fx.case(name, {"batch": B, "positions": T, "heads": H, "head_dim": D, "first": first, "base": base})
        x = randn(B, T, H * D).requires_grad_()
        dy = randn(B, T, H * D)
        # (B, T, H·D) → (B, H, T, D), the references' layout, and back.
        y = apply(x.view(B, T, H, D).transpose(1, 2), positions, inv_freq).transpose(1, 2).reshape(B, T, H * D)
        y.backward(dy)
        case.input("x", x.reshape(B * T, H * D))
        case.input("dy", dy.reshape(B * T, H * D))
        case.expected("y", y.reshape(B * T, H * D))
        case.expected("dx", x.grad.reshape(B * T, H * D))


def make_relative_bias(fx):
    B, H = 2, 3
    for name, bidirectional, nb, md, T, S, first in (("t5_bias_encoder", True, 8, 12, 7, 7, 0),
                                                     ("t5_bias_decoder", False, 6, 10, 4, 9, 5)):
        case = fx.case(name, {"heads": H, "num_buckets": nb, "max_distance": md, "bidirectional": bidirectional,
                              "queries": T, "keys": S, "first": first, "batch": B})
        table = randn(nb, H).requires_grad_()
        bias = ref.t5_bias(table, T, S, bidirectional, nb, md, first=first)  # (1, H, T, S)
        dbias = randn(B, H, T, S)  # the scores' gradient of a batch: the broadcast bias sums it
        bias.expand(B, H, T, S).backward(dbias)
        put_grads(case, {"weight": table})
        case.input("dbias", dbias)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "fixtures", "training"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"torch {torch.__version__}")
    torch.manual_seed(20261201)
    fx = ref.Fixture()
    for make in (make_linear, make_embeddings, make_norms, make_activations, make_ffns, make_rope, make_relative_bias):
        make(fx)
    fx.save(os.path.join(args.out, "layer_grads.safetensors"))


if __name__ == "__main__":
    main()
