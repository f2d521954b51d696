"""Least power at which the robust SINR (23j) is attainable (``sinr_power.min_robust_sinr_power``)
and Block D's ``sinr_floor="sdr"`` fallback built on it.

References: the one-user closed form ``gamma s2 / (||h|| - eps)^2`` (MRT is optimal, the worst
error points against the beam); a full-space SDR written separately here with complex cvxpy
variables and the S-procedure LMI (no subspace restriction); rank-one beams extracted from the
reference and checked on sampled errors of the ball's boundary."""

import dataclasses

import cvxpy as cp
import jax
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import block_d as bd
from jisac.algorithms.sim_lbcd import lbcd as L
from jisac.algorithms.sim_lbcd.sinr_power import min_robust_sinr_power
from jisac.hardware.sim import sim_cascade
from small_systems import mrt_instance

NOISE = 4e-14           # W, the Sec.-V -104 dBm
GAMMA = 10 ** 0.5       # 5 dB


def _channels(rng, K, M, scale=1e-6):
    return scale * (rng.standard_normal((K, M)) + 1j * rng.standard_normal((K, M))) / np.sqrt(2)


def _full_space_reference(hu, eps, gamma, noise):
    """min sum tr V_k over C^{M x M} Hermitian V_k with the S-procedure LMI of (23j)."""
    K, M = hu.shape
    h = hu / np.sqrt(noise)
    e = np.asarray(eps) / np.sqrt(noise)
    V = [cp.Variable((M, M), hermitian=True) for _ in range(K)]
    cons = [v >> 0 for v in V]
    for k in range(K):
        Q = V[k] - gamma * sum(V[j] for j in range(K) if j != k)
        lam = cp.Variable(nonneg=True)
        hk = h[k].reshape(M, 1)
        corner = cp.real(hk.conj().T @ Q @ hk) - gamma - lam * e[k] ** 2
        lmi = cp.bmat([[Q + lam * np.eye(M), Q @ hk],
                       [hk.conj().T @ Q, cp.reshape(corner, (1, 1), order="F")]])
        cons.append(0.5 * (lmi + lmi.H) >> 0)
    prob = cp.Problem(cp.Minimize(cp.real(sum(cp.trace(v) for v in V))), cons)
    # SCS at tight tolerances: another solver than the module's first choice (Clarabel)
    prob.solve(solver="SCS", eps_abs=1e-10, eps_rel=1e-10, max_iters=200000)
    return prob, V


@pytest.mark.parametrize("rel_eps", [0.0, 0.2, 0.6])
def test_one_user_closed_form(rel_eps):
    """rel 1e-5: interior-point accuracy on this LMI (Clarabel's default gap tolerance 1e-8 is on
    the scaled problem; at eps = 0 the S-procedure multiplier is unattained, lam -> inf, and
    the measured error was 1.1e-6)."""
    rng = np.random.default_rng(1)
    hu = _channels(rng, 1, 6)
    eps = rel_eps * np.linalg.norm(hu[0])
    p, st = min_robust_sinr_power(hu, [eps], GAMMA, NOISE)
    assert st == "optimal"
    ref = GAMMA * NOISE / (np.linalg.norm(hu[0]) - eps) ** 2
    assert p == pytest.approx(ref, rel=1e-5)


def test_ball_holding_zero_is_infeasible():
    rng = np.random.default_rng(2)
    hu = _channels(rng, 2, 4)
    p, st = min_robust_sinr_power(hu, np.linalg.norm(hu, axis=1) * [0.1, 1.0], GAMMA, NOISE)
    assert p == np.inf and st.startswith("infeasible")


@pytest.mark.parametrize("seed,K,M,rel_eps", [(3, 2, 4, 0.1), (4, 3, 6, 0.3), (5, 3, 5, 0.05)])
def test_matches_the_full_space_sdr(seed, K, M, rel_eps):
    """The span{h_k} restriction gives the full-space optimum (to solver accuracy), and the
    reference's principal beams at the optimum meet (23j) on sampled boundary errors (where the
    reference is rank one; checked, not assumed)."""
    rng = np.random.default_rng(seed)
    hu = _channels(rng, K, M)
    eps = rel_eps * np.linalg.norm(hu, axis=1)
    p, st = min_robust_sinr_power(hu, eps, GAMMA, NOISE)
    prob, V = _full_space_reference(hu, eps, GAMMA, NOISE)
    assert st == "optimal" and prob.status == "optimal"
    assert p == pytest.approx(prob.value, rel=1e-5)
    Vs = [v.value for v in V]
    ev = [np.linalg.eigh(v) for v in Vs]
    assert all(e[0][-2] <= 1e-6 * e[0][-1] for e in ev)          # rank one
    W = np.stack([np.sqrt(e[0][-1]) * e[1][:, -1] for e in ev], axis=1)
    d = rng.standard_normal((2000, M)) + 1j * rng.standard_normal((2000, M))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    for k in range(K):
        hb = hu[k][None] + eps[k] * d
        g = np.abs(hb.conj() @ W) ** 2
        sinr = g[:, k] / (g.sum(1) - g[:, k] + NOISE)
        assert sinr.min() >= GAMMA * (1 - 1e-4)


# --------------------------------------------------------------------------------------------
# Block D's fallback floor
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def inst():
    return mrt_instance()                     # L = 2 layers of 9 elements, K = 2, E = 1


