"""Tests for jisac.algorithms.rank_one (rank-1 recovery after SDR), against references here:
exact eigen-structure, the Gaussian-randomisation covariance by Monte Carlo (5 sigma of the
entrywise sample mean), per-element / total power by explicit row sums."""

import numpy as np

from jisac.algorithms.rank_one import (
    gaussian_beams,
    principal_beams,
    recover_rank_one,
    repair_power,
)

N, K1 = 4, 3


def _beams(rng):
    return (rng.standard_normal((N, K1)) + 1j * rng.standard_normal((N, K1))) / np.sqrt(2)


def test_principal_beams_exact_for_rank_one(rng):
    w = _beams(rng)
    Wm = np.einsum("ni,mi->inm", w, w.conj())
    p = principal_beams(Wm)
    # equal up to a per-column phase
    for i in range(K1):
        ph = np.vdot(p[:, i], w[:, i]) / abs(np.vdot(p[:, i], w[:, i]))
        np.testing.assert_allclose(p[:, i] * ph, w[:, i], atol=1e-12)


def test_gaussian_beams_covariance_monte_carlo(rng):
    A = _beams(rng)[:, :2]
    W = np.stack([A @ A.conj().T] * K1)
    n = 100_000
    z = gaussian_beams(W, rng, n)                         # (n, N, K1)
    emp = np.einsum("sn,sm->nm", z[:, :, 0], z[:, :, 0].conj()) / n
    # entry (n, m) of w w^H has variance <= W_nn W_mm (Gaussian fourth moment); 5 sigma
    sd = np.sqrt(np.real(np.outer(np.diag(W[0]), np.diag(W[0]))) / n)
    assert np.all(np.abs(emp - W[0]) <= 5 * sd)


def test_repair_keeps_element_and_total_power(rng):
    w = 3 * _beams(rng)
    rep = repair_power(w, 1.0, "element")
    rows = np.sum(np.abs(rep) ** 2, axis=1)
    assert np.all(rows <= 1.0 + 1e-12)
    over = np.sum(np.abs(w) ** 2, axis=1) > 1.0
    np.testing.assert_allclose(rows[over], 1.0, rtol=1e-12)      # violating rows land on P_t
    small = 0.1 * _beams(rng)
    np.testing.assert_allclose(repair_power(small, 1.0, "element"), small)  # untouched
    tot = repair_power(w, 1.0, "total")
    np.testing.assert_allclose(np.sum(np.abs(tot) ** 2), N * 1.0, rtol=1e-12)


def test_recover_picks_best_feasible_and_keeps_element_power(rng):
    A = _beams(rng)
    W = np.stack([np.outer(A[:, i], A[:, i].conj()) + 0.3 * np.eye(N) for i in range(K1)])
    calls = []

    def score(w):
        calls.append(w)
        val = float(np.sum(np.abs(w[:, 1]) ** 2))
        return val, bool(np.abs(w[0, 0]) < 0.6)          # an arbitrary feasibility rule

    w, info = recover_rank_one(W, score, p_t=0.5, n_random=30, seed=1)
    assert np.all(np.sum(np.abs(w) ** 2, axis=1) <= 0.5 + 1e-12)
    assert info["n_candidates"] == 31 and len(calls) == 31
    scored = [score(c) for c in list(calls)]
    feas = [v for v, f in scored if f]
    assert info["feasible"] and info["value"] == max(feas)
