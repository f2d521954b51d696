"""Tests for jisac.convex.tris_p22 (the (P2.2) block) and the t-LP of the driver.

References written here: the same B2 problem in plain cvxpy with complex Hermitian data and
complex LMIs (no real embedding); the exact worst cases / outage threshold of
jisac.evaluation.tris_robust (TRS + bisection, itself tested in test_tris_robust.py); Monte
Carlo of the LU rate outage (2e5 draws, 5 sigma); the t-LP in cvxpy.
"""

import math

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.algorithms.tris_rsma import allocate_slots
from jisac.convex.tris_p22 import build_p22_slot
from jisac.evaluation.tris_robust import SlotData, slot_value

N, K, M = 4, 2, 1
SIGMA_E, P_OUT, R_S = 0.05, 0.05, 3.5


def _instance():
    rng = np.random.default_rng(3)
    cr = lambda *s: (rng.standard_normal(s) + 1j * rng.standard_normal(s)) / np.sqrt(2)
    h = cr(K, N)
    g = np.sqrt(2) * np.exp(-1j * rng.uniform(0, 2 * np.pi) * np.arange(N))[None]
    wc = 3.0 * h.sum(0)
    W = np.stack([np.outer(wc, wc.conj())]
                 + [0.4 * np.outer(h[k], h[k].conj()) / np.linalg.norm(h[k]) ** 2 * N
                    for k in range(K)])
    d = SlotData(h=h, eps_sq=np.full(K, 0.02), noise=np.full(K, 0.2), sigma_e=SIGMA_E, g=g,
                 tau_sq=np.full(M, 0.05), K_dist=np.full(M, 5.0), delta_sq=np.full(M, 0.01),
                 E_sqrt=np.stack([0.1 * np.eye(N)] * M), p_out_lu=P_OUT, p_out_iu=P_OUT,
                 r_s=R_S, r_e=1.0, p_min=0.0, R=np.eye(N), sqd=10.0)
    return W, d


@pytest.fixture(scope="module")
def layer():
    return build_p22_slot(N, K, M, p_out_lu=P_OUT, sigma_e=SIGMA_E, r_s=R_S)


def _inputs(W, d, iota0):
    from jisac.evaluation.tris_robust import common_rate_46
    return dict(W=W, h_hat=d.h, eps_sq=d.eps_sq, noise_lu=d.noise, g_hat=d.g, tau_sq=d.tau_sq,
                K_dist=d.K_dist, delta_sq=d.delta_sq, iota0=iota0,
                R_c=common_rate_46(W, d.h, d.sigma_e, d.noise))


def _reference(W, d, iota0, R_c):
    """(P2.2) written directly with complex data: complex LMIs, complex Bernstein SOC."""
    s1 = -math.log(d.p_out_lu)
    chi, iota, C = (cp.Variable(K, nonneg=True) for _ in range(3))
    u, v, o, om = (cp.Variable(K) for _ in range(4))
    I = np.eye(N)
    cons = [cp.sum(C) <= R_c]
    for k in range(K):
        h, Wk = d.h[k], W[k + 1]
        S = W[1:].sum(0) - Wk
        th = cp.Variable(nonneg=True)
        U = chi[k] * S - Wk
        Uh = chi[k] * (S @ h) - Wk @ h
        hUh = chi[k] * np.real(np.vdot(h, S @ h)) - np.real(np.vdot(h, Wk @ h))
        corner = -hUh - d.noise[k] * chi[k] - th * d.eps_sq[k]
        cons.append(cp.bmat([[th * I - U, -cp.reshape(Uh, (N, 1), order="F")],
                             [-cp.reshape(cp.conj(Uh), (1, N), order="F"),
                              cp.reshape(corner, (1, 1), order="F")]]) >> 0)
        cons.append(o[k] - C[k] <= cp.log(1 + chi[k]) / math.log(2))
        cons.append(om[k] >= math.log2(1 + iota0[k]) + (iota[k] - iota0[k]) / ((1 + iota0[k]) * math.log(2)))
        A = Wk - u[k] * S
        Q = d.sigma_e**2 * A
        r = d.sigma_e * (Wk @ h - u[k] * (S @ h))
        c = np.real(np.vdot(h, Wk @ h)) - u[k] * (np.real(np.vdot(h, S @ h)) + d.noise[k])
        z, nu = cp.Variable(nonneg=True), cp.Variable(nonneg=True)
        cons += [cp.real(cp.trace(Q)) + c - math.sqrt(2 * s1) * z - s1 * nu >= 0,
                 cp.norm(cp.hstack([cp.vec(Q, order="F"), math.sqrt(2) * r])) <= z,
                 nu * I + Q >> 0, C[k] + v[k] >= d.r_s, v[k] <= cp.log(1 + u[k]) / math.log(2)]
        for m in range(M):
            g = d.g[m]
            pi, ze, be = cp.Variable(), cp.Variable(nonneg=True), cp.Variable(nonneg=True)
            Ut = Wk - iota[k] * W[0]
            Ug = Wk @ g - iota[k] * (W[0] @ g)
            gUg = np.real(np.vdot(g, Wk @ g)) - iota[k] * np.real(np.vdot(g, W[0] @ g))
            cons.append(cp.bmat([[ze * I - Ut, -cp.reshape(Ug, (N, 1), order="F")],
                                 [-cp.reshape(cp.conj(Ug), (1, N), order="F"),
                                  cp.reshape(-gUg + pi - ze * d.tau_sq[m], (1, 1), order="F")]]) >> 0)
            # (74) in physical-like form with d_hat = 1 (only the ratio delta matters):
            # pi <= K iota (1 + x)^2 for all |x| <= delta, real S-lemma
            Ki = d.K_dist[m] * iota[k]
            P = cp.bmat([[cp.reshape(be + Ki, (1, 1), order="F"), cp.reshape(Ki, (1, 1), order="F")],
                         [cp.reshape(Ki, (1, 1), order="F"),
                          cp.reshape(Ki - be * d.delta_sq[m] - pi, (1, 1), order="F")]])
            cons.append(P >> 0)
    prob = cp.Problem(cp.Maximize(cp.sum(o - om)), cons)
    prob.solve(solver="CLARABEL")
    return prob.value, chi.value, iota.value


