"""Block D (paper 004 (41)): the time/power scaling law of CRB_total and the reduced 2-scalar
solution against an independent 4-D brute-force grid over (tau_s, tau_c, p_s, p_c)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import block_d as bd
from jisac.algorithms.sim_lbcd.objective import Normalizers, crb_total, secrecy_throughput
from jisac.designs.sim import SimDesign, design_mrt
from jisac.hardware.sim import sim_cascade
from jisac.metrics import sim_secrecy
from jisac.metrics.crb import orthogonal_probing, sim_crb_total, sim_target_fim
from jisac.scenarios import SimScenario
from jisac.schemes import MrtParams
from jisac.systems.sim import realize_sim_drops, sensing_model_kw
from small_systems import SMALL_SIM



@pytest.fixture(scope="module")
def inst():
    s = SimScenario(**SMALL_SIM)
    sys = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(3), 1))
    d = design_mrt(sys, s, MrtParams(an_fraction=0.2))
    return s, sys, d


def _with(d, tau_s=None, p_s=None):
    tau = d.tau if tau_s is None else d.tau.at[1].set(tau_s)
    return SimDesign(d.theta_comm, d.theta_sense, d.theta_ce, d.W_RF, d.W_BB, d.R_AN, tau,
                     d.p_sense if p_s is None else jnp.asarray(p_s), d.p_comm)


def test_fim_time_power_scaling(inst):
    """J(tau, p) = p D_tau J(1, 1) D_tau, D_tau = diag(1, 1, tau, 1, 1): entrywise to round-off
    (relative to sqrt(J_ii J_jj), the Cauchy-Schwarz scale of each entry)."""
    s, sys, d = inst
    G = sim_cascade(d.theta_sense, sys.h1, sys.h_inter)

    def fim(tau, p):
        X = orthogonal_probing(4, s.sensing_snapshots, p)
        return np.asarray(sim_target_fim(sys.targets[0], G, X, sys.positions, s.wavelength,
                                         tau * s.t_slot / s.sensing_snapshots, s.noise,
                                         **sensing_model_kw(s)))

    J1 = fim(1.0, 1.0)
    for tau, p in ((0.07, 0.3), (0.6, 0.02)):
        D = np.diag([1, 1, tau, 1, 1.0])
        J = fim(tau, p)
        scale = np.sqrt(np.outer(np.diag(J), np.diag(J)))
        assert np.max(np.abs(J - p * D @ J1 @ D) / scale) < 1e-11


def _crb_tol(s, sys, d):
    """10 kappa u, kappa the condition number of the equilibrated target FIM (see below)."""
    G = sim_cascade(d.theta_sense, sys.h1, sys.h_inter)
    X1 = orthogonal_probing(4, s.sensing_snapshots, 1.0)
    J = np.asarray(sim_target_fim(sys.targets[0], G, X1, sys.positions, s.wavelength,
                                  d.tau[1] * s.t_slot / s.sensing_snapshots, s.noise,
                                  **sensing_model_kw(s)))
    dg = np.sqrt(np.diag(J))
    return 10 * np.linalg.cond(J / np.outer(dg, dg)) * np.finfo(float).eps


def test_crb_law_against_crb_module(inst):
    """(a + b / tau^2) / p against sim_crb_total at other (tau, p), for [theta, v] and for the
    objective's [theta, r, v]. The range is nearly unobservable for this 3x3 SIM: the equilibrated
    5x5 FIM has condition number kappa ~ 6e12, so the module's own CRB moves by ~kappa * u between
    calls that are equal in exact arithmetic (FIM scaling is checked exactly above). Tolerance:
    10 kappa u (forward error of an SPD solve with condition kappa, times a modest constant)."""
    s, sys, d = inst
    G = sim_cascade(d.theta_sense, sys.h1, sys.h_inter)
    tol = _crb_tol(s, sys, d)
    assert tol < 0.05  # the check below must still be able to fail
    for idx in ((0, 2), (0, 1, 2)):
        a, b = bd.crb_time_power_coefficients(sys, d, s, idx_interest=idx)
        for tau, p in ((0.08, 0.5), (0.85, 0.05)):
            X = orthogonal_probing(4, s.sensing_snapshots, p)
            ref = float(sim_crb_total(sys.targets, G, X, sys.positions, s.wavelength,
                                      tau * s.t_slot / s.sensing_snapshots, s.noise,
                                      idx_interest=idx, **sensing_model_kw(s)))
            assert abs((a + b / tau ** 2) / p - ref) <= tol * ref, (idx, tau, p)


def _brute_force(s, sys, d, alpha, norm, a, b, n=26):
    """Independent reference: all grid points of (tau_s, tau_c, p_s, p_c), tau_ce = tau_min (U does
    not depend on tau_ce and raising it only shrinks (23a)); rates from sim_secrecy on the
    rescaled design, CRB from the law tested above; nominal SINR >= gamma."""
    G = sim_cascade(d.theta_comm, sys.h1, sys.h_inter)
    hu, he = np.asarray(sys.H_users) @ np.conj(G), np.asarray(sys.H_eves) @ np.conj(G)
    W, R = np.asarray(d.W), np.asarray(d.R_AN)
    p0 = np.sum(np.abs(W) ** 2) + np.trace(R).real
    taus = np.linspace(s.tau_min, s.tau_max, n)
    ps = np.linspace(s.p_bs_max / n, s.p_bs_max, n)
    gamma = 10 ** (s.sinr_min_db / 10)
    rate, sinr_ok = [], []
    for p in ps:
        c = np.sqrt(p / p0)
        rate.append(float(np.sum(sim_secrecy.secrecy_rates(hu, he, W * c, R * c ** 2, s.noise,
                                                           s.noise_eve))))
        sinr_ok.append(bool(np.all(np.asarray(sim_secrecy.user_sinr(hu, W * c, R * c ** 2, s.noise))
                                   >= gamma)))
    rate, sinr_ok = np.asarray(rate), np.asarray(sinr_ok)
    TS, TC, PS, PC = np.meshgrid(taus, taus, ps, np.arange(n), indexing="ij")
    pc = ps[PC]
    U = (1 - alpha) * TC * rate[PC] / norm.r_max - alpha * (a + b / TS ** 2) / PS / norm.crb_min
    feas = ((s.tau_min + TS + TC + 2 * s.t_switch / s.t_slot <= 1 + 1e-12)
            & (s.t_slot * (TS * PS + TC * pc) <= s.energy_budget * (1 + 1e-12)) & sinr_ok[PC])
    return np.max(np.where(feas, U, -np.inf)), rate, ps


@pytest.mark.parametrize("alpha", [0.2, 0.8])
def test_resource_block_vs_brute_force(inst, alpha):
    s, sys, d = inst
    norm = Normalizers(float(secrecy_throughput(sys, d, s)), float(crb_total(sys, d, s)))
    d2, info = bd.resource_block(sys, d, s, alpha=alpha, norm=norm, robust=False)
    assert info["status"] == "optimal", info
    a, b = info["crb_coeffs"]
    u_grid, _, _ = _brute_force(s, sys, d, alpha, norm, a, b)
    # the returned design, evaluated by the test's own model (same CRB law, library rates)
    tau, p_s, p_c = np.asarray(d2.tau), float(d2.p_sense), float(d2.p_comm)
    G = sim_cascade(d2.theta_comm, sys.h1, sys.h_inter)
    hu, he = np.asarray(sys.H_users) @ np.conj(G), np.asarray(sys.H_eves) @ np.conj(G)
    W, R = np.asarray(d2.W), np.asarray(d2.R_AN)
    assert np.sum(np.abs(W) ** 2) + np.trace(R).real == pytest.approx(p_c, rel=1e-12)
    sec = float(np.sum(sim_secrecy.secrecy_rates(hu, he, W, R, s.noise, s.noise_eve)))
    u_d = (1 - alpha) * tau[2] * sec / norm.r_max - alpha * (a + b / tau[1] ** 2) / p_s / norm.crb_min
    assert u_d >= u_grid - 1e-12 * abs(u_grid)
    assert u_d == pytest.approx(info["utility"], rel=1e-9)
    # feasibility (23a)-(23e), (23i), (23j)
    assert np.sum(tau) + 2 * s.t_switch / s.t_slot <= 1 + 1e-12
    assert s.t_slot * (tau[1] * p_s + tau[2] * p_c) <= s.energy_budget * (1 + 1e-12)
    assert p_s <= s.p_bs_max and p_c <= s.p_bs_max
    assert np.all(tau >= s.tau_min - 1e-15) and np.all(tau <= s.tau_max + 1e-15)
    gamma = 10 ** (s.sinr_min_db / 10)
    assert np.all(np.asarray(sim_secrecy.user_sinr(hu, W, R, s.noise)) >= gamma * (1 - 1e-9))
    # the shared objective's pieces: S exactly, CRB up to this instance's conditioning noise
    assert float(secrecy_throughput(sys, d2, s)) == pytest.approx(tau[2] * sec, rel=1e-10)
    assert float(crb_total(sys, d2, s)) == pytest.approx((a + b / tau[1] ** 2) / p_s,
                                                         rel=_crb_tol(s, sys, d))


def test_resource_block_robust_sinr_on_ball(inst):
    """Robust variant: p_comm >= the exact worst-case SINR power; check on sampled boundary errors."""
    s, sys, d = inst
    norm = Normalizers(float(secrecy_throughput(sys, d, s)), float(crb_total(sys, d, s)))
    d2, info = bd.resource_block(sys, d, s, alpha=0.5, norm=norm, robust=True)
    assert info["status"].startswith("optimal")
    G = sim_cascade(d2.theta_comm, sys.h1, sys.h_inter)
    hu = np.asarray(sys.H_users) @ np.conj(G)
    W, R = np.asarray(d2.W), np.asarray(d2.R_AN)
    eps = s.csi_error_bound * np.linalg.norm(hu, axis=1)
    gamma = 10 ** (s.sinr_min_db / 10)
    rng = np.random.default_rng(0)
    for k in range(hu.shape[0]):
        dd = rng.standard_normal((4000, 4)) + 1j * rng.standard_normal((4000, 4))
        hb = hu[k][None] + dd * (eps[k] / np.linalg.norm(dd, axis=1, keepdims=True))
        g = np.abs(hb.conj() @ W) ** 2
        an = np.real(np.einsum("sm,mn,sn->s", hb.conj(), R, hb))
        assert np.min(g[:, k] / (g.sum(1) - g[:, k] + an + s.noise)) >= gamma * (1 - 1e-9)


# ---------------------------------------------------------------------------------------------
# Ascent (MM) property against the driver's merit, feasibility restoration, safeguard path
# ---------------------------------------------------------------------------------------------

from jisac.algorithms.sim_lbcd import lbcd as L                          # noqa: E402
from jisac.hardware.sim import sim_effective_channels                    # noqa: E402
from jisac.metrics.multiple_access import an_null_space_projector        # noqa: E402
from jisac.hardware.hybrid import alternating_minimization              # noqa: E402

_am = jax.jit(alternating_minimization, static_argnums=(1, 2))

GEOMETRIES = (
    {},
    dict(user_positions=((12.0, 0.0, 25.0), (16.0, 180.0, 10.0)), eve_positions=((25.0, 180.0, 20.0),),
         target_positions=((15.0, 180.0, 30.0),), target_velocities_mps=(-3.0,)),
)


def _random_design(sys, s, rng):
    """Random SIM phases, MRT beams through the random comm SIM on a random unit-modulus RF
    matrix, AN in the users' null space, and a random point of (41b)-(41e) with tau_ce = tau_min."""
    L_, N = s.n_layers, s.n_per_layer
    th = [jnp.asarray(rng.uniform(0, 2 * np.pi, (L_, N))) for _ in range(3)]
    h_eff = np.asarray(sim_effective_channels(sys.H_users, th[0], sys.h1, sys.h_inter))
    w = np.conj(h_eff.T) / np.linalg.norm(h_eff, axis=1)[None, :]
    an = rng.uniform(0.05, 0.4)
    hyb = _am(jnp.asarray(w * np.sqrt((1 - an) / w.shape[1])), s.n_rf_chains, 50, power=1 - an)
    w_rf, W_BB = np.asarray(hyb.w_rf), np.asarray(hyb.w_bb)
    W_BB = W_BB * np.sqrt((1 - an) / np.sum(np.abs(w_rf @ W_BB) ** 2))     # exactly 1 - an
    proj = np.asarray(an_null_space_projector(jnp.asarray(h_eff)))
    R = an * proj / np.real(np.trace(proj))
    p_c = rng.uniform(0.15, 0.6)                           # unit total power, then scaled to p_c
    t_bar = 1 - 2 * s.t_switch / s.t_slot - s.tau_min
    tc = rng.uniform(s.tau_min, 0.45)
    ts = rng.uniform(s.tau_min, t_bar - tc)
    e_bar = s.energy_budget / s.t_slot
    tc = min(tc, 0.8 * e_bar / p_c)
    p_s = min(s.p_bs_max, rng.uniform(0.3, 1.0) * (e_bar - tc * p_c) / ts)
    return SimDesign(th[0], th[1], th[2], jnp.asarray(w_rf), jnp.asarray(W_BB * np.sqrt(p_c)),
                     jnp.asarray(R * p_c), jnp.asarray([s.tau_min, ts, tc]), jnp.asarray(p_s),
                     jnp.asarray(p_c))


