"""Block B's subspace reduction (docs/derivations/sim_lbcd.md, "Subspace reduction").

The SDR solved in r = dim U dimensions (U spans the channels) plus an isotropic AN level on the
complement must (i) equal the full-space SDR exactly when the linearised outage constraint is
inactive (projection argument), (ii) equal an independent complex-cvxpy model of the *restricted*
full-space problem (V_k = U X_k U^H, Z = U Y U^H + z (I - U U^H), full M x M S-procedure LMI)
when it is active, and (iii) never beat the full-space SDR (it is a restriction)."""

import cvxpy as cp
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import block_b as bb
from jisac.algorithms.sim_lbcd._layers import (SLACK_WEIGHT, beamforming_layer,
                                               solve_beamforming_layer)
from jisac.designs.sim import design_mrt
from jisac.hardware.sim import sim_cascade
from jisac.scenarios import SimScenario
from jisac.schemes import MrtParams
from jisac.systems.sim import realize_sim_drops
from small_systems import SMALL_SIM

M8 = {**SMALL_SIM, "n_bs_antennas": 8, "bs_rows": 2}


@pytest.fixture(scope="module")
def inst():
    s = SimScenario(**M8)
    sys = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(5), 1))
    d = design_mrt(sys, s, MrtParams(an_fraction=0.2))
    P_b = bb.comm_power_budget(d, s)
    G = np.asarray(sim_cascade(d.theta_comm, sys.h1, sys.h_inter))
    hu = np.asarray(sys.H_users) @ G.conj() * np.sqrt(P_b / s.noise)
    he = np.asarray(sys.H_eves) @ G.conj() * np.sqrt(P_b / s.noise_eve)
    W0 = np.asarray(d.W) / np.sqrt(P_b)
    V0 = np.einsum("mk,nk->kmn", W0, W0.conj())
    Z0 = np.asarray(d.R_AN) / P_b
    he_s = bb.eve_error_samples(sys, d, s, jax.random.PRNGKey(1), 128) * np.sqrt(P_b / s.noise_eve)
    K = hu.shape[0]
    A, b, _ = bb.surrogate_linearization(V0, Z0, jnp.asarray(hu), he_s, bb.outage_delta(s.eps_out),
                                         jnp.full((K,), s.r_min))
    return dict(s=s, hu=hu, he=he, W0=W0, V0=V0, Z0=Z0, err=np.asarray(he_s - he[None]).reshape(-1, 8),
                A=np.asarray(A), b=np.asarray(b), gamma=10 ** (s.sinr_min_db / 10),
                eps=0.05 * np.linalg.norm(hu, axis=1))


def _value(V, Z, slack, x):
    """SCA surrogate objective of the SDR in complex NumPy (normalised units)."""
    hu, he, V0, Z0 = x["hu"], x["he"], x["V0"], x["Z0"]
    tot, tot0 = V.sum(0) + Z, V0.sum(0) + Z0
    q = lambda h, X: float(np.real(h.conj() @ X @ h))
    val = 0.0
    for k in range(hu.shape[0]):
        D0 = q(hu[k], tot0 - V0[k]) + 1.0
        val += np.log(q(hu[k], tot) + 1.0) - q(hu[k], tot - V[k]) / D0
        val += min(1.0 - np.log(q(g, tot0) + 1.0) - q(g, tot) / (q(g, tot0) + 1.0)
                   + np.log(q(g, tot - V[k]) + 1.0) for g in he)
    return val - (SLACK_WEIGHT * np.log(2) * float(np.sum(slack)) if slack is not None else 0.0)


def _solve(x, r, b_shift=0.0):
    K, M = x["hu"].shape
    E = x["he"].shape[0]
    lin = (x["A"], x["b"] + b_shift)
    if r is None:
        params = bb.sdr_parameters(x["hu"], x["he"], x["V0"], x["Z0"], eps=x["eps"], lin=lin)
        bl, U = beamforming_layer(M, K, E, True, float(x["gamma"])), None
    else:
        U = bb.reduction_basis(x["hu"], x["he"], x["W0"], x["Z0"], x["err"], r)
        params = bb.reduced_sdr_parameters(U, x["hu"], x["he"], x["V0"], x["Z0"], eps=x["eps"],
                                           lin=lin)
        bl = beamforming_layer(r, K, E, True, float(x["gamma"]), M - r)
    V, Z, slack = solve_beamforming_layer(bl, params, {"solve_method": "Clarabel"}, basis=U)
    return V, Z, slack, U