def test_p22_layer_matches_complex_cvxpy_and_exact_worst_cases(layer):
    W, d = _instance()
    ref = slot_value(W, d)
    assert ref["R_c"] > np.sum(ref["C_lo"]) > 0  # a non-trivial instance (outage active)
    iota0 = ref["iota"]                     # SCA point at the optimum: (70) is then exact
    inp = _inputs(W, d, iota0)
    out = layer(solver_args={"solve_method": "Clarabel"}, **inp)
    val = float(np.sum(np.asarray(out["o"]) - np.asarray(out["omega"])))
    v_ref, chi_ref, iota_ref = _reference(W, d, iota0, inp["R_c"])
    # Clarabel on both: interior-point accuracy ~1e-8 relative; 1e-6 leaves margin
    assert abs(val - v_ref) <= 1e-6 * max(1.0, abs(v_ref))
    np.testing.assert_allclose(np.asarray(out["chi"]), chi_ref, rtol=1e-5)
    # lossless S-procedure: chi, iota are the exact worst cases (TRS + bisection)
    np.testing.assert_allclose(np.asarray(out["chi"]), ref["chi"], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out["iota"]), ref["iota"], rtol=1e-5)
    np.testing.assert_allclose(iota_ref, ref["iota"], rtol=1e-5)
    # the slot value of the closed-form evaluator (sum_k C_k = R_c at the optimum)
    assert abs(val - ref["value"]) <= 1e-5 * max(1.0, abs(ref["value"]))


def test_p22_solution_meets_lu_outage_by_monte_carlo(layer, key):
    W, d = _instance()
    ref = slot_value(W, d)
    out = layer(solver_args={"solve_method": "Clarabel"}, **_inputs(W, d, ref["iota"]))
    assert np.sum(np.asarray(out["C"])) <= _inputs(W, d, ref["iota"])["R_c"] + 1e-7
    # the smallest share the layer's threshold u certifies (sharper than the LP's split C)
    C = d.r_s - np.log2(1 + np.asarray(out["u"]))
    assert np.all(C <= np.asarray(out["C"]) + 1e-7)
    n = 200_000
    for k in range(K):
        e = np.asarray(jax.random.normal(jax.random.fold_in(key, k), (n, N), jnp.complex128))
        hh = d.h[k][None] + d.sigma_e * e
        q = lambda A: np.real(np.einsum("sn,nm,sm->s", hh.conj(), A, hh))
        S = W[1:].sum(0) - W[k + 1]
        rate = C[k] + np.log2(1 + q(W[k + 1]) / (q(S) + d.noise[k]))
        p = np.mean(rate < d.r_s)
        assert p <= P_OUT + 5 * math.sqrt(P_OUT * (1 - P_OUT) / n)
        # the constraint is active at the minimal share (otherwise the test is vacuous)
        assert ref["C_lo"][k] > 0


def test_allocate_slots_is_the_lp_optimum(rng):
    for _ in range(5):
        L = 5
        f = rng.normal(size=L)
        t = allocate_slots(f, 0.5, 3.5, 10.0)
        x = cp.Variable(L)
        prob = cp.Problem(cp.Maximize(f @ x), [x >= 0.5, x <= 3.5, cp.sum(x) <= 10.0])
        prob.solve(solver="CLARABEL")
        assert abs(f @ t - prob.value) <= 1e-7 * max(1.0, abs(prob.value))
        assert np.all(t >= 0.5 - 1e-12) and np.all(t <= 3.5 + 1e-12) and t.sum() <= 10 + 1e-12