# 3 dB SINR on this instance (users' channels 0.996 correlated): the MRT beams are interference
# limited below it at every power, zero-forcing-like beams need P* = 14.2 W (checked below), so
# P_max is raised to 45 dBm (31.6 W) and E_max to 0.1 J so that the floor fits; at the
# scenario's E_max = 316 uJ it does not (the fallback test). Non-robust (radii 0) so that the
# floor is the plain SDR one.
FLOOR_CASE = dict(sinr_min_db=3.0, p_bs_max_dbm=45.0, energy_budget_uj=1e5)


def _p_star(s, sys, d):
    G = np.asarray(sim_cascade(d.theta_comm, sys.h1, sys.h_inter))
    hu = np.asarray(sys.H_users) @ G.conj()
    p, st = min_robust_sinr_power(hu, np.zeros(hu.shape[0]), 10 ** (s.sinr_min_db / 10), s.noise)
    assert st == "optimal" and np.isfinite(p)
    return p


def test_sdr_floor_when_the_beams_cannot_meet_the_sinr(inst):
    """Sensing-heavy utility (alpha = 0.99): the paper block ("beams") has no floor when the
    current beams cannot meet (23j) and puts p_c far below P*; "sdr" keeps p_c >= P*."""
    s0, sys, d, norm = inst
    s = dataclasses.replace(s0, **FLOOR_CASE)
    p_star = _p_star(s, sys, d)
    assert p_star < s.p_bs_max
    d0, i0 = bd.resource_block(sys, d, s, alpha=0.99, norm=norm, robust=False)
    d1, i1 = bd.resource_block(sys, d, s, alpha=0.99, norm=norm, robust=False, sinr_floor="sdr")
    assert "sinr_constraint_unattainable_at_any_power" in i0["status"]
    assert "sdr_sinr_floor" not in i0["status"] and "sdr_sinr_floor" in i1["status"]
    # the same SDR on channels equal to round-off (4e-16): answers agree to Clarabel's accuracy
    # on this ill-conditioned (zero-forcing-like) instance, measured 1.9e-5
    assert i1["p_comm_min_sdr"] == pytest.approx(p_star, rel=1e-4)
    assert float(d0.p_comm) < 0.1 * p_star                # the failure mode this fixes
    assert float(d1.p_comm) >= i1["p_comm_min_sdr"] * (1 - 1e-12)
    tau = np.asarray(d1.tau)
    assert s.t_slot * (tau[1] * float(d1.p_sense) + tau[2] * float(d1.p_comm)) <= \
        s.energy_budget * (1 + 1e-12)
    assert float(d1.p_comm) <= s.p_bs_max


def test_sdr_floor_dropped_when_it_does_not_fit(inst):
    """At the scenario's E_max (316 uJ) no allocation carries P*: D allocates as without the
    floor, and says so."""
    s0, sys, d, norm = inst
    s = dataclasses.replace(s0, **{**FLOOR_CASE, "energy_budget_uj": s0.energy_budget_uj})
    d0, i0 = bd.resource_block(sys, d, s, alpha=0.99, norm=norm, robust=False)
    d1, i1 = bd.resource_block(sys, d, s, alpha=0.99, norm=norm, robust=False, sinr_floor="sdr")
    assert i1["sdr_sinr_floor_dropped"] and "sdr_sinr_floor" not in i1["status"]
    assert i1["status"] == i0["status"] and float(d1.p_comm) == float(d0.p_comm)


def test_sdr_floor_changes_nothing_when_the_beams_meet_the_sinr(inst):
    s, sys, d, norm = inst
    for robust in (False, True):
        d0, i0 = bd.resource_block(sys, d, s, alpha=0.99, norm=norm, robust=robust)
        d1, i1 = bd.resource_block(sys, d, s, alpha=0.99, norm=norm, robust=robust,
                                   sinr_floor="sdr")
        assert "p_comm_min_sdr" not in i1 and i0["status"] == i1["status"]
        for a, b in zip(jax.tree_util.tree_leaves(d0), jax.tree_util.tree_leaves(d1)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_previous_design_below_the_sdr_floor_is_flagged(inst):
    """The previous design below P* counts as violating D's floor (restores_feasibility), so the
    driver's ascent test does not send the allocation back under B's feasibility threshold."""
    s0, sys, d, norm = inst
    s = dataclasses.replace(s0, **FLOOR_CASE)
    d0, _ = bd.resource_block(sys, d, s, alpha=0.99, norm=norm, robust=False)
    _, info = bd.resource_block(sys, d0, s, alpha=0.99, norm=norm, robust=False, sinr_floor="sdr")
    assert "sinr" in info["restores_feasibility"], info["restores_feasibility"]


def test_settings_hand_the_floor_to_d_only(inst):
    s, sys, d, norm = inst
    st = L.LbcdSettings(sinr_floor="sdr", outage_couplings=4)
    assert st.kwargs_for("D") == {"outage_couplings": 4, "sinr_floor": "sdr"}
    assert st.kwargs_for("B") == {"outage_couplings": 4}
    assert L.LbcdSettings().kwargs_for("D") == {}
    assert hash(st) != hash(L.LbcdSettings(outage_couplings=4))
    with pytest.raises(ValueError, match="sinr_floor"):
        L.LbcdSettings(sinr_floor="none")
    d1, info = bd.resource_block(sys, d, s, alpha=0.5, norm=norm, sinr_floor="SDR")
    assert info["status"].startswith("error: ValueError: sinr_floor='SDR'") and d1 is d
