"""Block B (paper 004 (36)-(38)): the real-embedded cvxpylayers SDR against a plain complex cvxpy
model of the same problem, the linearised outage surrogate against finite differences, and the
rank-one / hybrid output (power, unit modulus, robust SINR on the CSI-error ball boundary)."""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import block_b as bb
from jisac.algorithms.sim_lbcd._layers import (SLACK_WEIGHT, beamforming_layer, beamforming_problem,
                                               scale_lmi_parameters, solve_beamforming_direct,
                                               solve_beamforming_layer)
from jisac.designs.sim import design_mrt
from jisac.hardware.sim import sim_cascade
from jisac.scenarios import SimScenario
from jisac.schemes import MrtParams
from jisac.systems.sim import realize_sim_drops
from small_systems import SMALL_SIM



@pytest.fixture(scope="module")
def inst():
    s = SimScenario(**SMALL_SIM)
    sys = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(3), 1))
    d = design_mrt(sys, s, MrtParams(an_fraction=0.2))
    return s, sys, d


def _channels(s, sys, d, P_b):
    G = np.asarray(sim_cascade(d.theta_comm, sys.h1, sys.h_inter))
    hu = np.asarray(sys.H_users) @ G.conj() * np.sqrt(P_b / s.noise)
    he = np.asarray(sys.H_eves) @ G.conj() * np.sqrt(P_b / s.noise_eve)
    return hu, he


def _complex_objective(V, Z, hu, he, V0, Z0):
    """The SCA surrogate written directly in complex numbers (NumPy), normalised units."""
    K = hu.shape[0]
    tot, tot0 = V.sum(0) + Z, V0.sum(0) + Z0
    q = lambda h, X: float(np.real(h.conj() @ X @ h))
    val = 0.0
    for k in range(K):
        D0 = q(hu[k], tot0 - V0[k]) + 1.0
        val += np.log(q(hu[k], tot) + 1.0) - q(hu[k], tot - V[k]) / D0
        val += min(1.0 - np.log(q(g, tot0) + 1.0) - q(g, tot) / (q(g, tot0) + 1.0)
                   + np.log(q(g, tot - V[k]) + 1.0) for g in he)
    return val


