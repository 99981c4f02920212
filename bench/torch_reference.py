#!/usr/bin/env python3
"""bench/torch_reference.py — the PyTorch figures of docs/performance.md, measured again on this machine.

The same work as bench/bench_blocks.cpp and bench/bench_decode.cpp, done by PyTorch (Debian's python3-torch,
with OpenBLAS: see docs/performance.md for the conditions that change the figures by 2x):

    encoder  nn.TransformerEncoderLayer 768/12/3072 (BERT-base: GELU, post-norm, eps 1e-12), T = 128, B = 1 and 8,
             in eval mode under no_grad (PyTorch's fused fast path); median milliseconds per call
    stack    nn.TransformerEncoder of 12 such layers (a BERT-base-shaped encoder without embeddings), T = 128,
             B = 1 and 8, eval mode under no_grad (each layer on the fused fast path); median milliseconds per call
             (bench_blocks' BM_EncoderStack)
    decode   a Llama-style decoder in eager PyTorch with a KV cache (RMSNorm, RoPE, SwiGLU, tied embeddings) at the
             TinyStories shapes stories15M and stories110M: a 16-token prompt, then 256 greedy tokens; tokens/s
    prefill  a 512-token prompt at the stories110M shape as one forward, and token by token; tokens/s of each
             (bench_decode's BM_Prompt)
    gemm     OpenBLAS sgemm through torch.matmul at the encoder block's shapes; GFLOP/s
    train    one training step in eager PyTorch — zero_grad, forward, causal-LM cross-entropy, backward,
             clip_grad_norm_, torch.optim.AdamW — of the model bench/bench_training.cpp trains (embedding,
             pre-norm RMSNorm/RoPE/SwiGLU blocks, final norm, tied head) at its two shapes, poet and
             stories15M; tokens/s. With --alternate BENCH_BINARY it runs build/release/bench/bench_training
             between its own measurements (same shape, same threads) and prints the ratio of each pair, so a
             shared machine's load falls on both sides alike.

Usage:  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE \\
            /usr/bin/python3 bench/torch_reference.py encoder|stack|decode|prefill|gemm|train [--threads N]
            [--alternate build/release/bench/bench_training] [--rounds N]
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


def encoder_layer():
    """BERT-base's encoder layer as PyTorch has it: 768/12/3072, GELU, post-norm, eps 1e-12, eval mode."""
    return torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu", layer_norm_eps=1e-12,
                                            batch_first=True).eval()


def encoder_stack(layers=12):
    """layers encoder layers in a row (nn.TransformerEncoder copies the layer; no final norm, as BERT), eval mode."""
    return torch.nn.TransformerEncoder(encoder_layer(), layers, enable_nested_tensor=False).eval()


def encoder_seconds(module, batch, budget=3.0):
    """Median seconds of one forward of module over a (batch, 128, 768) input under no_grad, warmed up."""
    x = torch.randn(batch, 128, 768)
    with torch.no_grad():
        return median_seconds(lambda: module(x), budget=budget)


def encoder():
    layer = encoder_layer()
    for batch in (1, 8):
        s = encoder_seconds(layer, batch)
        print(f"encoder block 768/12/3072 B={batch} T=128 threads={THREADS}: {s * 1e3:.1f} ms")


def stack():
    model = encoder_stack()
    for batch in (1, 8):
        s = encoder_seconds(model, batch, budget=6.0)
        print(f"encoder stack 12 x 768/12/3072 B={batch} T=128 threads={THREADS}: {s * 1e3:.1f} ms")


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


