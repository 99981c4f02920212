#!/usr/bin/env python3
"""tools/bench_vs_torch.py — eigenformer beside PyTorch, same shapes, same threads, alternating, one table.

Cases: Llama-style decoding with a KV cache at the shapes of llama2.c's TinyStories models (random weights:
speed does not depend on their values), a 16-token prompt then 256 greedy tokens, fp32:
    stories15M    dim 288, 6 layers, 6 heads, FFN 768, vocab 32000, tied embeddings
    stories110M   dim 768, 12 layers, 12 heads, FFN 2048, vocab 32000, tied embeddings
each at 1 and 2 threads. eigenformer's side is bench/bench_decode.cpp (BM_Generate, Google Benchmark); PyTorch's
is bench/torch_reference.py's eager decoder (the same loop, in PyTorch).

Fairness (docs/performance.md explains each):
  - PyTorch runs in its own process with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed (a preset Haswell core
    type halves OpenBLAS on an AVX-512 CPU), OMP_WAIT_POLICY=PASSIVE, and OPENBLAS_NUM_THREADS, OMP_NUM_THREADS
    and torch.set_num_threads all at the thread count. The script prints the BLAS that process loaded: Debian's
    python3-torch calls whatever libblas.so.3 the system selects, and without OpenBLAS that is the reference
    BLAS (~40x slower). It stops unless the loaded BLAS is OpenBLAS (--any-blas to go on anyway).
  - eigenformer runs with EIGENFORMER_THREADS at the thread count and the same OMP_WAIT_POLICY=PASSIVE;
    threads are pinned (OMP_PROC_BIND=true OMP_PLACES=cores) only with --pin: decoding meets the other thread
    at every product, and on a shared machine a pinned or spinning thread waits for a core that is busy
    elsewhere.
  - Each side warms up (a first short run) before it is timed; the two alternate, round after round, so that
    a shared machine's load falls on both alike. The table gives the median tokens/s of each side over the
    rounds and the ratio of the medians, with the load average before and after.

Needs: a Release build of bench_decode (cmake --preset release && cmake --build --preset release --target
bench_decode), /usr/bin/python3 with Debian's python3-torch, and OpenBLAS for it (Debian: libopenblas0-pthread).

Usage:  /usr/bin/python3 tools/bench_vs_torch.py [--rounds 3] [--cases 15M,110M] [--threads 1,2]
            [--bench build/release/bench/bench_decode] [--pin] [--any-blas]
"""
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {"15M": ("stories15M", (288, 6, 6, 768)), "110M": ("stories110M", (768, 12, 12, 2048))}
PROMPT, NEW_TOKENS = 16, 256


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


# ---- The PyTorch worker: one case, in a process of its own (thread settings must precede `import torch`) ----
def torch_worker(case, threads, runs):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import torch
    import torch_reference as ref  # the eager Llama decoder: decode_model, forward

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    blas = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line.lower() and "/" in line})
    dim, layers, heads, ffn = SHAPES[case][1]
    m = ref.decode_model(dim, layers, heads, ffn)
    prompt = torch.randint(0, 32000, (PROMPT,))

    def generate(new_tokens):
        logits = ref.forward(m, prompt, 0)
        for step in range(new_tokens - 1):  # as eigenformer: the last token needs no forward pass
            token = logits.argmax().reshape(1)
            logits = ref.forward(m, token, PROMPT + step)

    with torch.no_grad():
        generate(16)  # warm-up: fresh memory, first calls
        rates = []
        for _ in range(runs):
            t0 = time.perf_counter()
            generate(NEW_TOKENS)
            rates.append(NEW_TOKENS / (time.perf_counter() - t0))
    print(json.dumps({"tok_s": statistics.median(rates), "blas": blas, "torch": torch.__version__}))