def test_layer_matches_complex_cvxpy(inst):
    """Same instance, robust layer (real embedding, real S-procedure, Clarabel through
    cvxpylayers) vs cvxpy with complex Hermitian variables and the complex S-procedure LMI:
    same optimal value to solver precision (Clarabel, ~1e-8), and each solution feasible."""
    s, sys, d = inst
    P_b = bb.comm_power_budget(d, s)
    hu, he = _channels(s, sys, d, P_b)
    K, M = hu.shape
    W0 = np.asarray(d.W) / np.sqrt(P_b)
    V0 = np.einsum("mk,nk->kmn", W0, W0.conj())
    Z0 = np.asarray(d.R_AN) / P_b
    gamma = 10 ** (s.sinr_min_db / 10)
    eps = 0.05 * np.linalg.norm(hu, axis=1)
    delta = bb.outage_delta(s.eps_out)
    he_s = bb.eve_error_samples(sys, d, s, jax.random.PRNGKey(1), 128) * np.sqrt(P_b / s.noise_eve)
    target = jnp.full((K,), s.r_min)
    A, b, _ = bb.surrogate_linearization(V0, Z0, jnp.asarray(hu), he_s, delta, target)
    A, b = np.asarray(A), np.asarray(b)

    bl = beamforming_layer(M, K, he.shape[0], True, float(gamma))
    params = bb.sdr_parameters(hu, he, V0, Z0, eps=eps, lin=(A, b))
    V, Z, slack = solve_beamforming_layer(bl, params, {"solve_method": "Clarabel"})

    # --- independent complex model ---
    Vc = [cp.Variable((M, M), hermitian=True) for _ in range(K)]
    Zc = cp.Variable((M, M), hermitian=True)
    sl = cp.Variable(K, nonneg=True)
    tot = sum(Vc) + Zc
    tot0 = V0.sum(0) + Z0
    cons = [x >> 0 for x in (*Vc, Zc)] + [cp.real(sum(cp.trace(x) for x in (*Vc, Zc))) <= 1]
    obj = -SLACK_WEIGHT * np.log(2) * cp.sum(sl)
    for k in range(K):
        h = hu[k]
        qf = lambda X, g: cp.real(g.conj() @ X @ g)
        D0 = np.real(h.conj() @ (tot0 - V0[k]) @ h) + 1
        obj += cp.log(qf(tot, h) + 1) - qf(tot - Vc[k], h) / D0
        tk = cp.Variable()
        for g in he:
            T0 = np.real(g.conj() @ tot0 @ g) + 1
            cons.append(tk <= 1 - np.log(T0) - qf(tot, g) / T0 + cp.log(qf(tot - Vc[k], g) + 1))
        obj += tk
        Q = Vc[k] - gamma * (tot - Vc[k])
        lam = cp.Variable(nonneg=True)
        Qh = cp.reshape(Q @ h, (M, 1), order="F")
        corner = cp.reshape(qf(Q, h) - gamma - lam * eps[k] ** 2, (1, 1), order="F")
        lmi = cp.bmat([[Q + lam * np.eye(M), Qh], [Qh.H, corner]])
        cons.append(lmi >> 0)
        lin = b[k] + sum(cp.real(cp.trace(A[k, j] @ X)) for j, X in enumerate([*Vc, Zc]))
        cons.append(lin + sl[k] >= 0)
    prob = cp.Problem(cp.Maximize(obj), cons)
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == "optimal"

    def value(Vs, Zs, sls):
        return _complex_objective(Vs, Zs, hu, he, V0, Z0) - SLACK_WEIGHT * np.log(2) * np.sum(sls)

    v_layer = value(V, Z, slack)
    v_ref = value(np.stack([x.value for x in Vc]), Zc.value, sl.value)
    assert abs(prob.value - v_ref) < 1e-6 * max(1, abs(v_ref))   # my NumPy objective is cvxpy's
    assert abs(v_layer - v_ref) < 1e-6 * max(1, abs(v_ref))
    # the plain-cvxpy backend (used for large M) solves the same cached problem
    Vd, Zd, sld, st = solve_beamforming_direct(beamforming_problem(M, K, he.shape[0], True,
                                                                   float(gamma)), params, "CLARABEL")
    assert st == "optimal" and abs(value(Vd, Zd, sld) - v_ref) < 1e-6 * max(1, abs(v_ref))
    # the LMI scaled by 1/||h_k|| (block B's default) is the same constraint: same optimum
    bls = beamforming_layer(M, K, he.shape[0], True, float(gamma), lmi_scaled=True)
    Vs, Zs, sls = solve_beamforming_layer(bls, scale_lmi_parameters(params, K),
                                          {"solve_method": "Clarabel"})
    assert abs(value(Vs, Zs, sls) - v_ref) < 1e-6 * max(1, abs(v_ref))
    # layer solution feasible for the complex model: PSD, power, robust SINR (sampled boundary)
    assert min(np.linalg.eigvalsh(x).min() for x in (*V, Z)) > -1e-7
    assert np.trace(V.sum(0) + Z).real <= 1 + 1e-7
    rng = np.random.default_rng(0)
    for k in range(K):
        Q = V[k] - gamma * (V.sum(0) + Z - V[k])
        dd = rng.standard_normal((2000, M)) + 1j * rng.standard_normal((2000, M))
        dd *= eps[k] / np.linalg.norm(dd, axis=1, keepdims=True)
        hb = hu[k][None] + dd
        vals = np.real(np.einsum("sm,mn,sn->s", hb.conj(), Q, hb))
        assert vals.min() >= gamma - 1e-6 * max(1.0, np.abs(Q).max() * np.linalg.norm(hu[k]) ** 2)


def test_surrogate_linearization_finite_difference(inst):
    """b + Re tr(A X) is the first-order model of f(V, Z) - target: central differences along a
    random Hermitian direction (step 1e-6; error O(step^2) ~ 1e-12 relative)."""
    s, sys, d = inst
    P_b = bb.comm_power_budget(d, s)
    hu, _ = _channels(s, sys, d, P_b)
    K, M = hu.shape
    W0 = np.asarray(d.W) / np.sqrt(P_b)
    V0 = np.einsum("mk,nk->kmn", W0, W0.conj())
    Z0 = np.asarray(d.R_AN) / P_b
    he_s = bb.eve_error_samples(sys, d, s, jax.random.PRNGKey(2), 64) * np.sqrt(P_b / s.noise_eve)
    delta = bb.outage_delta(s.eps_out)
    target = jnp.full((K,), 0.1)
    A, b, f0 = bb.surrogate_linearization(V0, Z0, jnp.asarray(hu), he_s, delta, target)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((K + 1, M, M)) + 1j * rng.standard_normal((K + 1, M, M))
    X = X + np.conj(np.swapaxes(X, 1, 2))
    f = lambda t: np.asarray(bb.moment_surrogate(jnp.asarray(V0 + t * X[:K]), jnp.asarray(Z0 + t * X[K]),
                                                 jnp.asarray(hu), he_s, delta))
    h = 1e-6
    fd = (f(h) - f(-h)) / (2 * h)
    lin = np.real(np.einsum("kjmn,jnm->k", np.asarray(A), X))
    np.testing.assert_allclose(lin, fd, rtol=1e-6, atol=1e-8)
    X0 = np.concatenate([V0, Z0[None]])
    np.testing.assert_allclose(np.asarray(b) + np.real(np.einsum("kjmn,jnm->k", np.asarray(A), X0)),
                               np.asarray(f0) - 0.1, rtol=1e-10, atol=1e-12)
    assert bb.outage_delta(0.1) == pytest.approx(1.2815515655446004, rel=1e-12)