def prefill():
    """A 512-token prompt at the stories110M shape: one forward over all of it (T = 512, attention materialised as
    PyTorch eager does), and token by token (512 forwards of one token with the KV cache). bench_decode's
    BM_Prompt does the same work."""
    m = decode_model(768, 12, 12, 2048, context=512)
    prompt = torch.randint(0, 32000, (512,))

    def stepwise():
        for t in range(512):
            forward(m, prompt[t:t + 1], t)

    with torch.no_grad():
        batched_s = median_seconds(lambda: forward(m, prompt, 0), warmup=1, budget=6.0, at_least=3)
        stepwise_s = median_seconds(stepwise, warmup=1, budget=10.0, at_least=3)
    print(f"prefill stories110M 512 tokens threads={THREADS}: batched {512 / batched_s:.0f} tok/s "
          f"({batched_s * 1e3:.0f} ms), token by token {512 / stepwise_s:.0f} tok/s ({stepwise_s * 1e3:.0f} ms)")


def gemm():
    # The encoder block's products at B=1, T=128: q/k/v/o (128x768 by 768x768), FFN up and down.
    for m, k, n in ((128, 768, 768), (128, 768, 3072), (128, 3072, 768), (1024, 768, 3072)):
        a, b = torch.randn(m, k), torch.randn(k, n)
        s = median_seconds(lambda: a @ b)
        print(f"sgemm {m}x{k} by {k}x{n} threads={THREADS}: {2 * m * k * n / s / 1e9:.0f} GFLOP/s")


TRAIN_SHAPES = {  # name: (vocab, width, layers, heads, ffn, B, T, eps) as bench/bench_training.cpp
    "poet": (3000, 128, 4, 4, 384, 16, 64, 1e-6),
    "stories15M": (32000, 288, 6, 6, 768, 4, 256, 1e-5),
}


def train_model(vocab, dim, layers, heads, ffn, eps):
    p = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * 0.02)  # noqa: E731
    m = {"emb": p(vocab, dim), "norm": torch.nn.Parameter(torch.ones(dim)), "layers": [], "eps": eps,
         "shape": (dim, heads, dim // heads)}
    for _ in range(layers):
        m["layers"].append({"wq": p(dim, dim), "wk": p(dim, dim), "wv": p(dim, dim), "wo": p(dim, dim),
                            "w1": p(ffn, dim), "w3": p(ffn, dim), "w2": p(dim, ffn),
                            "n1": torch.nn.Parameter(torch.ones(dim)), "n2": torch.nn.Parameter(torch.ones(dim))})
    return m


def train_forward(m, ids, cos, sin, mask):
    """ids (B, T) -> logits (B, T, V), the whole sequence at once (training: no KV cache)."""
    dim, H, D = m["shape"]
    B, T = ids.shape
    eps = m["eps"]
    x = m["emb"][ids]
    for layer in m["layers"]:
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * layer["n1"]
        q = rope((h @ layer["wq"].T).view(B * T, H, D), cos, sin).view(B, T, H, D).transpose(1, 2)
        k = rope((h @ layer["wk"].T).view(B * T, H, D), cos, sin).view(B, T, H, D).transpose(1, 2)
        v = (h @ layer["wv"].T).view(B, T, H, D).transpose(1, 2)
        weights = (q @ k.transpose(-1, -2) / D ** 0.5 + mask).softmax(-1)
        x = x + (weights @ v).transpose(1, 2).reshape(B, T, dim) @ layer["wo"].T
        h = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * layer["n2"]
        x = x + (torch.nn.functional.silu(h @ layer["w1"].T) * (h @ layer["w3"].T)) @ layer["w2"].T
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * m["norm"]
    return x @ m["emb"].T


def torch_train_step_seconds(name, budget):
    vocab, dim, layers, heads, ffn, B, T, eps = TRAIN_SHAPES[name]
    m = train_model(vocab, dim, layers, heads, ffn, eps)
    D = dim // heads
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, D, 2).float() / D))
    angles = torch.outer(torch.arange(T).float(), inv_freq)
    cos, sin = angles.cos().repeat(B, 1), angles.sin().repeat(B, 1)  # (B*T, D/2): position t of every sequence
    mask = torch.full((T, T), float("-inf")).triu(1)
    params = [m["emb"], m["norm"]] + [t for layer in m["layers"] for t in layer.values()]
    decay = [t for t in params if t.dim() > 1 and t is not m["emb"]]
    no_decay = [t for t in params if not (t.dim() > 1 and t is not m["emb"])]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=1e-4)
    ids = (torch.arange(B * T) * 7919 % vocab).view(B, T)

    def step():
        optimizer.zero_grad()
        logits = train_forward(m, ids, cos, sin, mask)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    # Wall time, and this process's CPU time per step: on a loaded machine the CPU time (1 thread) says what the
    # step costs, whatever share of a core the scheduler gave it.
    step()  # warm-up: the first step allocates the gradients and AdamW's moments
    walls, cpus = [], []
    deadline = time.perf_counter() + budget
    while time.perf_counter() < deadline or len(walls) < 3:
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus), B * T


