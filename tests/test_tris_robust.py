"""Tests for jisac.evaluation.tris_robust: exact worst cases and outage thresholds of a fixed
design, each against an independent reference written here (cvxpy S-procedure SDP with
complex variables, dense sampling on the uncertainty-ball boundary, Monte Carlo at a stated
5-sigma level, explicit loops)."""

import math

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np

from jisac.convex.bernstein import bernstein_e_plus
from jisac.evaluation.tris_robust import (
    common_rate_46,
    iu_outage_margin,
    lu_outage_threshold,
    trs_max,
    worst_case_leakage,
    worst_case_sinr,
)

N = 4


def _cn(rng, *s):
    return (rng.standard_normal(s) + 1j * rng.standard_normal(s)) / np.sqrt(2)


def _psd(rng, rank=2, scale=1.0):
    A = _cn(rng, N, rank)
    return scale * A @ A.conj().T


def _sdp_trs(U, h, eps):
    """max_{||d||<=eps} (h+d)^H U (h+d) as the S-procedure SDP min t (complex cvxpy)."""
    s, t = cp.Variable(nonneg=True), cp.Variable()
    Uh = U @ h
    M = cp.bmat([[s * np.eye(N) - U, -Uh[:, None]],
                 [-Uh.conj()[None, :], cp.reshape(t - np.real(np.vdot(h, Uh)) - s * eps**2, (1, 1), order="F")]])
    cp.Problem(cp.Minimize(t), [M >> 0]).solve(solver="CLARABEL")
    return t.value


def test_trs_max_matches_sdp_and_sampling(rng):
    for trial in range(4):
        U = _psd(rng, 2) - _psd(rng, 2)          # indefinite
        h = _cn(rng, N)
        eps = 0.3 + 0.2 * trial
        v = trs_max(U, h, eps)
        assert abs(v - _sdp_trs(U, h, eps)) <= 1e-6 * max(1.0, abs(v))   # Clarabel ~1e-8
        d = _cn(rng, 20000, N)
        # boundary and interior samples never exceed the maximum (tightness: the SDP above)
        d = eps * d / np.linalg.norm(d, axis=1, keepdims=True) * rng.uniform(0, 1, (20000, 1)) ** 0.1
        samp = np.real(np.einsum("sn,nm,sm->s", (h + d).conj(), U, h + d))
        assert samp.max() <= v + 1e-9 * abs(v)


def test_worst_case_sinr_and_leakage_by_sampling(rng):
    Wk, S, h, eps, noise = _psd(rng, 1, 3.0), _psd(rng, 2), _cn(rng, N), 0.2, 0.5
    chi = worst_case_sinr(Wk, S, h, eps, noise)
    d = _cn(rng, 50000, N)
    d = eps * d / np.linalg.norm(d, axis=1, keepdims=True)
    q = lambda A: np.real(np.einsum("sn,nm,sm->s", (h + d).conj(), A, h + d))
    sinr = q(Wk) / (q(S) + noise)
    assert sinr.min() >= chi * (1 - 1e-6)
    assert sinr.min() <= chi * 1.05
    # the S-procedure certificate at chi is tight: at chi (1 + 1e-4) it fails
    assert trs_max(chi * S - Wk, h, eps) + chi * noise <= 1e-9 * chi
    assert trs_max(chi * 1.0001 * S - Wk, h, eps) + chi * 1.0001 * noise > 0
    Wc, g, tau, neff = _psd(rng, 2), _cn(rng, N), 0.3, 0.7
    iota = worst_case_leakage(Wk, Wc, g, tau, neff)
    q = lambda A: np.real(np.einsum("sn,nm,sm->s", (g + d / eps * tau).conj(), A, g + d / eps * tau))
    leak = q(Wk) / (q(Wc) + neff)
    assert leak.max() <= iota * (1 + 1e-6)
    assert leak.max() >= iota * 0.95


def test_lu_outage_threshold_monte_carlo(rng, key):
    Wk, S, h = _psd(rng, 1, 4.0), _psd(rng, 2, 0.3), _cn(rng, N) * 2
    sigma_e, noise, p_out = 0.1, 1.0, 0.05
    u = lu_outage_threshold(Wk, S, h, sigma_e, noise, p_out)
    assert u > 0
    n = 200_000
    e = np.asarray(jax.random.normal(key, (n, N), jnp.complex128))
    hh = h[None] + sigma_e * e
    q = lambda A: np.real(np.einsum("sn,nm,sm->s", hh.conj(), A, hh))
    p = np.mean(q(Wk) / (q(S) + noise) <= u)
    assert p <= p_out + 5 * math.sqrt(p_out * (1 - p_out) / n)
    # u is the largest certified threshold: the Lemma-1 value at u is ~0, negative beyond
    s1 = -math.log(p_out)

    def phi(x):
        A = Wk - x * S
        Q, r = sigma_e**2 * A, sigma_e * A @ h
        lam = np.linalg.eigvalsh(Q)
        spread = np.sum(np.abs(Q) ** 2) + 2 * np.sum(np.abs(r) ** 2)
        return (np.trace(Q).real - math.sqrt(2 * s1 * spread) - s1 * max(-lam[0], 0)
                + np.real(np.vdot(h, A @ h)) - x * noise)
    assert abs(phi(u)) <= 1e-8 * max(1.0, u) and phi(u * 1.001) < 0


def test_iu_margin_and_common_rate_vs_references(rng):
    Wk, Wc, g = _psd(rng, 1), _psd(rng, 2), _cn(rng, N)
    E = 0.2 * np.eye(N)
    r_e, p_out, neff = 0.5, 0.05, 2.0
    b = 1 / (2**r_e - 1)
    A = b * Wk - Wc
    ep = float(bernstein_e_plus(jnp.asarray(E @ A @ E), jnp.asarray(E @ A @ g), -math.log(p_out)))
    c = np.real(np.vdot(g, A @ g)) - neff
    assert abs(iu_outage_margin(Wk, Wc, g, E, neff, r_e, p_out) + (ep + c)) <= 1e-10 * abs(ep)
    H = _cn(rng, 2, N)
    W = np.stack([_psd(rng, 1), Wk, _psd(rng, 1)])
    sig, noise = 0.1, np.array([0.5, 0.8])
    ref = min(math.log2(1 + np.real(np.vdot(H[k], W[0] @ H[k]) + sig**2 * np.trace(W[0]))
                        / (sum(np.real(np.vdot(H[k], Wi @ H[k]) + sig**2 * np.trace(Wi)) for Wi in W[1:])
                           + noise[k])) for k in range(2))
    assert abs(common_rate_46(W, H, sig, noise) - ref) <= 1e-12