def test_block_output_power_modulus_robust_sinr(inst):
    """Full block (robust): returned hybrid design has unit-modulus W_RF, comm power <= budget,
    and -- when reported feasible -- SINR_k >= gamma for CSI errors sampled on the ball boundary
    (the worst_case_sinr bound is a certified lower bound, so no tolerance beyond round-off)."""
    s, sys, d = inst
    d1, info = bb.beamforming_block(sys, d, s, robust=True, key=jax.random.PRNGKey(5), n_rand=16,
                                    n_mc=64, solver="Clarabel")
    d2, info2 = bb.beamforming_block(sys, d1, s, robust=True, key=jax.random.PRNGKey(6), n_rand=16,
                                     n_mc=64, solver="Clarabel")
    for dd, inf in ((d1, info), (d2, info2)):
        assert inf["attempts"] and inf["status"].startswith("optimal"), inf["status"]
        np.testing.assert_allclose(np.abs(np.asarray(dd.W_RF)), 1.0, atol=1e-12)
        W, R = np.asarray(dd.W), np.asarray(dd.R_AN)
        p = np.sum(np.abs(W) ** 2) + np.trace(R).real
        assert p <= inf["power_budget"] * (1 + 1e-9)
        assert np.linalg.eigvalsh(R).min() >= -1e-9 * inf["power_budget"]
    assert info2["feasible"]
    W, R = np.asarray(d2.W), np.asarray(d2.R_AN)
    G = np.asarray(sim_cascade(d2.theta_comm, sys.h1, sys.h_inter))
    hu = np.asarray(sys.H_users) @ G.conj()
    eps = s.csi_error_bound * np.linalg.norm(hu, axis=1)
    gamma = 10 ** (s.sinr_min_db / 10)
    rng = np.random.default_rng(2)
    K, M = hu.shape
    for k in range(K):
        dd = rng.standard_normal((4000, M)) + 1j * rng.standard_normal((4000, M))
        hb = hu[k][None] + dd * (eps[k] / np.linalg.norm(dd, axis=1, keepdims=True))
        g = np.abs(hb.conj() @ W) ** 2
        an = np.real(np.einsum("sm,mn,sn->s", hb.conj(), R, hb))
        sinr = g[:, k] / (g.sum(1) - g[:, k] + an + s.noise)
        assert sinr.min() >= gamma * (1 - 1e-9)
        assert sinr.min() >= info2["sinr_worst"][k] * (1 - 1e-9)


def test_non_robust_and_failure_paths(inst):
    """NR variant solves (no LMI, no outage rows); a zero power budget returns the previous design
    with a status instead of raising."""
    s, sys, d = inst
    d1, info = bb.beamforming_block(sys, d, s, robust=False, key=jax.random.PRNGKey(7), n_rand=16,
                                    solver="Clarabel")
    assert info["status"].startswith("optimal") and info["outage_slack"] is None
    assert "outage_surrogate" not in info
    bad = d.__class__(d.theta_comm, d.theta_sense, d.theta_ce, d.W_RF, d.W_BB, d.R_AN, d.tau,
                      d.p_sense, jnp.zeros_like(d.p_comm))
    d2, info2 = bb.beamforming_block(sys, bad, s, key=jax.random.PRNGKey(8))
    assert info2["status"] == "no_power_budget" and d2 is bad


