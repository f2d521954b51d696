"""Tests for the rank-1 power repair (jisac.algorithms.tris_power_repair, the repair path of
jisac.algorithms.rank_one.recover_rank_one, and the rank-1 restriction of the (P2.1) block).

Instance: the N=4, K=2, M=1 system of tests/test_tris_bcd.py, slot 0, detection off; the
covariances are one phase-1 B1 solve. Tightening the eavesdropping threshold r_e by 10x (the
IU-outage surrogate (58)-(60) becomes much harder) leaves NO feasible randomised candidate;
the repair must return beams that independent checks written here find feasible:

* per-element power (34d) by row sums (<= P_t (1 + 1e-9)), total power for TRSMA;
* the Bernstein IU-outage and LU-outage surrogates (58)-(60), (51)-(53) as feasibility
  problems in their slack variables, written in plain cvxpy with complex matrices;
* Monte Carlo (1e5 draws) of the actual IU leakage outage Pr{gamma_km >= 2^{r_e} - 1} and of the
  LU private-rate outage Pr{log2(1 + gamma_p,k) < r_s - C_k} under the Gaussian error models,
  below the targets;
* the caller's score (exact robust evaluation) -- the judge used by the driver.

Also: "always" mode never returns less than the best feasible candidate; a repair that cannot
succeed (beampattern budget ~0) is recorded as "failed" and the old behaviour remains; the
restricted block at the directions of a rank-1 SDR optimum has the SDR's optimal value.
"""

import dataclasses
import math

import cvxpy as cp
import jax
import numpy as np
import pytest

from jisac.algorithms.rank_one import recover_rank_one
from jisac.algorithms.tris_power_repair import repair_slot_powers
from jisac.algorithms.tris_rsma import _SOLVERS, _b1_inputs, get_layers
from jisac.convex.tris_blocks import build_p21_margin_slot
from jisac.evaluation.tris_robust import slot_data, slot_value
from jisac.scenarios import TrisScenario
from jisac.systems.tris import realize_tris_drops

SMALL = dict(n_rows=2, n_cols=2, n_elements=4, n_slots=2, t_total_ms=4.0,
             lu_positions=((50.0, 22.5, 10.0), (70.0, 45.0, 20.0)),
             iu_positions=((65.0, 35.0, 25.0),))


def _cov(w):
    return np.einsum("ni,mi->inm", w, w.conj())


@pytest.fixture(scope="module")
def inst():
    """{power: (slot data d, phase-1 B1 covariances W (K+1, N, N), B1 inputs)}."""
    jax.config.update("jax_enable_x64", True)
    s = TrisScenario(**SMALL)
    sys1 = jax.tree_util.tree_map(lambda x: x[0], realize_tris_drops(s, jax.random.PRNGKey(0), 1))
    out = {}
    for power in ("element", "total"):
        d = slot_data(sys1, s, 0, detection=False, power=power)
        K, N = d.h.shape
        b1, _ = get_layers(d, N, K, d.g.shape[0])
        tg0 = dict(chi=np.zeros(K), iota=np.full(K, 1e3), u=np.full(K, 2.0**d.r_s - 1.0),
                   gamma_c0=0.0)
        inp = _b1_inputs(d, tg0)
        W, _ = b1(solver_args=_SOLVERS["Clarabel"], **inp)
        out[power] = (d, np.asarray(W), inp)
    return out


def _score(d):
    def score(w):
        r = slot_value(_cov(w), d)
        return r["value"], r["feasible"]
    return score


def _recover(d, W, mode, repair=None, seed=0):
    rep = repair if repair is not None else (lambda w: repair_slot_powers(w, d))
    return recover_rank_one(W, _score(d), p_t=1.0, power=d.power, n_random=20, seed=seed,
                            repair=rep, repair_mode=mode)


def _bernstein_ok(Q, r, c, sigma, upper: bool) -> bool:
    """(58)-(60) (upper) / (51)-(53) (lower) at fixed Q, r, c: feasible slacks exist (cvxpy)."""
    n = Q.shape[0]
    z, nu = cp.Variable(nonneg=True), cp.Variable(nonneg=True)
    tr = float(np.real(np.trace(Q)))
    vec = np.concatenate([Q.reshape(-1, order="F"), math.sqrt(2) * r])
    Qh = cp.Constant(0.5 * (Q + Q.conj().T))
    if upper:
        cons = [tr + c + math.sqrt(2 * sigma) * z + sigma * nu <= 0,
                cp.norm(vec) <= z, nu * np.eye(n) - Qh >> 0]
    else:
        cons = [tr + c - math.sqrt(2 * sigma) * z - sigma * nu >= 0,
                cp.norm(vec) <= z, nu * np.eye(n) + Qh >> 0]
    prob = cp.Problem(cp.Minimize(0), cons)
    prob.solve(solver="CLARABEL")
    return prob.status == "optimal"