def run_torch(case, threads, runs):
    env = dict(os.environ)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_PROC_BIND", "OMP_PLACES"):
        env.pop(name, None)
    env.update(OMP_WAIT_POLICY="PASSIVE", OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-worker", case, str(threads), str(runs)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_eigenformer(binary, case, threads):
    # The same OpenMP settings as PyTorch's side (OMP_WAIT_POLICY=PASSIVE); pinned only with --pin: on a machine
    # that other processes share, a pinned or spinning thread waits for a core that is busy elsewhere, and
    # decoding, which meets the other thread at every product, collapses (docs/performance.md).
    env = dict(os.environ, EIGENFORMER_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE")
    if threads > 1 and "--pin" in sys.argv:
        env.update(OMP_PROC_BIND="true", OMP_PLACES="cores")
    large = 1 if case == "110M" else 0
    out = subprocess.run([binary, f"--benchmark_filter=BM_Generate/110M:{large}/threads:{threads}/",
                          "--benchmark_min_time=0.01", "--benchmark_repetitions=2",
                          "--benchmark_report_aggregates_only=false", "--benchmark_format=json"],
                         env=env, check=True, capture_output=True, text=True).stdout
    runs = [r for r in json.loads(out)["benchmarks"] if r.get("run_type") == "iteration"]
    if not runs:
        raise SystemExit(f"{binary} ran no benchmark for {case} at {threads} thread(s)")
    # The second repetition: the first one built the model and touched its memory (warm-up). Tokens per second
    # from the wall time of one run (real_time is per iteration; a run generates NEW_TOKENS tokens).
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[runs[-1]["time_unit"]]
    return NEW_TOKENS / (runs[-1]["real_time"] * scale)


def main():
    if "--torch-worker" in sys.argv:
        i = sys.argv.index("--torch-worker")
        torch_worker(sys.argv[i + 1], int(sys.argv[i + 2]), int(sys.argv[i + 3]))
        return
    binary = option("--bench", os.path.join(ROOT, "build/release/bench/bench_decode"))
    if not os.access(binary, os.X_OK):
        sys.exit(f"{binary} not found: cmake --preset release && cmake --build --preset release --target bench_decode")
    rounds = int(option("--rounds", "3"))
    cases = option("--cases", "15M,110M").split(",")
    thread_counts = [int(t) for t in option("--threads", "1,2").split(",")]
    load_before = os.getloadavg()
    rows, blas_seen, torch_version = [], set(), "?"
    for case in cases:
        for threads in thread_counts:
            ours, theirs = [], []
            for r in range(rounds):
                ours.append(run_eigenformer(binary, case, threads))
                t = run_torch(case, threads, runs=1)
                theirs.append(t["tok_s"])
                blas_seen.update(t["blas"])
                torch_version = t["torch"]
                if not any("openblas" in b.lower() for b in t["blas"]) and "--any-blas" not in sys.argv:
                    sys.exit(f"PyTorch loaded {t['blas'] or 'no BLAS library'}, not OpenBLAS: its figures would not be "
                             "fair (install libopenblas0-pthread, or pass --any-blas)")
                print(f"  {SHAPES[case][0]} threads={threads} round {r + 1}: eigenformer {ours[-1]:.1f} tok/s, "
                      f"PyTorch {theirs[-1]:.1f} tok/s", file=sys.stderr, flush=True)
            rows.append((f"decode {SHAPES[case][0]}, {threads} thread{'s' if threads > 1 else ''}",
                         statistics.median(ours), statistics.median(theirs), min(ours), max(ours), min(theirs), max(theirs)))
    load_after = os.getloadavg()

    print(f"PyTorch {torch_version}, BLAS loaded: {', '.join(sorted(blas_seen)) or 'none'}")
    print(f"{rounds} alternating rounds per case, {PROMPT}-token prompt + {NEW_TOKENS} greedy tokens, fp32; "
          f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1-minute)")
    print()
    print("| case | eigenformer tok/s | PyTorch tok/s | ratio |")
    print("|---|---|---|---|")
    for name, ours, theirs, olo, ohi, tlo, thi in rows:
        print(f"| {name} | {ours:.1f} ({olo:.1f}–{ohi:.1f}) | {theirs:.1f} ({tlo:.1f}–{thi:.1f}) | {ours / theirs:.2f}× |")


if __name__ == "__main__":
    main()
