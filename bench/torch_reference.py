#!/usr/bin/env python3
"""bench/torch_reference.py — the PyTorch figures of docs/performance.md, measured again on this machine.

The same work as bench/bench_blocks.cpp and bench/bench_decode.cpp, done by PyTorch (Debian's python3-torch,
with OpenBLAS: see docs/performance.md for the conditions that change the figures by 2x):

    encoder  nn.TransformerEncoderLayer 768/12/3072 (BERT-base: GELU, post-norm, eps 1e-12), T = 128, B = 1 and 8,
             in eval mode under no_grad (PyTorch's fused fast path); median milliseconds per call
    decode   a Llama-style decoder in eager PyTorch with a KV cache (RMSNorm, RoPE, SwiGLU, tied embeddings) at the
             TinyStories shapes stories15M and stories110M: a 16-token prompt, then 256 greedy tokens; tokens/s
    gemm     OpenBLAS sgemm through torch.matmul at the encoder block's shapes; GFLOP/s

Usage:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE \\
            /usr/bin/python3 bench/torch_reference.py encoder|decode|gemm [--threads N]
"""
import os
import sys

THREADS = int(sys.argv[sys.argv.index("--threads") + 1]) if "--threads" in sys.argv else 1
# OpenBLAS reads its thread count when it loads, before torch.set_num_threads can say anything.
os.environ["OPENBLAS_NUM_THREADS"] = str(THREADS)
os.environ["OMP_NUM_THREADS"] = str(THREADS)

import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(THREADS)
torch.manual_seed(0)


def median_seconds(fn, warmup=3, budget=3.0, at_least=5):
    """Median wall time of fn() after a warm-up (a cold first call can double the figure)."""
    for _ in range(warmup):
        fn()
    runs = []
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline or len(runs) < at_least:
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def encoder():
    layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu", layer_norm_eps=1e-12,
                                             batch_first=True).eval()
    for batch in (1, 8):
        x = torch.randn(batch, 128, 768)
        with torch.no_grad():
            s = median_seconds(lambda: layer(x))
        print(f"encoder block 768/12/3072 B={batch} T=128 threads={THREADS}: {s * 1e3:.1f} ms")


def decode_model(dim, layers, heads, ffn, vocab=32000, context=512):
    D = dim // heads
    w = lambda *shape: torch.randn(*shape) * 0.02  # noqa: E731  (speed does not depend on the values)
    model = {"emb": w(vocab, dim), "norm": torch.ones(dim), "layers": []}
    for _ in range(layers):
        model["layers"].append({"wq": w(dim, dim), "wk": w(dim, dim), "wv": w(dim, dim), "wo": w(dim, dim),
                                "w1": w(ffn, dim), "w3": w(ffn, dim), "w2": w(dim, ffn),
                                "n1": torch.ones(dim), "n2": torch.ones(dim),
                                "k": torch.zeros(context, heads, D), "v": torch.zeros(context, heads, D)})
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, D, 2).float() / D))
    angles = torch.outer(torch.arange(context).float(), inv_freq)
    model["cos"], model["sin"] = angles.cos(), angles.sin()
    model["shape"] = (dim, heads, D)
    return model


def rms(x, weight):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * weight


def rope(x, cos, sin):  # x (T, H, D), half-split layout as Hugging Face's Llama
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    c, s = cos[:, None, :], sin[:, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1)


def forward(m, tokens, pos):
    """tokens (T,) at positions pos..pos+T-1 -> logits of the last position (V,); fills the KV cache."""
    dim, H, D = m["shape"]
    T = tokens.shape[0]
    x = m["emb"][tokens]
    cos, sin = m["cos"][pos:pos + T], m["sin"][pos:pos + T]
    mask = torch.full((T, pos + T), float("-inf")).triu(pos + 1)
    for layer in m["layers"]:
        h = rms(x, layer["n1"])
        q = rope((h @ layer["wq"].T).view(T, H, D), cos, sin)
        layer["k"][pos:pos + T] = rope((h @ layer["wk"].T).view(T, H, D), cos, sin)
        layer["v"][pos:pos + T] = (h @ layer["wv"].T).view(T, H, D)
        k, v = layer["k"][:pos + T], layer["v"][:pos + T]
        scores = torch.einsum("thd,shd->hts", q, k) / D ** 0.5 + mask
        context = torch.einsum("hts,shd->thd", scores.softmax(-1), v).reshape(T, dim)
        x = x + context @ layer["wo"].T
        h = rms(x, layer["n2"])
        x = x + (torch.nn.functional.silu(h @ layer["w1"].T) * (h @ layer["w3"].T)) @ layer["w2"].T
    return rms(x[-1], m["norm"]) @ m["emb"].T


def decode():
    shapes = {"stories15M": (288, 6, 6, 768), "stories110M": (768, 12, 12, 2048)}
    for name, (dim, layers, heads, ffn) in shapes.items():
        m = decode_model(dim, layers, heads, ffn)
        prompt = torch.randint(0, 32000, (16,))

        def generate():
            logits = forward(m, prompt, 0)
            for step in range(256):
                token = logits.argmax().reshape(1)
                logits = forward(m, token, 16 + step)

        with torch.no_grad():
            s = median_seconds(generate, warmup=1, budget=10.0, at_least=3)
        print(f"decode {name} threads={THREADS}: {256 / s:.1f} tok/s ({s / 256 * 1e3:.2f} ms/step)")


def gemm():
    # The encoder block's products at B=1, T=128: q/k/v/o (128x768 by 768x768), FFN up and down.
    for m, k, n in ((128, 768, 768), (128, 768, 3072), (128, 3072, 768), (1024, 768, 3072)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        s = median_seconds(lambda: a @ b)
        print(f"sgemm {m}x{k} by {k}x{n} threads={THREADS}: {2 * m * k * n / s / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    modes = {"encoder": encoder, "decode": decode, "gemm": gemm}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    print(f"torch {torch.__version__}, {THREADS} thread(s)")
    modes[sys.argv[1]]()