def _independent_checks(d, w, C):
    """Surrogates in plain cvxpy + Monte Carlo outages, for beams w (N, K+1) and split C (K,)."""
    K, N = d.h.shape
    M = d.g.shape[0]
    W = _cov(w)
    b = 1.0 / (2.0**d.r_e - 1.0)
    s1, s2 = -math.log(d.p_out_lu), -math.log(d.p_out_iu)
    rng = np.random.default_rng(7)
    n = 100_000
    for m in range(M):
        E, g = d.E_sqrt[m], d.g[m]
        q = (rng.standard_normal((n, N)) + 1j * rng.standard_normal((n, N))) / math.sqrt(2)
        gt = g[None] + q @ E.T
        pw = np.abs(gt.conj() @ w) ** 2                                   # (n, K+1)
        for k in range(K):
            A = b * W[k + 1] - W[0]
            c = float(np.real(g.conj() @ A @ g)) - d.neff[m]
            assert _bernstein_ok(E @ A @ E, E @ (A @ g), c, s2, upper=True)
            gamma = pw[:, k + 1] / (pw[:, 0] + d.neff[m])
            assert np.mean(gamma >= 2.0**d.r_e - 1.0) <= d.p_out_iu
    for k in range(K):
        S = sum(W[1 + i] for i in range(K) if i != k)
        u = 2.0 ** (d.r_s - C[k]) - 1.0
        A = W[k + 1] - u * S
        h = d.h[k]
        c = float(np.real(h.conj() @ A @ h)) - u * d.noise[k]
        assert _bernstein_ok(d.sigma_e**2 * A, d.sigma_e * (A @ h), c, s1, upper=False)
        p = (rng.standard_normal((n, N)) + 1j * rng.standard_normal((n, N))) / math.sqrt(2)
        ht = h[None] + d.sigma_e * p
        pw = np.abs(ht.conj() @ w[:, 1:]) ** 2
        sinr = pw[:, k] / (pw.sum(1) - pw[:, k] + d.noise[k])
        assert np.mean(np.log2(1 + sinr) < d.r_s - C[k]) <= d.p_out_lu


@pytest.mark.parametrize("power", ["element", "total"])
def test_repair_recovers_feasibility_when_no_candidate_is(inst, power):
    d0, W, _ = inst[power]
    d = dataclasses.replace(d0, r_e=0.1 * d0.r_e)      # 10x lower eavesdropping threshold
    w_off, info_off = _recover(d, W, "off")
    assert info_off["n_feasible"] == 0 and not info_off["feasible"]
    assert info_off["repair"]["status"] == "off" and not info_off["repair"]["used"]
    w, info = _recover(d, W, "infeasible")
    rep = info["repair"]
    assert rep["used"] and rep["accepted"] and rep["status"] == "repaired"
    assert info["feasible"] and info["source"].endswith("+repair")
    assert not rep["feasible_before"] and rep["feasible_after"]
    assert rep["value_before"] == info_off["value"] and rep["value_after"] == info["value"]
    att = rep["attempts"][-1]
    assert att["report"]["status"] == "repaired" and att["feasible_after"]
    # independent checks
    val, feas = _score(d)(w)
    assert feas and val == info["value"]
    rows = np.sum(np.abs(w) ** 2, axis=1)
    if power == "element":
        assert np.all(rows <= 1.0 + 1e-9)
    else:
        assert np.sum(rows) <= d.h.shape[1] * (1.0 + 1e-9)
    sv = slot_value(_cov(w), d)
    assert np.sum(sv["C"]) <= sv["R_c"] + 1e-12
    _independent_checks(d, w, sv["C"])


