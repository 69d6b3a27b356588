"""Reads RESULT lines (stdin) of one run and prints the comparison table with ratios."""
import collections, re, statistics, sys
rows = collections.defaultdict(list)
info = {}
for line in sys.stdin:
    if line.startswith("INFO "):
        info.update(p.split("=", 1) for p in line.split()[1:] if "=" in p)
    m = re.match(r"RESULT (.*)", line.strip())
    if not m: continue
    kv = dict(p.split("=", 1) for p in m.group(1).split() if "=" in p)
    key = (kv["threads"], kv["bench"], kv.get("model") or kv.get("n") or "")
    for unit in ("us_per_step", "ms_per_step", "gflops", "ns_per_op"):
        if unit in kv: rows[key + (kv["crate"], unit)].append(float(kv[unit]))
med = {k: statistics.median(v) for k, v in rows.items()}
def get(threads, bench, what, crate, unit):
    return med.get((threads, bench, what, crate, unit))
print(f"CPU: {info.get('cpu', '?').replace('_', ' ')}; SIMD: {info.get('simd', '?').replace(',', ', ')}")
print(f"Borel's GEMM kernels: {info.get('borel_gemm', '?')}; NumPy's BLAS: {info.get('numpy_blas', '?').replace('_', ' ')}\n")
print("| threads | work | Borel | hand-written | PyTorch | JAX jit / scan | NumPy | Borel / hand-written | Borel / PyTorch (sgemm: / NumPy) |")
print("|---|---|---|---|---|---|---|---|---|")
for t in sorted({k[0] for k in med}):
    for bench, what, unit, fmt in [("small", "linear", "us_per_step", "{:.1f} us"), ("small", "sigmoid", "us_per_step", "{:.1f} us"),
                                   ("small", "relu", "us_per_step", "{:.1f} us"), ("large", "", "ms_per_step", "{:.2f} ms"),
                                   ("matmul", "64", "gflops", "{:.1f} GFLOP/s"), ("matmul", "256", "gflops", "{:.1f} GFLOP/s"),
                                   ("matmul", "1024", "gflops", "{:.1f} GFLOP/s"), ("chain", "", "ns_per_op", "{:.0f} ns"),
                                   ("pinn", "", "us_per_step", "{:.1f} us")]:
        b, h, p = (get(t, bench, what, c, unit) for c in ("borel", "handwritten", "torch"))
        j = [get(t, bench, what, c, unit) for c in ("jax_jit", "jax_scan")]
        n = get(t, bench, what, "numpy", unit)
        if b is None: continue
        show = lambda v: fmt.format(v) if v is not None else ""
        higher_better = unit == "gflops"
        ratio = lambda r: f"{(r / b if higher_better else b / r):.2f}x" if r else ""
        jax = " / ".join(show(v) for v in j if v is not None)
        label = {"small": f"seed model {what} step (batch 64)", "large": "MLP 784-1024-1024-10 step (batch 256)",
                 "matmul": f"sgemm {what}", "chain": "recorded scalar op, fwd + bwd",
                 "pinn": "PINN step (u'' by nested grad, 1-32-32-1 tanh, 64 points, Adam)"}[bench]
        ref = n if bench == "matmul" else p
        print(f"| {t} | {label} | {show(b)} | {show(h)} | {show(p)} | {jax} | {show(n)} | {ratio(h)} | {ratio(ref)} |")
print("\nRatios are Borel's time over the reference's (for GFLOP/s: the reference's rate over Borel's inverted, "
      "so below 1 is faster for Borel in both); sgemm rows compare with NumPy. Medians of the repetitions.")
