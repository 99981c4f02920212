#!/usr/bin/python3
"""Generates the gradient parity fixture of attention, its blocks and stacks: PyTorch autograd computes,
eigenformer's hand-written backward passes (attention/attention.hpp, attention/multi_head_attention.hpp,
blocks/*.hpp) must agree.

Run with Debian's Python, which has python3-torch:
    /usr/bin/python3 tools/training/make_attention_grad_fixtures.py [--out tests/fixtures/training]

For each case: random inputs and weights, a forward pass in torch, then a random upstream gradient dy
pushed through autograd (y.backward(dy)); the file stores the inputs, weights, dy and every gradient
(float64, fixed seed, tiny shapes). Names as in the other fixtures:
    "<case>.params.<eigenformer parameter name>"   weights
    "<case>.input.<name>"                          inputs and the upstream gradient dy
    "<case>.expected.<name>"                       autograd's: "dx", "dmemory", "grad.<parameter name>"

References: torch.nn.MultiheadAttention, TransformerEncoderLayer and TransformerDecoderLayer; the Llama
block (RMSNorm, RoPE half-split, GQA, SwiGLU) and T5's attention with its relative bias from the published
definitions already written for the forward fixtures (tools/fixtures/make_core_fixtures.py), imported.
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import make_core_fixtures as ref  # noqa: E402

torch.set_default_dtype(torch.float64)


def mha_params(prefix, mha):
    """eigenformer name -> (parameter, gradient) of an nn.MultiheadAttention after backward."""
    out = {}
    wq, wk, wv = mha.in_proj_weight.chunk(3) if mha._qkv_same_embed_dim else (
        mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
    gq, gk, gv = mha.in_proj_weight.grad.chunk(3) if mha._qkv_same_embed_dim else (
        mha.q_proj_weight.grad, mha.k_proj_weight.grad, mha.v_proj_weight.grad)
    for name, w, g in (("q", wq, gq), ("k", wk, gk), ("v", wv, gv), ("o", mha.out_proj.weight, mha.out_proj.weight.grad)):
        out[f"{prefix}{name}.weight"] = (w, g)
    if mha.in_proj_bias is not None:
        for name, b, g in zip("qkv", mha.in_proj_bias.chunk(3), mha.in_proj_bias.grad.chunk(3)):
            out[f"{prefix}{name}.bias"] = (b, g)
        out[f"{prefix}o.bias"] = (mha.out_proj.bias, mha.out_proj.bias.grad)
    return out


def put(case, params, inputs, expected):
    for name, (p, g) in params.items():
        case.param(name, p)
        case.expected("grad." + name, g)
    for name, t in inputs.items():
        case.input(name, t)
    for name, t in expected.items():
        case.expected(name, t)


def make_mha(fx):
    B, T, S, C, H = 2, 4, 5, 8, 2
    # Self-attention, causal, with key padding: nn.MultiheadAttention.
    mha = ref.randomize(torch.nn.MultiheadAttention(C, H, dropout=0.0, bias=True, batch_first=True))
    x = torch.randn(B, T, C, requires_grad=True)
    lengths = [4, 3]
    y, _ = mha(x, x, x, key_padding_mask=ref.padding_mask(lengths, T), attn_mask=ref.causal_mask(T))
    dy = torch.randn(B, T, C)
    y.backward(dy)
    case = fx.case("mha_causal_padding", {"width": C, "heads": H, "lengths": lengths})
    put(case, mha_params("", mha), {"x": x, "dy": dy, "lengths": torch.tensor(lengths)}, {"dx": x.grad})

    # Cross-attention, memory of another width, memory padding.
    Ckv = 6
    mha = ref.randomize(torch.nn.MultiheadAttention(C, H, dropout=0.0, bias=True, batch_first=True, kdim=Ckv, vdim=Ckv))
    x = torch.randn(B, T, C, requires_grad=True)
    memory = torch.randn(B, S, Ckv, requires_grad=True)
    lengths = [5, 2]
    y, _ = mha(x, memory, memory, key_padding_mask=ref.padding_mask(lengths, S))
    dy = torch.randn(B, T, C)
    y.backward(dy)
    case = fx.case("mha_cross", {"width": C, "heads": H, "kv_width": Ckv, "lengths": lengths})
    put(case, mha_params("", mha), {"x": x, "memory": memory, "dy": dy, "lengths": torch.tensor(lengths)},
        {"dx": x.grad, "dmemory": memory.grad})


def layer_params(prefix, pairs):
    return {f"{prefix}{ours}.{kind}": (getattr(m, kind), getattr(m, kind).grad) for ours, m in pairs
            for kind in ("weight", "bias") if getattr(m, kind, None) is not None}


def make_torch_layers(fx):
    B, T, S, C, H, FF = 2, 4, 5, 8, 2, 12
    # BERT-like encoder block: post-norm LayerNorm, GELU, padding.
    layer = ref.randomize(torch.nn.TransformerEncoderLayer(C, H, FF, dropout=0.0, activation="gelu", batch_first=True,
                                                           norm_first=False))
    layer.train()  # the plain path, not the fused inference kernel
    x = torch.randn(B, T, C, requires_grad=True)
    lengths = [4, 2]
    y = layer(x, src_key_padding_mask=ref.padding_mask(lengths, T))
    dy = torch.randn(B, T, C)
    y.backward(dy)
    params = mha_params("attn.", layer.self_attn)
    params.update(layer_params("", (("ffn.up", layer.linear1), ("ffn.down", layer.linear2), ("attn_norm", layer.norm1),
                                    ("ffn_norm", layer.norm2))))
    case = fx.case("encoder_layer", {"width": C, "heads": H, "ffn": FF, "lengths": lengths, "eps": 1e-5})
    put(case, params, {"x": x, "dy": dy, "lengths": torch.tensor(lengths)}, {"dx": x.grad})

    # Cross-decoder block: pre-norm LayerNorm, ReLU, causal self-attention, memory padding.
    layer = ref.randomize(torch.nn.TransformerDecoderLayer(C, H, FF, dropout=0.0, activation="relu", batch_first=True,
                                                           norm_first=True))
    layer.train()
    x = torch.randn(B, T, C, requires_grad=True)
    memory = torch.randn(B, S, C, requires_grad=True)
    lengths = [5, 3]
    y = layer(x, memory, tgt_mask=ref.causal_mask(T), memory_key_padding_mask=ref.padding_mask(lengths, S))
    dy = torch.randn(B, T, C)
    y.backward(dy)
    params = mha_params("self_attn.", layer.self_attn)
    params.update(mha_params("cross_attn.", layer.multihead_attn))
    params.update(layer_params("", (("ffn.up", layer.linear1), ("ffn.down", layer.linear2),
                                    ("self_attn_norm", layer.norm1), ("cross_attn_norm", layer.norm2),
                                    ("ffn_norm", layer.norm3))))
    case = fx.case("decoder_layer", {"width": C, "heads": H, "ffn": FF, "memory_lengths": lengths, "eps": 1e-5})
    put(case, params, {"x": x, "memory": memory, "dy": dy, "memory_lengths": torch.tensor(lengths)},
        {"dx": x.grad, "dmemory": memory.grad})


def leaf(*shape, scale=0.5):
    return (torch.randn(*shape) * scale).requires_grad_()


def make_llama_block(fx):
    """Pre-norm RMSNorm, RoPE (half-split), GQA, SwiGLU: the Llama decoder block (make_core_fixtures' definitions)."""
    B, T, C, H, Hkv, D, FF, eps, theta = 2, 5, 8, 4, 2, 2, 10, 1e-6, 10000.0
    w = {"attn.q.weight": leaf(H * D, C), "attn.k.weight": leaf(Hkv * D, C), "attn.v.weight": leaf(Hkv * D, C),
         "attn.o.weight": leaf(C, H * D), "attn_norm.weight": leaf(C), "ffn.gate.weight": leaf(FF, C),
         "ffn.up.weight": leaf(FF, C), "ffn.down.weight": leaf(C, FF), "ffn_norm.weight": leaf(C)}
    x = torch.randn(B, T, C, requires_grad=True)
    inv_freq = ref.rope_inv_freq(D, theta)
    a, _ = ref.gqa_attention(ref.rms_norm(x, w["attn_norm.weight"], eps), w["attn.q.weight"], w["attn.k.weight"],
                             w["attn.v.weight"], w["attn.o.weight"], H, Hkv, inv_freq, torch.arange(T))
    h = x + a
    y = h + ref.swiglu(ref.rms_norm(h, w["ffn_norm.weight"], eps), w["ffn.gate.weight"], w["ffn.up.weight"],
                       w["ffn.down.weight"])
    dy = torch.randn(B, T, C)
    y.backward(dy)
    case = fx.case("llama_block", {"width": C, "heads": H, "kv_heads": Hkv, "ffn": FF, "eps": eps, "rope_theta": theta})
    put(case, {n: (p, p.grad) for n, p in w.items()}, {"x": x, "dy": dy}, {"dx": x.grad})


def make_t5_stack(fx):
    """A 2-layer T5 encoder stack: pre-norm RMSNorm, ReLU FFN, no score scaling, one relative bias table
    shared by both layers, a final norm (make_core_fixtures' t5_attention, t5_bias, rms_norm)."""
    B, T, C, H, FF, L, eps, nb, md = 2, 5, 8, 2, 12, 2, 1e-6, 8, 16
    w = {}
    for l in range(L):
        p = f"layers.{l}."
        for n in "qkvo":
            w[f"{p}attn.{n}.weight"] = leaf(C, C)
        w[f"{p}attn_norm.weight"] = leaf(C)
        w[f"{p}ffn.up.weight"] = leaf(FF, C)
        w[f"{p}ffn.down.weight"] = leaf(C, FF)
        w[f"{p}ffn_norm.weight"] = leaf(C)
    w["final_norm.weight"] = leaf(C)
    w["relative_bias.weight"] = leaf(nb, H)
    x = torch.randn(B, T, C, requires_grad=True)
    lengths = [5, 3]
    bias = ref.t5_bias(w["relative_bias.weight"], T, T, True, nb, md)
    h = x
    for l in range(L):
        p = f"layers.{l}."
        n = ref.rms_norm(h, w[p + "attn_norm.weight"], eps)
        a, _ = ref.t5_attention(n, n, {k: w[f"{p}attn.{k}.weight"] for k in "qkvo"}, H, bias, key_lengths=lengths)
        h = h + a
        n = ref.rms_norm(h, w[p + "ffn_norm.weight"], eps)
        h = h + F.relu(n @ w[p + "ffn.up.weight"].T) @ w[p + "ffn.down.weight"].T
    y = ref.rms_norm(h, w["final_norm.weight"], eps)
    dy = torch.randn(B, T, C)
    y.backward(dy)
    case = fx.case("t5_encoder", {"width": C, "heads": H, "ffn": FF, "layers": L, "eps": eps, "num_buckets": nb,
                                  "max_distance": md, "lengths": lengths})
    put(case, {n: (p, p.grad) for n, p in w.items()}, {"x": x, "dy": dy, "lengths": torch.tensor(lengths)},
        {"dx": x.grad})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "fixtures", "training"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    print(f"torch {torch.__version__}")
    torch.manual_seed(20261202)
    fx = ref.Fixture()
    for make in (make_mha, make_torch_layers, make_llama_block, make_t5_stack):
        make(fx)
    fx.save(os.path.join(args.out, "attention_grads.safetensors"))


if __name__ == "__main__":
    main()