@pytest.mark.parametrize("geo", range(len(GEOMETRIES)))
def test_block_d_never_lowers_driver_merit(geo):
    """Random small instances (geometry x random phases / beams / resources x alpha x robust):
    whenever the previous design satisfies D's constraints, D's output does not lower the merit
    ``f_aug = U - lambda P`` the driver tests (P is untouched by D, so U is compared, with the
    driver's own jitted evaluation), to 1e-6 relative. When D reports a restoration, the named
    constraint really is violated before and met after."""
    s = SimScenario(**dict(SMALL_SIM, **GEOMETRIES[geo]))
    sys = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(5), 1))
    rng = np.random.default_rng(100 + geo)
    n_checked = 0
    for trial in range(5):
        d = _random_design(sys, s, rng)
        alpha, robust = float(rng.uniform(0.1, 0.9)), bool(trial % 2)
        # normalised at the random design itself, so U = O(1) and 1e-6 relative is a real test
        _, S0, crb0 = L._evaluate(sys, d, s, 0.0, Normalizers(1.0, 1.0))
        norm = Normalizers(max(S0, 1e-3), crb0)
        u_old = L._evaluate(sys, d, s, alpha, norm)[0]
        d2, info = bd.resource_block(sys, d, s, alpha=alpha, norm=norm, robust=robust,
                                     key=jax.random.PRNGKey(trial))
        if info["status"].startswith("infeasible"):    # e.g. (23j) needs > P_max with these beams
            assert d2 is d
            continue
        assert info["status"].startswith("optimal"), info["status"]
        for f in ("theta_comm", "theta_sense", "theta_ce"):
            np.testing.assert_array_equal(np.asarray(getattr(d2, f)), np.asarray(getattr(d, f)))
        u_new = L._evaluate(sys, d2, s, alpha, norm)[0]
        assert info["utility_true"] == u_new and info["utility_previous"] == u_old
        v = L.constraint_violations(d2, s)
        assert max(v["time"], v["energy"], v["power_comm"], v["power_sense"], v["tau_bounds"],
                   v["p_comm_allocation"]) <= 1e-12
        # D rescales the beams onto its allocation exactly (radiated power, numpy)
        W = np.asarray(d2.W_RF) @ np.asarray(d2.W_BB)
        p_rad = np.sum(np.abs(W) ** 2) + np.trace(np.asarray(d2.R_AN)).real
        assert p_rad == pytest.approx(float(d2.p_comm), rel=1e-10)
        if info["restores_feasibility"]:
            viol = info["previous_violations"]
            assert all(viol[k] > 1e-9 for k in info["restores_feasibility"])
            if "sinr" in info["restores_feasibility"]:
                assert float(d2.p_comm) >= info["p_comm_min_sinr"] * (1 - 1e-12)
            continue
        n_checked += 1
        assert u_new >= u_old - 1e-6 * max(1.0, abs(u_old)), (trial, u_old, u_new, info["status"])
        # the reduced model is the merit itself (same (a, b) law, exact secrecy rates)
        assert info["utility"] == pytest.approx(u_new, rel=1e-9, abs=1e-12)
        # again from D's own (near-stationary) output: the hard case for a grid search
        d3, info3 = bd.resource_block(sys, d2, s, alpha=alpha, norm=norm, robust=robust,
                                      key=jax.random.PRNGKey(trial + 10))
        if not info3["restores_feasibility"]:          # (23f) is re-sampled with the new key
            u3 = L._evaluate(sys, d3, s, alpha, norm)[0]
            assert u3 >= u_new - 1e-6 * max(1.0, abs(u_new)), (trial, u_new, u3, info3["status"])
    assert n_checked >= 2          # the ascent check above must not be vacuous


