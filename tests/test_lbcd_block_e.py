"""Block E (paper 004 (42)): the closed-form LS channel-estimation error model against a
sample-level Monte-Carlo simulation of the pilot transmission + least squares, the Chernoff
quantile's coverage, and the optimisation step."""

import jax
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from jisac.algorithms.sim_lbcd import block_e as be
from jisac.designs.sim import design_mrt
from jisac.hardware.sim import sim_cascade
from jisac.scenarios import SimScenario
from jisac.schemes import MrtParams
from jisac.systems.sim import realize_sim_drops
from small_systems import SMALL_SIM as BASE_SIM

SMALL_SIM = dict(BASE_SIM, n_ce_configs=4)
# n_q = tau_ce T_slot B / Q = 0.05 * 1e-3 * 640e3 / 4 = 8 pilot samples per configuration (>= M = 4)
BANDWIDTH = 640e3
N_Q = 8


@pytest.fixture(scope="module")
def inst():
    s = SimScenario(**SMALL_SIM)
    sys = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(3), 1))
    d = design_mrt(sys, s, MrtParams(an_fraction=0.2))
    rng = np.random.default_rng(7)
    th = rng.uniform(0, 2 * np.pi, d.theta_ce.shape)        # generic (non-zero) CE configuration
    d = d.__class__(d.theta_comm, d.theta_sense, th, d.W_RF, d.W_BB, d.R_AN, d.tau, d.p_sense,
                    d.p_comm)
    return s, sys, d


def _simulate_ls(s, sys, d, n_trials, rng):
    """Sample-level reference: explicit DFT pilots, per-sample noise CN(0, s.noise), LS over all
    Q * n_q samples (lstsq via pinv of the stacked real system), error of h_eff = G_c^H h."""
    M, Q = 4, s.n_ce_configs
    tau_ce = float(d.tau[0])
    assert abs(tau_ce * s.t_slot * BANDWIDTH / Q - N_Q) < 1e-9
    cfgs = np.asarray(be.training_phases(d.theta_ce, Q))
    m, t = np.arange(M)[:, None], np.arange(N_Q)[None, :]
    X = np.sqrt(s.p_bs_max / M) * np.exp(2j * np.pi * m * t / N_Q)   # X X^H = (P n_q / M) I
    B = np.concatenate([np.asarray(sim_cascade(c, sys.h1, sys.h_inter)) @ X for c in cfgs], axis=1)
    # y = h^H B + n  (1 x Q n_q);  LS: h^H_hat = y pinv(B)
    h = np.asarray(sys.H_users[0])
    noise = np.sqrt(s.noise / 2) * (rng.standard_normal((n_trials, B.shape[1]))
                                    + 1j * rng.standard_normal((n_trials, B.shape[1])))
    y = h.conj()[None, :] @ B + noise
    h_hat = np.conj(y @ np.linalg.pinv(B))                              # (trials, N)
    Gc = np.asarray(sim_cascade(d.theta_comm, sys.h1, sys.h_inter))
    return (h_hat - h[None, :]) @ np.conj(Gc)                           # rows: G_c^H (h_hat - h)


def test_error_model_vs_monte_carlo(inst):
    """tr C = E||Delta h_eff||^2 and C entrywise (5 sigma CLT); unbiased (5 sigma); the Chernoff
    radius covers at least `confidence` of the errors (one-sided 5-sigma binomial)."""
    s, sys, d = inst
    n = 20000
    err = _simulate_ls(s, sys, d, n, np.random.default_rng(0))
    sig2 = be.effective_noise(s, float(d.tau[0]), 4, BANDWIDTH)
    C = np.asarray(be.ce_error_covariance(d.theta_ce, d.theta_comm, sys.h1, sys.h_inter, sig2,
                                          s.n_ce_configs))
    sq = np.sum(np.abs(err) ** 2, axis=1)
    assert abs(sq.mean() - np.trace(C).real) <= 5 * sq.std(ddof=1) / np.sqrt(n)
    outer = np.einsum("sm,sn->smn", err, err.conj())
    emp = outer.mean(0)
    sd = np.sqrt(np.var(outer.real, 0) + np.var(outer.imag, 0)) / np.sqrt(n)
    assert np.all(np.abs(emp - C) <= 5 * sd + 1e-30)
    mean_sd = np.sqrt(np.var(err.real, 0) + np.var(err.imag, 0)) / np.sqrt(n)
    assert np.all(np.abs(err.mean(0)) <= 5 * mean_sd)
    for conf in (0.9, 0.99):
        lam = np.linalg.eigvalsh(C)
        r = float(np.sqrt(be.chernoff_quantile(lam, 1 - conf)))
        cover = np.mean(np.sqrt(sq) <= r)
        assert cover >= conf - 5 * np.sqrt(conf * (1 - conf) / n)
        # the grid minimisation is the Chernoff bound: independent bounded scalar minimisation;
        # grid step 1/2048 in s*lam_max, quadratic near the minimum -> excess O(1e-6), allow 1e-5
        f = lambda u: (-np.sum(np.log1p(-u * lam / lam.max())) - np.log(1 - conf)) / (u / lam.max())
        ref = minimize_scalar(f, bounds=(1e-12, 1 - 1e-12), method="bounded",
                              options={"xatol": 1e-14}).fun
        assert ref * (1 - 1e-12) <= r ** 2 <= ref * (1 + 1e-5)


