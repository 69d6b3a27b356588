"""The reference side of the benchmark ratios: NumPy's matmul (OpenBLAS) on one thread, on
the same sizes as `cargo bench --bench autograd -- matmul`. Run it in the same session:

    python3 -m venv /tmp/ref && /tmp/ref/bin/pip install numpy threadpoolctl
    /tmp/ref/bin/python benches/reference.py
"""
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

print("BLAS:", [(i["internal_api"], i.get("architecture")) for i in threadpool_info()])
with threadpool_limits(1):
    for n in (64, 256, 1024):
        a = np.random.randn(n, n).astype(np.float32)
        b = np.random.randn(n, n).astype(np.float32)
        a @ b
        reps = max(5, int(4e9 / (2 * n**3)))
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(reps):
                a @ b
            best = min(best, (time.perf_counter() - t) / reps)
        print(f"matmul_f32/{n}: {best * 1e6:.1f} us, {2 * n**3 / best / 1e9:.1f} GFLOP/s")
