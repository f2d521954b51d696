"""Benchmark: one Riemannian CG step on a SIM Frobenius fit (paper 004 eq. (30), L=3, N=64, M=32).

Objective ``f(z) = ||G_SIM(z) - F||_F^2`` with ``G_SIM = D_L H^(L) ... D_1 H^(1)`` (004 eq. (2)),
``D_l = diag(z_l)``, ``z: (L, N)`` on the complex circle manifold. One step = value and gradient,
Riemannian projection, PR+ beta with projection transport, fixed step, retraction
(:func:`jisac.manifold.riemannian_cg` with ``linesearch=False``).

* ``jax_step``: the step as one jitted call (autodiff gradient), dispatched once per step;
* ``jax_scan``: ``n_scan`` steps fused in :func:`jisac.manifold.minimize` (one ``lax.scan``),
  reported per step (no per-step dispatch);
* ``numpy``: the same step in NumPy with the hand-written analytic gradient
  ``grad_l = 2 rowsum(conj(B_l) * (A_l^H E))`` (``G = A_l D_l B_l``, ``E = G - F``; ``A_l^H E`` by
  a backward recursion ``R_{l-1} = H^(l)^H (conj(z_l) * R_l)``), written here independently.

The cascade is written inline (einsum-free matmuls) and checked against
``jisac.hardware.sim.sim_cascade``; the NumPy gradient and step are checked against JAX before
timing. complex64 for both. JAX and NumPy repeats are interleaved, best of ``repeats`` reported
(shared CPU). NumPy is timed with the default BLAS threads and with one BLAS thread (via
``jisac.runtime.blas_threads``); the faster is the baseline of the ratios. Compile time = lower+compile of the jitted step, measured separately.
``python -m benchmarks.manifold_step`` prints one JSON line.
"""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np

from jisac import manifold as mf
from jisac.runtime import blas_threads

L, N, M = 3, 64, 32
STEP = 1e-3


def problem(seed: int = 0, dtype=np.complex64):
    """Fixed random problem: couplings scaled to keep ``|G|`` O(1), a random target ``F``."""
    rng = np.random.default_rng(seed)
    c = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)) / np.sqrt(2)
    h1 = c(N, M).astype(dtype)
    h_inter = (c(L - 1, N, N) / np.sqrt(N)).astype(dtype)
    F = c(N, M).astype(dtype)
    z0 = np.exp(1j * rng.uniform(0, 2 * np.pi, (L, N))).astype(dtype)
    return z0, h1, h_inter, F


def cascade(z, h1, h_inter):
    """004 eq. (2) as a ``lax.scan`` over layers 2..L."""
    g0 = z[0][:, None] * h1

    def layer(g, xs):
        zl, h = xs
        return zl[:, None] * (h @ g), None

    g, _ = jax.lax.scan(layer, g0, (z[1:], h_inter))
    return g


def frob_fit(z, h1, h_inter, F):
    e = cascade(z, h1, h_inter) - F
    return jnp.sum(jnp.real(e) ** 2 + jnp.imag(e) ** 2)


# ---------------------------------------------------------------------------------- NumPy step


def np_value_and_grad(z, h1, h_inter, F):
    """f and steepest-ascent gradient ``2 df/dz*`` of the Frobenius fit, analytic."""
    Ls = z.shape[0]
    B = [h1]  # B_l = H^(l) G_{l-1}: the input to D_l
    g = z[0][:, None] * h1
    for l in range(1, Ls):
        B.append(h_inter[l - 1] @ g)
        g = z[l][:, None] * B[l]
    E = g - F
    f = np.sum(E.real**2 + E.imag**2)
    grad = np.empty_like(z)
    R = E  # R_l = A_l^H E
    for l in range(Ls - 1, -1, -1):
        grad[l] = 2 * np.sum(np.conj(B[l]) * R, axis=1)
        if l > 0:
            R = h_inter[l - 1].conj().T @ (np.conj(z[l])[:, None] * R)
    return f, grad


def np_rcg_step(z, xi_old, d_old, h1, h_inter, F, t=STEP):
    proj = lambda z, g: g - np.real(g * np.conj(z)) * z
    ip = lambda a, b: np.sum(np.real(np.conj(a) * b))
    f, ge = np_value_and_grad(z, h1, h_inter, F)
    xi = proj(z, ge)
    den = ip(xi_old, xi_old)
    beta = max((ip(xi, xi) - ip(xi, proj(z, xi_old))) / den, 0.0) if den > 0 else 0.0
    d = -xi + beta * proj(z, d_old)
    if ip(xi, d) >= 0:
        d = -xi
    w = z + t * d
    return w / np.abs(w), xi, d, f


# ---------------------------------------------------------------------------------- timing


def _best(fn, repeats):
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts)


