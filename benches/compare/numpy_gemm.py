"""NumPy (OpenBLAS) sgemm reference: GFLOP/s for n x n float32 products. Usage: python numpy_gemm.py N...
`python numpy_gemm.py info` prints the BLAS library and the kernel it runs (needs threadpoolctl)."""
import sys, time
import numpy as np
if sys.argv[1:] == ["info"]:
    try:
        from threadpoolctl import threadpool_info
        blas = [f"{i['internal_api']}_{i.get('version')}_{i.get('architecture')}" for i in threadpool_info() if i["user_api"] == "blas"]
    except ImportError:
        blas = ["unknown_(pip_install_threadpoolctl)"]
    print(f"INFO numpy_blas={','.join(blas)}")
    sys.exit()
for n in map(int, sys.argv[1:]):
    rng = np.random.default_rng(3)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    iters = max(20, min(200_000, 20 * (1024 // n) ** 3))
    for _ in range(3): a @ b
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(iters): a @ b
        best = min(best, (time.perf_counter() - t) / iters)
    print(f"RESULT crate=numpy bench=matmul n={n} gflops={2 * n**3 / best / 1e9:.2f}")
