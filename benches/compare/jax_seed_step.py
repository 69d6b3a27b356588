"""JAX (XLA on CPU) anchor for the seed models: one jit-compiled training step per call, and
a whole epoch compiled as one lax.scan (no Python between steps). Same shapes as the Rust peers:
batch 64, 16 steps/epoch (last 40 rows folded into a 64-row pad is NOT done: 15 full batches of 64
plus one of 40 in the per-step mode; the scan mode uses 15 batches of 64 only). RMSprop with Keras
semantics (v = 0.9 v + 0.1 g^2; w -= 1e-3 g / sqrt(v + 1e-7)). f32. Prints us/step.

Usage: XLA_FLAGS=--xla_cpu_multi_thread_eigen=false python bench_jax.py [A|B|C] [threads]
"""
import os, sys, time
model = sys.argv[1] if len(sys.argv) > 1 else "A"
import numpy as np
import jax, jax.numpy as jnp

dims = {"A": [2, 100, 50, 50, 10, 1], "B": [2, 20, 20, 1], "C": [2, 100, 50, 50, 10, 1]}[model]
def act(i, h):
    if model == "B" and i < 2: return jax.nn.sigmoid(h)
    if model == "C" and i == 3: return jax.nn.relu(h)
    return h

rng = np.random.default_rng(0)
params = []
for i in range(len(dims) - 1):
    l = np.sqrt(6 / (dims[i] + dims[i + 1]))
    params.append((jnp.asarray(rng.uniform(-l, l, (dims[i], dims[i + 1])), jnp.float32), jnp.zeros(dims[i + 1], jnp.float32)))
x = rng.standard_normal((1000, 2)).astype(np.float32); x[:, 0] *= 2
y = (x[:, 0] ** 2 + 2 * x[:, 1] ** 2 - 0.2 * np.cos(3 * np.pi * x[:, 0]) - 0.4 * np.cos(4 * np.pi * x[:, 1])).astype(np.float32)[:, None]
x = (x - x.mean()) / x.std()

def forward(p, xb):
    h = xb
    for i, (w, b) in enumerate(p):
        h = act(i, h @ w + b)
    return h

def loss(p, xb, yb):
    return jnp.mean((forward(p, xb) - yb) ** 2)

def update(state, xb, yb):
    p, v = state
    g = jax.grad(loss)(p, xb, yb)
    v = jax.tree_util.tree_map(lambda v, g: 0.9 * v + 0.1 * g * g, v, g)
    p = jax.tree_util.tree_map(lambda p, g, v: p - 1e-3 * g / jnp.sqrt(v + 1e-7), p, g, v)
    return (p, v)

step = jax.jit(update)
state = (params, jax.tree_util.tree_map(jnp.zeros_like, params))
xj, yj = jnp.asarray(x), jnp.asarray(y)
perm = rng.permutation(1000)
batches = [(xj[perm[i:i + 64]], yj[perm[i:i + 64]]) for i in range(0, 1000, 64)]
for xb, yb in batches:  # compile both batch sizes
    state = step(state, xb, yb)
jax.block_until_ready(state)
n = 0; t = time.perf_counter()
for e in range(100):
    for xb, yb in batches:
        state = step(state, xb, yb); n += 1
jax.block_until_ready(state)
per_step = (time.perf_counter() - t) / n * 1e6

xs = jnp.stack([b[0] for b in batches[:15]]); ys = jnp.stack([b[1] for b in batches[:15]])
@jax.jit
def epochs(state, xs, ys):
    def body(s, _):
        s, _ = jax.lax.scan(lambda s, b: (update(s, b[0], b[1]), None), s, (xs, ys))
        return s, None
    s, _ = jax.lax.scan(body, state, None, length=100)
    return s
state = epochs(state, xs, ys); jax.block_until_ready(state)
t = time.perf_counter(); state = epochs(state, xs, ys); jax.block_until_ready(state)
scan_step = (time.perf_counter() - t) / (100 * 15) * 1e6
name = {"A": "linear", "B": "sigmoid", "C": "relu"}[model]
print(f"RESULT crate=jax_jit bench=small model={name} us_per_step={per_step:.1f}")
print(f"RESULT crate=jax_scan bench=small model={name} us_per_step={scan_step:.1f}")