def test_always_mode_never_below_best_feasible_candidate(inst):
    d, W, _ = inst["element"]
    seen = []

    def score(w):
        v, f = _score(d)(w)
        seen.append((v, f))
        return v, f

    w, info = recover_rank_one(W, score, p_t=1.0, n_random=20, seed=0, repair_mode="always",
                               repair=lambda w: repair_slot_powers(w, d))
    cand = seen[:21]                                    # the 21 candidates are scored first
    best_feasible = max(v for v, f in cand if f)
    assert info["repair"]["feasible_before"] and info["repair"]["value_before"] == best_feasible
    assert info["feasible"] and info["value"] >= best_feasible
    assert info["repair"]["status"] in ("repaired", "not_improved")
    assert np.all(np.sum(np.abs(w) ** 2, axis=1) <= 1.0 + 1e-9)
    # "infeasible" mode leaves a feasible best candidate alone
    _, info2 = _recover(d, W, "infeasible")
    assert info2["repair"]["status"] == "not_needed" and not info2["repair"]["used"]
    assert info2["value"] == best_feasible


def test_failed_repair_is_recorded_and_keeps_old_behaviour(inst):
    d0, W, _ = inst["element"]
    d = dataclasses.replace(d0, sqd=1e-6)             # beampattern (34k) unattainable
    w_off, info_off = _recover(d, W, "off")
    w, info = _recover(d, W, "infeasible")
    rep = info["repair"]
    assert rep["used"] and not rep["accepted"] and rep["status"] == "failed"
    assert not info["feasible"] and info["source"] == info_off["source"]
    np.testing.assert_array_equal(w, w_off)
    assert len(rep["attempts"]) == 3 and all(not a["feasible_after"] for a in rep["attempts"])
    # a repair callable that gives up is recorded the same way
    w2, info2 = _recover(d, W, "infeasible", repair=lambda w: (None, {"status": "failed"}))
    assert info2["repair"]["status"] == "failed"
    np.testing.assert_array_equal(w2, w_off)


def test_restricted_block_at_rank_one_sdr_directions_matches_sdr(inst):
    """B1 with targets 10 % inside the phase-1 point's exact values (as in test_tris_bcd.py) has
    a rank-1 optimum here; the block restricted to W_i = p_i v_i v_i^H with its principal
    directions v_i has the same optimal value (the SDR optimum lies in the restricted set), and
    at random directions it is no larger. (With the phase-1 targets iota = 1e3 the full SDP is
    too ill-conditioned for a 1e-6 comparison: the restricted solve came out 1.3e-4 higher.)"""
    d, W0, _ = inst["element"]
    sv = slot_value(W0, d)
    tg = dict(chi=0.9 * sv["chi"], iota=sv["iota"] / 0.9, u=0.9 * sv["u_max"],
              gamma_c0=2 ** (0.9 * sv["R_c"]) - 1)
    inp = _b1_inputs(d, tg, W0)
    K, N = d.h.shape
    kw = dict(p_out_lu=d.p_out_lu, p_out_iu=d.p_out_iu, sigma_e=d.sigma_e, rate_e=d.r_e,
              E_sqrt=d.E_sqrt, power=d.power)
    full = build_p21_margin_slot(N, K, 1, layer=False, **kw)
    full.set_problem_parameters(**inp)
    full.problem.solve(solver="CLARABEL")
    W = np.asarray(full.postprocess([v.value for v in full.variables])[0])
    lam = np.linalg.eigvalsh(W)
    assert np.all(lam[:, -2] <= 1e-6 * lam[:, -1])     # rank 1
    V = np.linalg.eigh(W)[1][:, :, -1].T                # (N, K+1) principal directions
    rb = build_p21_margin_slot(N, K, 1, layer=False, directions=V, **kw)
    assert rb.problem.is_dpp() and len(rb.problem.constraints) < len(full.problem.constraints)
    rb.set_problem_parameters(**inp)
    rb.problem.solve(solver="CLARABEL")
    assert abs(rb.problem.value - full.problem.value) <= 1e-6 * max(1.0, abs(full.problem.value))
    Wr, _ = rb.postprocess([v.value for v in rb.variables])
    np.testing.assert_allclose(np.real(np.einsum("inn->in", np.asarray(Wr))),
                               np.real(np.einsum("inn->in", W)), atol=1e-5)
    rng = np.random.default_rng(3)
    Vr = rng.standard_normal((N, K + 1)) + 1j * rng.standard_normal((N, K + 1))
    rr = build_p21_margin_slot(N, K, 1, layer=False, directions=Vr, **kw)
    rr.set_problem_parameters(**inp)
    rr.problem.solve(solver="CLARABEL")
    assert rr.problem.status != "optimal" or rr.problem.value <= full.problem.value + 1e-6
