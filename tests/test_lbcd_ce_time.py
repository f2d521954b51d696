"""Block D choosing the training time with Block E's CSI radius (``ce_time="radius"``,
``resource_block(ce_radius_tau=...)``): ``eps(tau_ce) = eps(tau_ref) sqrt(tau_ref / tau_ce)``.

References: the robust SINR (23j) of the returned design checked on sampled errors of the ball's
boundary at the radius of the *returned* training time (not D's own S-lemma routine); Block E's
radius law ``eps ~ tau_ce^(-1/2)`` from ``block_e.ce_radius`` itself; the fixed-tau block for
the previous ``tau_ce`` (ascent)."""

import jax
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import block_d as bd
from jisac.algorithms.sim_lbcd import lbcd as L
from jisac.algorithms.sim_lbcd.block_e import ce_radius
from jisac.designs.sim import SimDesign
from jisac.hardware.sim import sim_cascade
from small_systems import mrt_instance


@pytest.fixture(scope="module")
def inst():
    s, sys, d, norm = mrt_instance()          # L = 2 layers of 9 elements, K = 2, E = 1
    G = np.asarray(sim_cascade(d.theta_comm, sys.h1, sys.h_inter))
    hu = np.asarray(sys.H_users) @ G.conj()
    return s, sys, d, norm, hu


def _robust_sinr_min(hu, W, R, eps, noise, n=4000, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(hu.shape[0]):
        dd = rng.standard_normal((n, hu.shape[1])) + 1j * rng.standard_normal((n, hu.shape[1]))
        hb = hu[k][None] + dd * (eps[k] / np.linalg.norm(dd, axis=1, keepdims=True))
        g = np.abs(hb.conj() @ W) ** 2
        an = np.real(np.einsum("sm,mn,sn->s", hb.conj(), R, hb))
        out.append(np.min(g[:, k] / (g.sum(1) - g[:, k] + an + noise)))
    return np.asarray(out)


def test_block_e_radius_law(inst):
    """The scaling D relies on is Block E's own: ``eps(tau) sqrt(tau)`` constant (to round-off)."""
    s, sys, d, _, _ = inst
    vals = []
    for tau in (0.05, 0.2, 0.7):
        dt = SimDesign(d.theta_comm, d.theta_sense, d.theta_ce, d.W_RF, d.W_BB, d.R_AN,
                       d.tau.at[0].set(tau), d.p_sense, d.p_comm)
        vals.append(np.asarray(ce_radius(sys, dt, s)) * np.sqrt(tau))
    np.testing.assert_allclose(vals[1], vals[0], rtol=1e-10)
    np.testing.assert_allclose(vals[2], vals[0], rtol=1e-10)


def test_longer_training_restores_the_sinr(inst):
    """Radius at tau_ce = tau_min equal to each user's channel norm (the ball holds h + d = 0,
    so no beams meet (23j) at any power): the fixed-tau block says so and allocates without
    (23j); with the radius law D lengthens the training until the current beams meet (23j),
    checked on sampled boundary errors at the radius of the returned tau_ce."""
    s, sys, d, norm, hu = inst
    eps_ref = np.linalg.norm(hu, axis=1)
    tau_ref = s.tau_min
    gamma = 10 ** (s.sinr_min_db / 10)
    d0, i0 = bd.resource_block(sys, d, s, alpha=0.5, norm=norm, robust=True, eps_csi=eps_ref)
    assert "sinr_constraint_unattainable_at_any_power" in i0["status"]
    d1, i1 = bd.resource_block(sys, d, s, alpha=0.5, norm=norm, robust=True, eps_csi=eps_ref,
                               ce_radius_tau=tau_ref)
    tau = np.asarray(d1.tau)
    assert "sinr_constraint_unattainable_at_any_power" not in i1["status"], i1["status"]
    assert tau[0] > tau_ref and tau[0] == pytest.approx(i1["tau_ce_chosen"], rel=1e-12)
    assert [c[0] for c in i1["ce_search"]] == sorted(c[0] for c in i1["ce_search"])
    eps_now = eps_ref * np.sqrt(tau_ref / tau[0])
    G = np.asarray(sim_cascade(d1.theta_comm, sys.h1, sys.h_inter))
    hu1 = np.asarray(sys.H_users) @ G.conj()
    sinr = _robust_sinr_min(hu1, np.asarray(d1.W), np.asarray(d1.R_AN), eps_now, s.noise)
    assert np.all(sinr >= gamma * (1 - 1e-9)), sinr / gamma
    # frame and energy (23a), (23b), (23i) with the longer training
    assert tau.sum() + 2 * s.t_switch / s.t_slot <= 1 + 1e-12
    assert np.all(tau >= s.tau_min - 1e-15) and np.all(tau <= s.tau_max + 1e-15)
    assert s.t_slot * (tau[1] * float(d1.p_sense) + tau[2] * float(d1.p_comm)) <= \
        s.energy_budget * (1 + 1e-12)
    assert "tau_ce_min" in i1["restores_feasibility"]


def test_radius_search_never_below_the_fixed_block_at_the_previous_tau(inst):
    """Where (23j) is attainable at the previous training time, that time is a candidate: the
    search's merit is at least the fixed-tau block's there (nominal radius, tau_ce = tau_min)."""
    s, sys, d, norm, hu = inst
    eps = s.csi_error_bound * np.linalg.norm(hu, axis=1)
    tau_ref = float(np.asarray(d.tau)[0])
    for alpha in (0.2, 0.9):
        _, i0 = bd.resource_block(sys, d, s, alpha=alpha, norm=norm, robust=True, eps_csi=eps)
        _, i1 = bd.resource_block(sys, d, s, alpha=alpha, norm=norm, robust=True, eps_csi=eps,
                                  ce_radius_tau=tau_ref)
        assert tau_ref in [c[0] for c in i1["ce_search"]]
        assert i1["utility_true"] >= i0["utility_true"] - 1e-12 * abs(i0["utility_true"])


def test_driver_hands_the_scaled_radius_to_the_blocks(inst):
    s, sys, d, _, hu = inst
    eps = np.array([1.0, 2.0])
    st = L.LbcdSettings(ce_time="radius")
    dd = SimDesign(d.theta_comm, d.theta_sense, d.theta_ce, d.W_RF, d.W_BB, d.R_AN,
                   d.tau.at[0].set(0.2), d.p_sense, d.p_comm)
    e_b, kw_b = L._radii_for("B", st, eps, 0.05, dd)
    np.testing.assert_allclose(e_b, eps * np.sqrt(0.05 / 0.2), rtol=1e-15)
    assert kw_b == {}
    e_d, kw_d = L._radii_for("D", st, eps, 0.05, dd)
    assert e_d is eps and kw_d == {"ce_radius_tau": 0.05}
    for args in (("B", L.LbcdSettings(), eps, 0.05, dd), ("D", st, eps, None, dd)):
        e, kw = L._radii_for(*args)
        assert e is eps and kw == {}
    with pytest.raises(ValueError, match="ce_time"):
        L.LbcdSettings(ce_time="free")
    assert hash(st) != hash(L.LbcdSettings())
