"""JAX (XLA on CPU) anchor for the PINN step of examples/01_pinn, in f32: a 1-32-32-1 tanh MLP
u(x), u'' from two nested jax.grad calls (vmapped over the 64 collocation points in [0, pi]),
loss mean((u'' + sin x)^2) + mean(u(0)^2, u(pi)^2), and an Adam step (lr 1e-3) written out, the
whole step under one jax.jit. Prints us/step (median of 5 repetitions of 500 steps).

Usage: python jax_pinn_step.py
"""
import math, statistics, time
import numpy as np
import jax, jax.numpy as jnp

dims = [1, 32, 32, 1]
rng = np.random.default_rng(0)
params = []
for i in range(len(dims) - 1):
    l = np.sqrt(6 / (dims[i] + dims[i + 1]))
    params.append((jnp.asarray(rng.uniform(-l, l, (dims[i], dims[i + 1])), jnp.float32), jnp.zeros(dims[i + 1], jnp.float32)))

def u(p, x):
    h = jnp.reshape(x, (1,))
    for i, (w, b) in enumerate(p):
        h = h @ w + b
        if i < len(p) - 1: h = jnp.tanh(h)
    return h[0]

u_xx = jax.grad(jax.grad(u, 1), 1)
xs = jnp.linspace(0.0, math.pi, 64, dtype=jnp.float32)
ends = jnp.array([0.0, math.pi], jnp.float32)

def loss(p):
    r = jax.vmap(u_xx, (None, 0))(p, xs) + jnp.sin(xs)
    ub = jax.vmap(u, (None, 0))(p, ends)
    return jnp.mean(r ** 2) + jnp.mean(ub ** 2)

@jax.jit
def step(state):
    p, m, v, t = state
    g = jax.grad(loss)(p)
    t = t + 1
    m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
    v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
    c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
    p = jax.tree_util.tree_map(lambda p, m, v: p - 1e-3 * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), p, m, v)
    return (p, m, v, t)

zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
state = (params, zeros, zeros, jnp.float32(0))
def rep():
    global state
    for _ in range(20): state = step(state)
    jax.block_until_ready(state)
    t = time.perf_counter()
    for _ in range(500): state = step(state)
    jax.block_until_ready(state)
    return (time.perf_counter() - t) / 500 * 1e6
print(f"RESULT crate=jax_jit bench=pinn us_per_step={statistics.median(rep() for _ in range(5)):.1f}")
