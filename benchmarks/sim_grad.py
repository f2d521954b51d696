"""Benchmark: gradients of the sum secrecy rate through a 3-layer SIM, JAX vs NumPy forward.

Scenario (paper 004 Sec. V): 28 GHz, M = 32 BS antennas (4x8 UPA), L = 3 layers of N_l = 64
(8x8) elements, K = 4 users and E = 2 eavesdroppers at 15-40 m, path-loss exponent 2.5,
P = 30 dBm (90 % to W, 10 % isotropic AN), sigma^2 = -104 dBm. Objective: the exact sum
secrecy rate of eq. (22) (with [.]^+ and max over eavesdroppers) as a function of the SIM
phases theta (3, 64), for B = 1024 independent SIM configurations.

* JAX: ``jit(vmap(value_and_grad(objective)))`` over the B configurations (complex64).
* NumPy reference: the same forward maths written separately in NumPy, vectorised over the B
  configurations with batched matmuls (complex64) -- the strongest plain-NumPy baseline. A
  per-configuration Python loop is timed too, for context.

Reports configurations/s for each, the ratio (JAX value+grad per second / NumPy forwards per
second) and the compile time (lower + compile) separately from the steady-state run time
(warm-up call first, ``block_until_ready`` on every timed call). ``python -m benchmarks.sim_grad``
prints one JSON line.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from jisac.channels.sim_coupling import inter_layer_los
from jisac.channels.sim_links import bs_to_sim_channel, sim_geometry, sim_to_users_channels
from jisac.hardware.sim import sim_effective_channels
from jisac.metrics.sim_secrecy import sum_secrecy_rate
from jisac.units import dbm_to_watt, wavelength

L_LAYERS, N_ROWS, K, E, BATCH = 3, 8, 4, 2, 1024


def make_system(seed: int = 0):
    """Fixed SIM system in NumPy complex64 arrays (a dict)."""
    rng = np.random.default_rng(seed)
    lam = float(wavelength(28e9))
    geo = sim_geometry(lam, n_layers=L_LAYERS, n_rows=N_ROWS, n_cols=N_ROWS, bs_rows=4, bs_cols=8)
    h1 = np.asarray(bs_to_sim_channel(geo.layers[0], geo.bs, lam))
    hi = np.asarray(inter_layer_los(geo.layers, lam))
    j = K + E
    d = rng.uniform(15.0, 40.0, j)
    pitch = rng.uniform(0.0, np.pi / 3, j)
    azim = rng.uniform(-np.pi, np.pi, j)
    h = np.asarray(sim_to_users_channels(d, pitch, azim, N_ROWS, N_ROWS, 0.5, 2.5, 1.0))
    m = h1.shape[1]
    p = float(dbm_to_watt(30.0))
    w = rng.normal(size=(m, K)) + 1j * rng.normal(size=(m, K))
    w *= np.sqrt(0.9 * p) / np.linalg.norm(w)
    r_an = 0.1 * p / m * np.eye(m)
    sigma2 = float(dbm_to_watt(-104.0))
    c = np.complex64
    return dict(h1=h1.astype(c), hi=hi.astype(c), h=h.astype(c), w=w.astype(c), r_an=r_an.astype(c),
                sigma2=np.float32(sigma2))


def jax_objective(sys_):
    h1, hi, h, w, r_an = (jnp.asarray(sys_[k]) for k in ("h1", "hi", "h", "w", "r_an"))
    s2 = sys_["sigma2"]

    def f(theta):
        eff = sim_effective_channels(h, theta, h1, hi)  # all K + E receivers in one pass
        return sum_secrecy_rate(eff[:K], eff[K:], w, r_an, s2, s2)

    return f


def numpy_forward(theta: np.ndarray, sys_) -> np.ndarray:
    """Sum secrecy rate for a batch of SIM configurations theta (B, L, N), written in plain NumPy."""
    h1, hi, h, w, r_an, s2 = (sys_[k] for k in ("h1", "hi", "h", "w", "r_an", "sigma2"))
    v = np.exp(1j * theta).astype(np.complex64)  # (B, L, N)
    rows = np.conj(h)[None, :, :] * v[:, -1, None, :]  # h^H Phi_L        (B, J, N)
    for l in range(theta.shape[1] - 1, 0, -1):
        rows = (rows @ hi[l - 1]) * v[:, l - 1, None, :]  # ... H^(l) Phi_{l-1}
    eh = rows @ h1  # h_eff^H                                          (B, J, M)
    a = eh @ w  # h_eff,j^H w_k                                         (B, J, K)
    g = a.real**2 + a.imag**2
    an = np.einsum("bjm,mn,bjn->bj", eh, r_an, np.conj(eh)).real
    interf = g.sum(axis=2, keepdims=True) - g
    sinr = g / (interf + an[:, :, None] + s2)
    r_user = np.log2(1 + np.einsum("bkk->bk", sinr[:, :K, :]))
    r_eve = np.log2(1 + sinr[:, K:, :]).max(axis=1)
    return np.maximum(r_user - r_eve, 0.0).sum(axis=1)


def _time(fn, min_time=2.0, min_reps=5):
    reps, t0 = 0, time.perf_counter()
    while True:
        fn()
        reps += 1
        dt = time.perf_counter() - t0
        if reps >= min_reps and dt >= min_time:
            return dt / reps


def run(batch: int = BATCH, seed: int = 0) -> dict:
    sys_ = make_system(seed)
    rng = np.random.default_rng(seed + 1)
    theta = rng.uniform(0, 2 * np.pi, (batch, L_LAYERS, N_ROWS * N_ROWS)).astype(np.float32)
    theta_j = jnp.asarray(theta)

    step = jax.jit(jax.vmap(jax.value_and_grad(jax_objective(sys_))))
    t0 = time.perf_counter()
    compiled = step.lower(theta_j).compile()
    t_compile = time.perf_counter() - t0
    vals, grads = compiled(theta_j)  # warm-up
    jax.block_until_ready(grads)
    t_jax = _time(lambda: jax.block_until_ready(compiled(theta_j)))

    ref = numpy_forward(theta, sys_)
    t_np = _time(lambda: numpy_forward(theta, sys_))
    n_loop = 64
    t_loop = _time(lambda: [numpy_forward(theta[i : i + 1], sys_) for i in range(n_loop)], min_time=1.0)

    v = np.asarray(vals)
    agree = float(np.max(np.abs(v - ref)) / max(np.max(np.abs(ref)), 1e-30))
    out = {
        "benchmark": "sim_grad",
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "batch": batch,
        "shape": {"M": int(sys_["h1"].shape[1]), "L": L_LAYERS, "N_l": N_ROWS * N_ROWS, "K": K, "E": E},
        "dtype": "complex64",
        "compile_s": t_compile,
        "jax_value_and_grad_step_s": t_jax,
        "jax_grads_per_s": batch / t_jax,
        "numpy_batched_forward_step_s": t_np,
        "numpy_batched_forwards_per_s": batch / t_np,
        "numpy_loop_forwards_per_s": n_loop / t_loop,
        "ratio_jax_grads_vs_numpy_batched_forwards": (batch / t_jax) / (batch / t_np),
        "ratio_jax_grads_vs_numpy_loop_forwards": (batch / t_jax) / (n_loop / t_loop),
        "max_rel_diff_jax_vs_numpy_values": agree,
        "mean_sum_secrecy_rate": float(v.mean()),
        "grad_finite": bool(np.all(np.isfinite(np.asarray(grads)))),
    }
    return out


if __name__ == "__main__":
    print(json.dumps(run()))