def test_effective_channels_reference_and_compiled_once(inst):
    """``_effective`` (jitted) equals the cascade written out in NumPy, ``G = Phi_L H^(L) ...
    Phi_1 H^(1)`` (004 (2)), ``h_eff = G^H h`` as rows; a second design with the same shapes
    re-uses the compiled kernel (called eagerly, ``sim_cascade``'s scan recompiled every call)."""
    s, sys, d = inst
    th, h1, hi = (np.asarray(x) for x in (d.theta_comm, sys.h1, sys.h_inter))
    G = np.exp(1j * th[0])[:, None] * h1
    for l in range(1, th.shape[0]):
        G = np.exp(1j * th[l])[:, None] * (hi[l - 1] @ G)
    Gj, hu, he = bb._effective(sys, d)
    np.testing.assert_allclose(np.asarray(Gj), G, rtol=1e-12, atol=1e-12 * np.abs(G).max())
    np.testing.assert_allclose(np.asarray(hu), np.asarray(sys.H_users) @ G.conj(), rtol=1e-11,
                               atol=1e-12 * np.abs(np.asarray(hu)).max())
    np.testing.assert_allclose(np.asarray(he), np.asarray(sys.H_eves) @ G.conj(), rtol=1e-11,
                               atol=1e-12 * np.abs(np.asarray(he)).max())
    n0 = bb._effective_kernel._cache_size()
    d2 = d.__class__(d.theta_comm + 0.3, d.theta_sense, d.theta_ce, d.W_RF, d.W_BB, d.R_AN, d.tau,
                     d.p_sense, d.p_comm)
    bb._effective(sys, d2)
    assert bb._effective_kernel._cache_size() == n0


def test_repair_sdr_is_the_psd_projection_within_budget():
    """``repair_sdr``: PSD-feasible input within the budget is returned unchanged; otherwise the
    result is the eigenvalue-clipped matrix (NumPy, written here) scaled onto trace 1."""
    rng = np.random.default_rng(4)
    M, K = 5, 2

    def herm(a):
        return 0.5 * (a + a.conj().T)

    A = [herm(rng.standard_normal((M, M)) + 1j * rng.standard_normal((M, M))) for _ in range(K + 1)]
    good = [a @ a.conj().T for a in A]
    tot = sum(np.trace(g).real for g in good)
    V0, Z0 = np.stack(good[:K]) / (2 * tot), good[K] / (2 * tot)
    V1, Z1 = bb.repair_sdr(V0, Z0)
    np.testing.assert_allclose(V1, V0, atol=1e-14)
    np.testing.assert_allclose(Z1, Z0, atol=1e-14)
    V0, Z0 = np.stack(A[:K]), A[K]                      # indefinite, trace unrelated to 1
    V1, Z1 = bb.repair_sdr(V0, Z0)
    ref = []
    for a in (*A[:K], A[K]):
        w, U = np.linalg.eigh(a)
        ref.append(U @ np.diag(np.clip(w, 0, None)) @ U.conj().T)
    scale = 1.0 / max(1.0, sum(np.trace(r).real for r in ref))
    np.testing.assert_allclose(V1, np.stack(ref[:K]) * scale, atol=1e-12)
    np.testing.assert_allclose(Z1, ref[K] * scale, atol=1e-12)
    assert min(np.linalg.eigvalsh(x).min() for x in (*V1, Z1)) >= -1e-12
    assert np.trace(V1.sum(0) + Z1).real <= 1 + 1e-12


@pytest.mark.parametrize("bump, repaired", [(1e-3, True), (0.3, False)])
def test_slightly_inexact_sdr_answer_is_repaired_not_failed(inst, monkeypatch, bump, repaired):
    """A solver answer with a PSD/power residual just above ``tol`` (the Sec.-V Clarabel case,
    4.5e-4) is repaired and used; a gross one (above ``repair_tol``) still fails the block with
    the previous design kept. The repaired output keeps the power budget and a PSD AN."""
    s, sys, d = inst
    real = bb.solve_beamforming_layer

    def inexact(bl, params, args, basis=None):
        V, Z, slack = real(bl, params, args, basis=basis)
        V = np.array(V)
        V[0] = V[0] - bump * np.eye(V.shape[-1])        # min eigenvalue about -bump
        return V, np.asarray(Z) * (1 + bump), slack

    monkeypatch.setattr(bb, "solve_beamforming_layer", inexact)
    d1, info = bb.beamforming_block(sys, d, s, robust=True, key=jax.random.PRNGKey(5), n_rand=16,
                                    n_mc=64, solver="Clarabel")
    if repaired:
        assert info["status"].startswith("optimal") and info["status"].endswith("_sdr_repaired")
        assert len(info["attempts"]) == 1 and info["attempts"][0][1].startswith("repaired")
        assert 1e-4 < info["sdr_repaired_residual"] <= 1e-2
        W, R = np.asarray(d1.W), np.asarray(d1.R_AN)
        assert np.sum(np.abs(W) ** 2) + np.trace(R).real <= info["power_budget"] * (1 + 1e-9)
        assert np.linalg.eigvalsh(R).min() >= -1e-12 * info["power_budget"]
    else:
        assert info["status"] == "solver_failed: previous design kept" and d1 is d
        assert [a[1].split("(")[0] for a in info["attempts"]] == ["inaccurate", "inaccurate"]