def test_block_d_restoration_of_tau_ce_min(inst):
    """Block E's training-time requirement above the current tau_ce: the previous design is outside
    D's feasible set, D meets tau_ce >= tau_ce_min (and (41b)-(41e)) and says so; the drop in U is
    the price of the constraint (optimum over a smaller set), not a model error."""
    s, sys, d = inst
    norm = Normalizers(float(secrecy_throughput(sys, d, s)), float(crb_total(sys, d, s)))
    d1, _ = bd.resource_block(sys, d, s, alpha=0.5, norm=norm, robust=False)   # D-optimal start
    d2, info = bd.resource_block(sys, d1, s, alpha=0.5, norm=norm, robust=False, tau_ce_min=0.4)
    assert "tau_ce_min" in info["restores_feasibility"]
    assert "restores_feasibility(" in info["status"]
    assert not any(w in info["status"] for w in L._FAIL_WORDS + L._REJECT_WORDS)
    assert float(d2.tau[0]) == pytest.approx(0.4, abs=1e-15)
    assert info["previous_violations"]["tau_ce_min"] == pytest.approx(0.4 - float(d1.tau[0]))
    v = L.constraint_violations(d2, s)
    assert max(v["time"], v["energy"], v["tau_bounds"]) <= 1e-12
    assert info["utility_true"] < info["utility_previous"]       # here meeting (42b) costs U
    assert info["utility"] == pytest.approx(info["utility_true"], rel=1e-9)
    # same call, previous design already feasible (tau_ce_min met): the ascent guarantee holds
    d3, info3 = bd.resource_block(sys, d2, s, alpha=0.5, norm=norm, robust=False, tau_ce_min=0.4)
    assert info3["restores_feasibility"] == []
    assert info3["utility_true"] >= info3["utility_previous"] - 1e-12 * max(1, abs(info3["utility_previous"]))