def run(n_calls: int = 200, n_scan: int = 1000, repeats: int = 5) -> dict:
    z0, h1, h_inter, F = problem()
    args = tuple(jnp.asarray(a) for a in (h1, h_inter, F))
    opt = mf.riemannian_cg(STEP, linesearch=False)

    try:  # cross-check the inline cascade against the library SIM module when present
        from jisac.hardware.sim import sim_cascade

        g_lib = sim_cascade(jnp.angle(jnp.asarray(z0)), args[0], args[1])
        cascade_err = float(jnp.max(jnp.abs(g_lib - cascade(jnp.asarray(z0), *args[:2]))))
    except ImportError:
        cascade_err = None

    def step(z, state, h1, h_inter, F):
        v, g = jax.value_and_grad(frob_fit)(z, h1, h_inter, F)
        upd, state = opt.update(g, state, z)
        return mf.retract(z + upd), state, v

    t0 = time.perf_counter()
    step_c = jax.jit(step).lower(jnp.asarray(z0), opt.init(jnp.asarray(z0)), *args).compile()
    compile_step_s = time.perf_counter() - t0

    # correctness of the NumPy reference against JAX before timing
    _, ge_jax = mf.value_and_euclidean_grad(frob_fit, jnp.asarray(z0), *args)
    _, ge_np = np_value_and_grad(z0, h1, h_inter, F)
    grad_rel_err = float(np.max(np.abs(ge_np - np.asarray(ge_jax))) / np.max(np.abs(ge_np)))
    zj, sj, zn = jnp.asarray(z0), opt.init(jnp.asarray(z0)), z0
    xo, do = np.zeros_like(z0), np.zeros_like(z0)
    for _ in range(5):
        zj, sj, _ = step_c(zj, sj, *args)
        zn, xo, do, _ = np_rcg_step(zn, xo, do, h1, h_inter, F)
    step_max_diff = float(np.max(np.abs(np.asarray(zj) - zn)))

    def jax_loop():
        z, s = jnp.asarray(z0), opt.init(jnp.asarray(z0))
        for _ in range(n_calls):
            z, s, _ = step_c(z, s, *args)
        z.block_until_ready()

    def np_loop():
        z, xo, do = z0, np.zeros_like(z0), np.zeros_like(z0)
        for _ in range(n_calls):
            z, xo, do, _ = np_rcg_step(z, xo, do, h1, h_inter, F)

    minimize_scan = lambda: mf.minimize(frob_fit, jnp.asarray(z0), opt, n_scan, args)[0].block_until_ready()
    t0 = time.perf_counter()
    minimize_scan()
    compile_scan_s = time.perf_counter() - t0  # first call: trace + compile + one run

    # NumPy with one BLAS thread: multithreaded OpenBLAS on these small matmuls is slower and
    # collapses on a loaded, shared CPU (jisac.runtime)
    def np_loop_1thread():
        with blas_threads(1):
            np_loop()

    jax_loop(), np_loop(), np_loop_1thread()
    t_jax, t_np, t_np1, t_scan = [], [], [], []
    for _ in range(repeats):  # interleaved: shared CPU
        t_jax.append(_best(jax_loop, 1))
        t_np.append(_best(np_loop, 1))
        t_np1.append(_best(np_loop_1thread, 1))
        t_scan.append(_best(minimize_scan, 1))
    t_jax, t_np, t_np1, t_scan = min(t_jax), min(t_np), min(t_np1), min(t_scan)
    compile_scan_s -= t_scan

    jax_sps, scan_sps = n_calls / t_jax, n_scan / t_scan
    np_sps = n_calls / min(t_np, t_np1)  # the better NumPy configuration is the baseline
    return {
        "benchmark": "manifold_step",
        "problem": {"L": L, "N": N, "M": M, "dtype": "complex64", "optimizer": "RCG PR+, fixed step"},
        "backend": jax.default_backend(),
        "device": str(jax.devices()[0]),
        "compile_step_s": round(compile_step_s, 4),
        "compile_scan_s": round(compile_scan_s, 4),
        "jax_step_steps_per_s": round(jax_sps, 1),
        "jax_scan_steps_per_s": round(scan_sps, 1),
        "numpy_steps_per_s": round(np_sps, 1),
        "numpy_default_blas_threads_steps_per_s": round(n_calls / t_np, 1),
        "numpy_1_blas_thread_steps_per_s": round(n_calls / t_np1, 1),
        "ratio_jax_step_over_numpy": round(jax_sps / np_sps, 3),
        "ratio_jax_scan_over_numpy": round(scan_sps / np_sps, 3),
        "check_numpy_grad_rel_err": grad_rel_err,
        "check_5_steps_max_abs_diff": step_max_diff,
        "check_cascade_vs_jisac_sim_max_abs": cascade_err,
        "n_calls": n_calls,
        "n_scan": n_scan,
        "repeats": repeats,
    }


if __name__ == "__main__":
    print(json.dumps(run()))