def test_basis_orthonormal_and_holds_channels(inst):
    x = inst
    U = bb.reduction_basis(x["hu"], x["he"], x["W0"], x["Z0"], x["err"], 5)
    assert U.shape == (8, 5)
    np.testing.assert_allclose(U.conj().T @ U, np.eye(5), atol=1e-12)
    for h in (*x["hu"], *x["he"]):
        assert np.linalg.norm(h - U @ (U.conj().T @ h)) < 1e-10 * np.linalg.norm(h)
    with pytest.raises(ValueError, match="subspace_dim"):
        bb.reduction_basis(x["hu"], x["he"], x["W0"], x["Z0"], x["err"], 2)


def test_exact_when_outage_constraint_inactive(inst):
    """With the linearised outage constraint slack by a wide margin (b + 1e3), the reduced SDR
    (r = K + E, the smallest) reaches the full-space optimum: projecting any full-space solution
    onto U keeps every nominal quadratic form, shrinks the power and keeps the S-procedure
    constraint (||P d|| <= ||d||)."""
    K, E = inst["hu"].shape[0], inst["he"].shape[0]
    Vf, Zf, sf, _ = _solve(inst, None, 1e3)
    Vr, Zr, sr, _ = _solve(inst, K + E, 1e3)
    vf, vr = _value(Vf, Zf, sf, inst), _value(Vr, Zr, sr, inst)
    assert abs(vf - vr) < 1e-6 * max(1.0, abs(vf))


def test_matches_restricted_complex_model_and_is_a_restriction(inst):
    """Active outage constraint: the reduced layer equals a complex cvxpy model of the restricted
    full-space problem (full M x M S-procedure LMI), and is <= the unrestricted optimum."""
    x = inst
    K, M = x["hu"].shape
    r = 4
    Vr, Zr, sr, U = _solve(x, r)
    Pp = np.eye(M) - U @ U.conj().T
    Xc = [cp.Variable((r, r), hermitian=True) for _ in range(K)]
    Yc = cp.Variable((r, r), hermitian=True)
    z = cp.Variable(nonneg=True)
    Vc = [U @ X @ U.conj().T for X in Xc]
    Zc = U @ Yc @ U.conj().T + z * Pp
    sl = cp.Variable(K, nonneg=True)
    tot = sum(Vc) + Zc
    tot0 = x["V0"].sum(0) + x["Z0"]
    qf = lambda X, g: cp.real(g.conj() @ X @ g)
    cons = [X >> 0 for X in (*Xc, Yc)] + [cp.real(sum(cp.trace(X) for X in (*Vc, Zc))) <= 1]
    obj = -SLACK_WEIGHT * np.log(2) * cp.sum(sl)
    for k in range(K):
        h = x["hu"][k]
        D0 = np.real(h.conj() @ (tot0 - x["V0"][k]) @ h) + 1
        obj += cp.log(qf(tot, h) + 1) - qf(tot - Vc[k], h) / D0
        tk = cp.Variable()
        for g in x["he"]:
            T0 = np.real(g.conj() @ tot0 @ g) + 1
            cons.append(tk <= 1 - np.log(T0) - qf(tot, g) / T0 + cp.log(qf(tot - Vc[k], g) + 1))
        obj += tk
        Q = Vc[k] - x["gamma"] * (tot - Vc[k])
        lam = cp.Variable(nonneg=True)
        Qh = cp.reshape(Q @ h, (M, 1), order="F")
        corner = cp.reshape(qf(Q, h) - x["gamma"] - lam * x["eps"][k] ** 2, (1, 1), order="F")
        lmi = cp.bmat([[Q + lam * np.eye(M), Qh], [Qh.H, corner]])
        cons.append(0.5 * (lmi + lmi.H) >> 0)
        lin = x["b"][k] + sum(cp.real(cp.trace(x["A"][k, j] @ X)) for j, X in enumerate([*Vc, Zc]))
        cons.append(lin + sl[k] >= 0)
    prob = cp.Problem(cp.Maximize(obj), cons)
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == "optimal"
    v_ref = _value(np.stack([np.asarray(v.value) for v in Vc]), np.asarray(Zc.value), sl.value, x)
    v_red = _value(Vr, Zr, sr, x)
    assert abs(v_red - v_ref) < 1e-6 * max(1.0, abs(v_ref))
    # lifted output is a valid full-space point: PSD, power
    assert min(np.linalg.eigvalsh(X).min() for X in (*Vr, Zr)) > -1e-7
    assert np.trace(Vr.sum(0) + Zr).real <= 1 + 1e-7
    Vf, Zf, sf, _ = _solve(x, None)
    assert v_red <= _value(Vf, Zf, sf, x) + 1e-6 * max(1.0, abs(v_red))