def test_chernoff_quantile_exact_case():
    """Equal eigenvalues: sum of n Exp(lam) is Gamma(n, lam); the bound must be >= the exact
    quantile (from the Erlang tail in closed form) and within the Chernoff gap (< 2x here)."""
    from math import exp, factorial
    lam, n, a = 0.3, 4, 0.05
    tail = lambda x: exp(-x / lam) * sum((x / lam) ** i / factorial(i) for i in range(n))
    lo, hi = 0.0, 100.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if tail(mid) > a else (lo, mid)
    x = float(be.chernoff_quantile(np.full(n, lam), a))
    assert hi <= x <= 2 * hi


def test_ce_block_improves_and_reports(inst):
    s, sys, d = inst
    d2, info = be.ce_block(sys, d, s, bandwidth_hz=BANDWIDTH, n_steps=60)
    assert info["status"].startswith("optimal")
    assert info["eps_csi"].shape == (2,)
    assert info["eps_csi"][0] <= info["eps_before"] * (1 + 1e-12)
    # the reported eps is the Chernoff radius of the error model at the returned theta_ce
    sig2 = be.effective_noise(s, float(d.tau[0]), 4, BANDWIDTH)
    C = np.asarray(be.ce_error_covariance(d2.theta_ce, d.theta_comm, sys.h1, sys.h_inter, sig2,
                                          s.n_ce_configs))
    r = float(np.sqrt(be.chernoff_quantile(np.linalg.eigvalsh(C), 0.05)))
    assert info["eps_csi"][0] == pytest.approx(r, rel=1e-10)
    # eps ~ tau_ce^{-1/2}: the required tau_ce meets the target exactly (unless clipped)
    need = info["tau_ce_required"]
    if s.tau_min < need < s.tau_max:
        sig2n = be.effective_noise(s, need, 4, BANDWIDTH)
        Cn = np.asarray(be.ce_error_covariance(d2.theta_ce, d.theta_comm, sys.h1, sys.h_inter,
                                               sig2n, s.n_ce_configs))
        rn = float(np.sqrt(be.chernoff_quantile(np.linalg.eigvalsh(Cn), 0.05)))
        assert rn == pytest.approx(float(np.min(info["eps_target"])), rel=1e-9)


def test_pilot_bandwidth_is_a_scenario_field(inst):
    """B comes from ``scenario.pilot_bandwidth_mhz`` (default 10 MHz: the former module constant,
    bit-identical), an explicit ``bandwidth_hz`` still overrides it, and the scenario value is
    what ce_block uses by default."""
    s, sys, d = inst
    assert SimScenario().pilot_bandwidth_mhz == 10.0 and SimScenario().pilot_bandwidth == 10e6
    tau = float(d.tau[0])
    assert be.effective_noise(s, tau, 4) == s.noise * 4 * s.n_ce_configs / (s.p_bs_max * tau * s.t_slot * 10e6)
    s_b = SimScenario(**dict(SMALL_SIM, pilot_bandwidth_mhz=BANDWIDTH / 1e6))
    assert be.effective_noise(s_b, tau, 4) == pytest.approx(be.effective_noise(s, tau, 4, BANDWIDTH),
                                                            rel=1e-15)
    _, i_scen = be.ce_block(sys, d, s_b, n_steps=5)
    _, i_expl = be.ce_block(sys, d, s, bandwidth_hz=BANDWIDTH, n_steps=5)
    np.testing.assert_allclose(i_scen["eps_csi"], i_expl["eps_csi"], rtol=1e-12)
    assert i_scen["pilot_samples_per_config"] == pytest.approx(N_Q, rel=1e-12)
