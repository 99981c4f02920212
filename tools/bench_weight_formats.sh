#!/bin/sh
# bench_weight_formats.sh — fp32, bf16 and int8 weights (layers/packed_weight.hpp) side by side, alternating:
# round after round, one bench_decode call per format — a decode step at position 16 (BM_DecodeStep) and a
# 256-token run (BM_Generate) at the stories15M and stories110M shapes, 1 thread — then the medians and the
# ratios to fp32. On a shared machine only the ratios mean something; the load average is printed before and after.
#
#     cmake --preset release && cmake --build --preset release --target bench_decode
#     tools/bench_weight_formats.sh [BUILD_DIR (default build/release)] [ROUNDS (default 3)]
set -eu
build=${1:-build/release}
rounds=${2:-3}
bench="$build/bench/bench_decode"
[ -x "$bench" ] || { echo "bench_weight_formats: $bench not found; build the target bench_decode first" >&2; exit 1; }
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
echo "start $(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
round=1
while [ "$round" -le "$rounds" ]; do
  for format in 0 1 2; do
    OMP_PROC_BIND=true OMP_PLACES=cores "$bench" --benchmark_format=csv --benchmark_min_time=1 \
      --benchmark_filter="BM_(DecodeStep/110M:[01]/pos:16|Generate/110M:[01]/threads:1)/format:$format" 2>/dev/null \
      | grep '^"BM' >> "$raw"
  done
  round=$((round + 1))
done
echo "end   $(date -u +%H:%M:%S) UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$raw" <<'PY'
import csv, re, statistics, sys
rows = []
for f in csv.reader(open(sys.argv[1])):
    # name, iterations, real_time, cpu_time, time_unit, bytes/s, items/s, label, error, message, counters...
    model, fmt = f[7].split()
    rows.append((re.sub(r"/format:\d", "", f[0]).replace("/real_time", ""), model, fmt, float(f[2]), float(f[3]), f[4]))
for case, model in sorted({(r[0], r[1]) for r in rows}):
    print(f"{model} {case}")
    base = None
    for fmt in ("fp32", "bf16", "int8"):
        sel = [r for r in rows if r[0] == case and r[2] == fmt]
        real = statistics.median(r[3] for r in sel)
        cpu = statistics.median(r[4] for r in sel)
        base = base or (real, cpu)
        print(f"  {fmt}: wall {real:10.1f} {sel[0][5]}  cpu {cpu:10.1f} {sel[0][5]}   ratio to fp32: wall {base[0] / real:.2f}x, cpu {base[1] / cpu:.2f}x")
PY
