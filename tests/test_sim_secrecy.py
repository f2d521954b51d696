"""AN-aided secrecy metrics of paper 004 (eqs. (17)-(22)) through a SIM cascade.

References: NumPy loops over users, eavesdroppers and streams; central finite differences (x64).
Sizes: M = 4, L = 2, N_l = 9, K = 2, E = 2.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jisac.hardware.sim import sim_cascade, sim_effective_channels
from jisac.metrics.sim_secrecy import (
    effective_channels,
    eve_sinr,
    secrecy_rates,
    sum_secrecy_rate,
    user_sinr,
)

M, L, N, K, E = 4, 2, 9, 2, 2


def _crandn(rng, *shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def _system(rng, eve_scale=0.3):
    h1 = _crandn(rng, N, M) / np.sqrt(M)
    hi = _crandn(rng, L - 1, N, N) / np.sqrt(N)
    hu = _crandn(rng, K, N) / np.sqrt(N)
    he = eve_scale * _crandn(rng, E, N) / np.sqrt(N)
    w = _crandn(rng, M, K)
    a = _crandn(rng, M, M)
    r_an = 0.05 * a @ a.conj().T
    theta = rng.uniform(0, 2 * np.pi, (L, N))
    return h1, hi, hu, he, w, r_an, theta


def _ref_sinr(h_eff, w, r_an, sigma2):
    """NumPy loops: [j, k] = |h_j^H w_k|^2 / (sum_{i != k} |h_j^H w_i|^2 + h_j^H R h_j + sigma2_j)."""
    out = np.zeros((h_eff.shape[0], w.shape[1]))
    for j in range(h_eff.shape[0]):
        for k in range(w.shape[1]):
            sig = abs(np.vdot(h_eff[j], w[:, k])) ** 2
            interf = sum(abs(np.vdot(h_eff[j], w[:, i])) ** 2 for i in range(w.shape[1]) if i != k)
            an = np.real(np.vdot(h_eff[j], r_an @ h_eff[j]))
            out[j, k] = sig / (interf + an + sigma2[j])
    return out


def test_effective_channels(rng):
    h1, hi, hu, _, _, _, theta = _system(rng)
    g = np.asarray(sim_cascade(jnp.asarray(theta), jnp.asarray(h1), jnp.asarray(hi)))
    eff = np.asarray(effective_channels(jnp.asarray(hu), jnp.asarray(g)))
    for k in range(K):
        # h_eff,k^H = h_k^H G  (eq. (17))
        np.testing.assert_allclose(eff[k].conj(), hu[k].conj() @ g, rtol=1e-12)
    eff2 = np.asarray(sim_effective_channels(jnp.asarray(hu), jnp.asarray(theta), jnp.asarray(h1), jnp.asarray(hi)))
    np.testing.assert_allclose(eff2, eff, rtol=1e-12, atol=1e-14)


def test_sinr_and_secrecy_vs_loops(rng):
    h1, hi, hu, he, w, r_an, theta = _system(rng)
    g = np.asarray(sim_cascade(jnp.asarray(theta), jnp.asarray(h1), jnp.asarray(hi)))
    eu = np.stack([g.conj().T @ hu[k] for k in range(K)])
    ee = np.stack([g.conj().T @ he[e] for e in range(E)])
    s_u, s_e = np.array([0.5, 0.7]), np.array([0.4, 0.9])
    ref_u = np.diag(_ref_sinr(eu, w, r_an, s_u))
    ref_e = _ref_sinr(ee, w, r_an, s_e)
    args = [jnp.asarray(x) for x in (eu, ee, w, r_an)]
    np.testing.assert_allclose(np.asarray(user_sinr(args[0], args[2], args[3], jnp.asarray(s_u))), ref_u, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(eve_sinr(args[1], args[2], args[3], jnp.asarray(s_e))), ref_e, rtol=1e-12)
    ref_sec = np.zeros(K)
    for k in range(K):
        ref_sec[k] = max(np.log2(1 + ref_u[k]) - max(np.log2(1 + ref_e[e, k]) for e in range(E)), 0.0)
    got = np.asarray(secrecy_rates(*args, jnp.asarray(s_u), jnp.asarray(s_e)))
    np.testing.assert_allclose(got, ref_sec, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(float(sum_secrecy_rate(*args, jnp.asarray(s_u), jnp.asarray(s_e))), ref_sec.sum(),
                               rtol=1e-12)
    # scalar noise powers broadcast the same way
    np.testing.assert_allclose(np.asarray(user_sinr(args[0], args[2], args[3], 0.5)),
                               np.diag(_ref_sinr(eu, w, r_an, np.full(K, 0.5))), rtol=1e-12)


def test_secrecy_nonnegative_and_clipped(rng):
    """[.]^+ of eq. (22): strong eavesdroppers give exactly 0, never negative."""
    for scale in (0.1, 1.0, 10.0):
        h1, hi, hu, he, w, r_an, theta = _system(rng, eve_scale=scale)
        eff_u = sim_effective_channels(jnp.asarray(hu), jnp.asarray(theta), jnp.asarray(h1), jnp.asarray(hi))
        eff_e = sim_effective_channels(jnp.asarray(he), jnp.asarray(theta), jnp.asarray(h1), jnp.asarray(hi))
        r = np.asarray(secrecy_rates(eff_u, eff_e, jnp.asarray(w), jnp.asarray(r_an), 1.0, 1.0))
        assert np.all(r >= 0.0)
        if scale == 10.0:
            assert np.all(r == 0.0)


def _objective(h1, hi, hu, he, w, r_an):
    def f(theta):
        eu = sim_effective_channels(hu, theta, h1, hi)
        ee = sim_effective_channels(he, theta, h1, hi)
        return sum_secrecy_rate(eu, ee, w, r_an, 1.0, 1.0)
    return f


def test_gradient_vs_central_differences(rng):
    """d(sum secrecy rate)/d(theta) through the SIM vs central differences, step 1e-5.

    Smooth region asserted first: every user's secrecy rate > 0.05 and its two eavesdropper rates
    differ by > 1e-3; a step of 1e-5 moves any rate by ~|grad| * 1e-5 << 1e-3 (|grad| = O(1) here),
    so no [.]^+ / max kink lies within the stencil. Truncation error ~ h^2 |f'''| ~ 1e-10,
    round-off ~ eps |f| / h ~ 1e-10, so atol 1e-7 is loose by 1000x yet catches any wrong term.
    """
    h1, hi, hu, he, w, r_an, theta = [jnp.asarray(x) for x in _system(rng)]
    f = _objective(h1, hi, hu, he, w, r_an)
    eu = sim_effective_channels(hu, theta, h1, hi)
    ee = sim_effective_channels(he, theta, h1, hi)
    sec = np.asarray(secrecy_rates(eu, ee, w, r_an, 1.0, 1.0))
    re = np.log2(1 + np.asarray(eve_sinr(ee, w, r_an, 1.0)))
    assert np.all(sec > 0.05), sec
    assert np.all(np.abs(re[0] - re[1]) > 1e-3), re
    g = np.asarray(jax.jit(jax.grad(f))(theta))
    step = 1e-5
    basis = step * np.eye(L * N).reshape(L * N, L, N)  # one perturbed coordinate per row
    fb = jax.jit(jax.vmap(f))
    fd = ((np.asarray(fb(theta[None] + basis)) - np.asarray(fb(theta[None] - basis))) / (2 * step)).reshape(L, N)
    np.testing.assert_allclose(g, fd, atol=1e-7)
    assert np.abs(g).max() > 1e-3  # the check is not vacuous


def test_nan_safe_at_zero_power(rng):
    h1, hi, hu, he, w, r_an, theta = [jnp.asarray(x) for x in _system(rng)]

    def f(theta, w, r_an):
        eu = sim_effective_channels(hu, theta, h1, hi)
        ee = sim_effective_channels(he, theta, h1, hi)
        return sum_secrecy_rate(eu, ee, w, r_an, 1.0, 1.0)

    grads = jax.jit(jax.grad(f, argnums=(0, 1, 2)))(theta, jnp.zeros_like(w), jnp.zeros_like(r_an))
    for gr in grads:
        assert np.all(np.isfinite(np.asarray(gr)))
    assert float(f(theta, jnp.zeros_like(w), jnp.zeros_like(r_an))) == 0.0