def test_block_d_merit_safeguard_backtracks(inst, monkeypatch):
    """Force a model/merit mismatch (CRB law coefficients off by 3x): the output, checked with the
    driver's merit, must still not lower it (backtracked on the segment or previous design kept),
    and every constraint still holds."""
    s, sys, d = inst
    norm = Normalizers(float(secrecy_throughput(sys, d, s)), float(crb_total(sys, d, s)))
    d1, _ = bd.resource_block(sys, d, s, alpha=0.5, norm=norm, robust=False)    # true optimum
    true_coeffs = bd.crb_time_power_coefficients
    monkeypatch.setattr(bd, "crb_time_power_coefficients",
                        lambda *a, **k: tuple(3.0 * c for c in true_coeffs(*a, **k)))
    d2, info = bd.resource_block(sys, d1, s, alpha=0.5, norm=norm, robust=False)
    assert info["utility_model_optimum"] != pytest.approx(info["utility_previous"], rel=1e-3)
    assert ("backtracked" in info["status"]) or ("previous_design_kept" in info["status"])
    assert info["utility_true"] >= info["utility_previous"]
    assert L._evaluate(sys, d2, s, 0.5, norm)[0] >= L._evaluate(sys, d1, s, 0.5, norm)[0]
    v = L.constraint_violations(d2, s)
    assert max(v["time"], v["energy"], v["power_comm"], v["power_sense"], v["tau_bounds"]) <= 1e-12