def eigenformer_train_step(binary, name, budget):
    """Runs bench_training for one shape at THREADS threads: (wall seconds, CPU seconds) per step from its JSON
    report. Threads are pinned only when there are two (pinned to a core another process holds, one thread
    cannot move away, and a shared machine's figures collapse)."""
    import json
    import subprocess
    env = dict(os.environ, OMP_PROC_BIND="true", OMP_PLACES="cores") if THREADS > 1 else dict(os.environ)
    arg = {"poet": 0, "stories15M": 1}[name]
    out = subprocess.run([binary, f"--benchmark_filter=BM_TrainStep/stories15M:{arg}/threads:{THREADS}/",
                          f"--benchmark_min_time={budget}", "--benchmark_format=json"], env=env, check=True,
                         capture_output=True, text=True).stdout
    runs = json.loads(out)["benchmarks"]
    if not runs:
        raise SystemExit(f"{binary} ran no benchmark for {name} at {THREADS} thread(s)")
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[runs[0]["time_unit"]]
    return runs[0]["real_time"] * scale, runs[0]["cpu_time"] * scale


def train():
    binary = sys.argv[sys.argv.index("--alternate") + 1] if "--alternate" in sys.argv else None
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else (3 if binary else 1)
    for name in TRAIN_SHAPES:
        ratios, cpu_ratios = [], []
        for r in range(rounds):
            wall, cpu, tokens = torch_train_step_seconds(name, budget=3.0)
            line = (f"train {name} threads={THREADS} round {r + 1}: PyTorch {tokens / wall:.0f} tok/s "
                    f"({wall * 1e3:.0f} ms/step wall, {cpu * 1e3:.0f} ms CPU)")
            if binary:
                our_wall, our_cpu = eigenformer_train_step(binary, name, 3.0)
                ratios.append(wall / our_wall)  # tokens/s ratio: eigenformer / PyTorch
                cpu_ratios.append(cpu / our_cpu)
                line += (f"  eigenformer {tokens / our_wall:.0f} tok/s ({our_wall * 1e3:.0f} ms wall, "
                         f"{our_cpu * 1e3:.0f} ms CPU)  speed ratio {ratios[-1]:.2f} (CPU-time ratio {cpu_ratios[-1]:.2f})")
            print(line, flush=True)
        if ratios:
            print(f"train {name} threads={THREADS}: eigenformer / PyTorch tokens/s = {statistics.median(ratios):.2f} "
                  f"(median of {len(ratios)} alternating rounds; range {min(ratios):.2f}-{max(ratios):.2f}); "
                  f"by CPU time per step {statistics.median(cpu_ratios):.2f} "
                  f"(range {min(cpu_ratios):.2f}-{max(cpu_ratios):.2f})", flush=True)


if __name__ == "__main__":
    modes = {"encoder": encoder, "stack": stack, "decode": decode, "prefill": prefill, "gemm": gemm, "train": train}
    if len(sys.argv) < 2 or sys.argv[1] not in modes:
        sys.exit(__doc__)
    print(f"torch {torch.__version__}, {THREADS} thread(s)")
    modes[sys.argv[1]]()
