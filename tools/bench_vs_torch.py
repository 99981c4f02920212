#!/usr/bin/env python3
"""tools/bench_vs_torch.py — eigenformer beside PyTorch, same shapes, same threads, alternating, one table.

Cases (--cases, comma-separated; a group name runs all its rows), each at every thread count of --threads:
    15M, 110M        Llama-style decoding with a KV cache at the shapes of llama2.c's TinyStories models (random
                     weights: speed does not depend on their values), a 16-token prompt then 256 greedy tokens, fp32:
                         stories15M    dim 288, 6 layers, 6 heads, FFN 768, vocab 32000, tied embeddings
                         stories110M   dim 768, 12 layers, 12 heads, FFN 2048, vocab 32000, tied embeddings
                     eigenformer: bench/bench_decode.cpp BM_Generate (fp32); PyTorch: bench/torch_reference.py's
                     eager decoder (the same loop)
    encoder          (encoder-B1, encoder-B8) one BERT-base encoder layer 768/12/3072, T = 128: eigenformer's
                     EncoderBlock (bench_blocks BM_EncoderBlock) against nn.TransformerEncoderLayer in eval mode
                     under no_grad (PyTorch's fused fast path)
    stack            (stack-B1, stack-B8) 12 such layers in a row: Encoder<float> (bench_blocks BM_EncoderStack)
                     against nn.TransformerEncoder of 12 layers, eval mode, no_grad
    train            (train-poet, train-15M) one training step — forward, causal-LM loss, backward, clip, AdamW — of
                     the Llama-shaped model bench/bench_training.cpp trains, at its two shapes (poet: 4 layers, C 128,
                     B 16 × T 64; stories15M: 6 layers, C 288, B 4 × T 256): bench_training BM_TrainStep against
                     torch_reference.py's eager step
Default: all of them (15M,110M,encoder,stack,train).

Fairness (docs/performance.md explains each):
  - PyTorch runs in its own process with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed (a preset Haswell core
    type halves OpenBLAS on an AVX-512 CPU), OMP_WAIT_POLICY=PASSIVE, and OPENBLAS_NUM_THREADS, OMP_NUM_THREADS
    and torch.set_num_threads all at the thread count. The script prints the BLAS that process loaded: Debian's
    python3-torch calls whatever libblas.so.3 the system selects, and without OpenBLAS that is the reference
    BLAS (~40x slower). It stops unless the loaded BLAS is OpenBLAS (--any-blas to go on anyway).
  - eigenformer runs with EIGENFORMER_THREADS (and OPENBLAS_NUM_THREADS, for a BLAS build) at the thread count,
    the same OMP_WAIT_POLICY=PASSIVE and the same OpenBLAS variables removed.
  - --wait-eigenformer default (or --wait-torch default) leaves OMP_WAIT_POLICY unset for that side: libgomp's own
    wait, which spins a while before it sleeps — what a program gets when nobody sets the variable (the family
    programs' --threads). PASSIVE makes every wait sleep, and a decode step's threads meet dozens of times a
    token; on an idle machine that costs eigenformer's 2-thread decoding a fifth of its speed
    (docs/performance.md). The table's header says which policy each side ran under.
  - Neither side is pinned unless --pin is given (then eigenformer's threads are: OMP_PROC_BIND=true OMP_PLACES=cores). On a shared machine a
    pinned thread waits for the one core it may use while another process holds it: with a load average of 7–9
    on 2 cores, the 12-layer stack at B=1 took 3.2 s pinned on 2 threads against 0.2–0.5 s on 1
    (docs/performance.md). On an idle machine pinning can help Eigen's 2-thread products: try both.
  - Each side warms up before it is timed (the benchmark programs call once untimed; the PyTorch worker too);
    the sides alternate, round after round, the first side changing from one round to the next, so that a
    shared machine's load falls on all alike. The table gives the median of each side over the rounds (range
    in brackets), the ratio of the medians as eigenformer's speed over PyTorch's (> 1: eigenformer faster),
    eigenformer's own fraction of its peak (of_GEMM: the forward's GFLOP/s over the same layers' products alone;
    of_bandwidth: the weights' GB/s over the read bandwidth; bench/peak.hpp), and the load average.
  - --blas-dir DIR adds a second eigenformer column: the benchmarks of a build configured with
    -DEIGENFORMER_USE_BLAS=ON (Eigen's products handed to OpenBLAS; cmake/blas.cmake), in the same rounds, for
    the matrix-product cases (encoder, stack, train); decoding's products are the library's own matrix-vector
    loops (layers/linear.hpp), which the switch is not for: "—" there.

Needs: a Release build of the benchmarks (cmake --preset release && cmake --build --preset release --target
bench_decode bench_blocks bench_training), /usr/bin/python3 with Debian's python3-torch, and OpenBLAS for it
(Debian: libopenblas0-pthread).

Usage:  /usr/bin/python3 tools/bench_vs_torch.py [--rounds 3] [--cases 15M,110M,encoder,stack,train]
            [--threads 1,2] [--bench-dir build/release/bench] [--blas-dir build/blas/bench]
            [--bench build/release/bench/bench_decode] [--pin] [--any-blas]
            [--wait-eigenformer passive|default] [--wait-torch passive|default] [--torch-isa avx2]

--torch-isa avx2 holds PyTorch to AVX2 on a CPU with AVX-512 (OPENBLAS_CORETYPE=Haswell: OpenBLAS's AVX2 kernels;
ATEN_CPU_CAPABILITY=avx2: PyTorch's own, which Debian's 1.13 runs with AVX2 anyway — torch.__config__.show() says
"CPU capability usage: AVX2"), to compare it with eigenformer built for AVX2 and FMA without AVX-512
(configure with -march=x86-64-v3 in place of -march=native; --bench-dir names that build): what a machine without
AVX-512 would see, measured on this one. The table's header says so.
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
# Every row the script knows: name -> (kind, parameter, benchmark program, row title).
CASES = {
    "15M": ("decode", "15M", "bench_decode", "decode stories15M"),
    "110M": ("decode", "110M", "bench_decode", "decode stories110M"),
    "encoder-B1": ("encoder", 1, "bench_blocks", "encoder layer, B=1"),
    "encoder-B8": ("encoder", 8, "bench_blocks", "encoder layer, B=8"),
    "stack-B1": ("stack", 1, "bench_blocks", "12-layer stack, B=1"),
    "stack-B8": ("stack", 8, "bench_blocks", "12-layer stack, B=8"),
    "train-poet": ("train", "poet", "bench_training", "train step, poet"),
    "train-15M": ("train", "stories15M", "bench_training", "train step, stories15M"),
}
GROUPS = {"encoder": ["encoder-B1", "encoder-B8"], "stack": ["stack-B1", "stack-B8"],
          "train": ["train-poet", "train-15M"]}
UNITS = {"decode": "tok/s", "encoder": "ms", "stack": "ms", "train": "tok/s"}  # ms: lower is faster


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


# ---- The PyTorch worker: one case, in a process of its own (thread settings must precede `import torch`) ----
def torch_worker(case, threads, runs):
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import torch
    import torch_reference as ref  # the same models as the docs' PyTorch figures

    torch.set_num_threads(threads)  # after importing torch_reference, which sets its own count on import
    torch.manual_seed(0)
    blas = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line.lower() and "/" in line})
    kind, parameter = CASES[case][0], CASES[case][1]
    if kind == "decode":
        dim, layers, heads, ffn = SHAPES[parameter][1]
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
        value = statistics.median(rates)
    elif kind in ("encoder", "stack"):
        module = ref.encoder_layer() if kind == "encoder" else ref.encoder_stack()
        x = torch.randn(parameter, 128, 768)
        with torch.no_grad():  # median of at least 5 calls (encoder) or 3 (stack) after 2 calls of warm-up
            value = 1e3 * ref.median_seconds(lambda: module(x), warmup=2, budget=2.0 if kind == "encoder" else 0.0,
                                             at_least=5 if kind == "encoder" else 3)
    else:
        wall, _, tokens = ref.torch_train_step_seconds(parameter, budget=3.0)
        value = tokens / wall
    print(json.dumps({"value": value, "blas": blas, "torch": torch.__version__}))


def fair_environment(threads, wait):
    """The environment both sides share: OpenBLAS's core-type presets removed, OpenMP's wait policy (passive:
    OMP_WAIT_POLICY=PASSIVE; default: unset, libgomp's spin-then-sleep), threads."""
    env = dict(os.environ)
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_PROC_BIND", "OMP_PLACES", "OMP_WAIT_POLICY"):
        env.pop(name, None)
    env.update(OPENBLAS_NUM_THREADS=str(threads))
    if wait == "passive":
        env.update(OMP_WAIT_POLICY="PASSIVE")
    return env


def wait_policy(side):
    """--wait-torch / --wait-eigenformer: passive (the default, both sides) or default."""
    value = option(f"--wait-{side}", "passive")
    if value not in ("passive", "default"):
        sys.exit(f"--wait-{side} takes passive or default, not '{value}'")
    return value


def torch_isa():
    """--torch-isa: none (PyTorch uses what the CPU has) or avx2."""
    value = option("--torch-isa", None)
    if value not in (None, "avx2"):
        sys.exit(f"--torch-isa takes avx2, not '{value}'")
    return value


def run_torch(case, threads, runs):
    env = fair_environment(threads, wait_policy("torch"))
    env.update(OMP_NUM_THREADS=str(threads))
    if torch_isa() == "avx2":
        env.update(OPENBLAS_CORETYPE="Haswell", ATEN_CPU_CAPABILITY="avx2")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--torch-worker", case, str(threads), str(runs)],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def pinned(threads):
    return threads > 1 and "--pin" in sys.argv


def run_eigenformer(bench_dir, case, threads):
    """Runs one case of a benchmark program: {'value': tok/s or ms, 'peak': fraction of the peak or None}."""
    kind, parameter, program = CASES[case][0], CASES[case][1], CASES[case][2]
    binary = os.path.join(bench_dir, program)
    env = fair_environment(threads, wait_policy("eigenformer"))
    env.update(EIGENFORMER_THREADS=str(threads))
    if pinned(threads):
        env.update(OMP_PROC_BIND="true", OMP_PLACES="cores")
    if kind == "decode":
        # fp32 (format 0). Two repetitions: the first builds the model and touches its memory; the second is timed.
        large = 1 if parameter == "110M" else 0
        flags = [f"--benchmark_filter=^BM_Generate/110M:{large}/threads:{threads}/format:0/",
                 "--benchmark_min_time=0.01", "--benchmark_repetitions=2", "--benchmark_report_aggregates_only=false"]
    elif kind in ("encoder", "stack"):
        name = "BM_EncoderBlock" if kind == "encoder" else "BM_EncoderStack"
        flags = [f"--benchmark_filter=^{name}/B:{parameter}/threads:{threads}/"]
    else:
        flags = [f"--benchmark_filter=^BM_TrainStep/stories15M:{0 if parameter == 'poet' else 1}/threads:{threads}/",
                 "--benchmark_min_time=2"]
    out = subprocess.run([binary, *flags, "--benchmark_format=json"], env=env, check=True, capture_output=True,
                         text=True).stdout
    runs = [r for r in json.loads(out)["benchmarks"] if r.get("run_type") == "iteration"]
    if not runs:
        raise SystemExit(f"{binary} ran no benchmark for {case} at {threads} thread(s)")
    run = runs[-1]
    seconds = run["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[run["time_unit"]]
    if kind == "decode":
        return {"value": NEW_TOKENS / seconds, "peak": run.get("of_bandwidth")}
    if kind in ("encoder", "stack"):
        return {"value": seconds * 1e3, "peak": run.get("of_GEMM")}
    return {"value": run["tokens/s"], "peak": None}


def speed_ratio(kind, ours, theirs):
    """eigenformer's speed over PyTorch's: > 1 when eigenformer is faster."""
    return theirs / ours if UNITS[kind] == "ms" else ours / theirs


def cell(values, unit):
    digits = 0 if unit == "tok/s" and statistics.median(values) >= 1000 else 1
    return f"{statistics.median(values):.{digits}f} {unit} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def main():
    if "--torch-worker" in sys.argv:
        i = sys.argv.index("--torch-worker")
        torch_worker(sys.argv[i + 1], int(sys.argv[i + 2]), int(sys.argv[i + 3]))
        return
    decode_binary = option("--bench", None)
    bench_dir = option("--bench-dir", os.path.dirname(decode_binary) if decode_binary
                       else os.path.join(ROOT, "build/release/bench"))
    blas_dir = option("--blas-dir", None)
    rounds = int(option("--rounds", "3"))
    cases = []
    for name in option("--cases", "15M,110M,encoder,stack,train").split(","):
        for case in GROUPS.get(name, [name]):
            if case not in CASES:
                sys.exit(f"unknown case '{name}': choose from {', '.join(list(CASES) + list(GROUPS))}")
            cases.append(case)
    builds = [("eigenformer", bench_dir)] + ([("eigenformer + BLAS", blas_dir)] if blas_dir else [])
    for label, directory in builds:
        for program in sorted({CASES[c][2] for c in cases if label == "eigenformer" or CASES[c][0] != "decode"}):
            if not os.access(os.path.join(directory, program), os.X_OK):
                sys.exit(f"{os.path.join(directory, program)} not found ({label}): cmake --preset release && "
                         f"cmake --build --preset release --target {program}")
    thread_counts = [int(t) for t in option("--threads", "1,2").split(",")]
    load_before = os.getloadavg()
    rows, blas_seen, torch_version = [], set(), "?"
    for case in cases:
        kind, unit = CASES[case][0], UNITS[CASES[case][0]]
        for threads in thread_counts:
            ours = {label: [] for label, _ in builds}
            peaks = {label: [] for label, _ in builds}
            theirs = []
            for r in range(rounds):
                sides = [("PyTorch", None)] + [(label, directory) for label, directory in builds
                                               if not (kind == "decode" and label != "eigenformer")]
                for label, directory in (sides if r % 2 else list(reversed(sides))):
                    if directory is None:
                        t = run_torch(case, threads, runs=1)
                        theirs.append(t["value"])
                        blas_seen.update(t["blas"])
                        torch_version = t["torch"]
                        if not any("openblas" in b.lower() for b in t["blas"]) and "--any-blas" not in sys.argv:
                            sys.exit(f"PyTorch loaded {t['blas'] or 'no BLAS library'}, not OpenBLAS: its figures "
                                     "would not be fair (install libopenblas0-pthread, or pass --any-blas)")
                    else:
                        e = run_eigenformer(directory, case, threads)
                        ours[label].append(e["value"])
                        if e["peak"] is not None:
                            peaks[label].append(e["peak"])
                line = ", ".join(f"{label} {ours[label][-1]:.1f} {unit}"
                                 + (f" ({peaks[label][-1]:.2f} of peak)" if peaks[label] else "")
                                 for label, _ in builds if ours[label])
                print(f"  {case} threads={threads} round {r + 1}: {line}, PyTorch {theirs[-1]:.1f} {unit} "
                      f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
            rows.append((f"{CASES[case][3]}, {threads} thread{'s' if threads > 1 else ''}", kind, unit, ours, peaks,
                         theirs))
    load_after = os.getloadavg()

    print(f"PyTorch {torch_version}, BLAS loaded: {', '.join(sorted(blas_seen)) or 'none'}"
          + (" (held to AVX2: OPENBLAS_CORETYPE=Haswell, ATEN_CPU_CAPABILITY=avx2)" if torch_isa() else ""))
    print(f"{rounds} alternating rounds per case, medians (range); ratio = eigenformer's speed / PyTorch's; "
          f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1-minute); OpenMP wait: "
          f"PyTorch {wait_policy('torch')}, eigenformer {wait_policy('eigenformer')}")
    print()
    labels = [label for label, _ in builds]
    header = ["case"] + labels + ["PyTorch"] + [f"ratio ({label})" if len(labels) > 1 else "ratio" for label in labels]
    header += [f"of peak ({label})" if len(labels) > 1 else "eigenformer of its peak" for label in labels]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, kind, unit, ours, peaks, theirs in rows:
        cells = [name] + [cell(ours[label], unit) if ours[label] else "—" for label in labels] + [cell(theirs, unit)]
        cells += [f"{speed_ratio(kind, statistics.median(ours[label]), statistics.median(theirs)):.2f}×"
                  if ours[label] else "—" for label in labels]
        what = "of GEMM" if kind in ("encoder", "stack") else "of bandwidth"
        cells += [f"{statistics.median(peaks[label]):.2f} {what}" if peaks[label] else "—" for label in labels]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
