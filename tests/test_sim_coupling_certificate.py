"""Coupling spread of the SIM certificate (``jisac.evaluation.sim.coupling_outages`` /
``coupling_certificate``): the one-drop certificate is taken at one realisation of the Rician
inter-layer model (10); these functions re-evaluate a design over fresh realisations.

References: a NumPy Monte Carlo of the secrecy outage written here from 004 eqs. (2), (17)-(22)
and the certificate's error model (own RNG, so compared within binomial error); the
certificate itself on the same draws; the aggregation recomputed from the per-realisation
matrix."""

import dataclasses

import equinox as eqx
import jax
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import lbcd as L
from jisac.channels.sim_coupling import rician_coupling
from jisac.designs.sim import SimDesign
from jisac.evaluation.sim import certify_sim, coupling_certificate, coupling_outages
from jisac.scenarios import SimScenario
from jisac.systems.sim import realize_sim_drops
from small_systems import SMALL_SIM, small_sim_scenario_dict


@pytest.fixture(scope="module")
def setup():
    # a design and requirement with outages strictly inside (0, 1) (weak beams, no AN), so the
    # comparisons below can discriminate
    s = SimScenario(**SMALL_SIM)
    sy = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(3), 1))
    init = L.initial_design(sy, s)
    f = {k: getattr(init, k) for k in ("theta_comm", "theta_sense", "theta_ce", "W_RF", "W_BB",
                                       "R_AN", "tau", "p_sense", "p_comm")}
    f.update(W_BB=init.W_BB * 0.1, R_AN=init.R_AN * 0.0)
    s = dataclasses.replace(s, r_min=0.2, csi_error_bound=0.3, interlayer_rician_k=3.0)
    return s, sy, SimDesign(**f)


def _np_outage(sy, d, s, h_inter, n, rng):
    """Per-user ``Pr{R_k^sec < R_min}``: cascade (2) layer by layer, ``h_eff = G^H h`` (17)-(18),
    SINRs (20)-(21) with AN, secrecy rate (22); eve errors ``CN(0, std_e^2 I)``,
    ``std_e = eve_error_std ||h_e|| / sqrt(N)``; user errors uniform in the complex ball of
    radius ``csi_error_bound ||h_eff,k||`` (radius ``eps U^(1/(2M))``, isotropic direction)."""
    th = np.asarray(d.theta_comm)
    g = np.exp(1j * th[0])[:, None] * np.asarray(sy.h1)
    for l in range(1, th.shape[0]):
        g = np.exp(1j * th[l])[:, None] * (np.asarray(h_inter[l - 1]) @ g)
    W, R = np.asarray(d.W), np.asarray(d.R_AN)
    Hu, He = np.asarray(sy.H_users), np.asarray(sy.H_eves)
    hu = Hu @ np.conj(g)                                                  # (K, M)
    K, M = hu.shape
    E, N = He.shape
    eps = s.csi_error_bound * np.linalg.norm(hu, axis=1)
    std_e = s.eve_error_std * np.linalg.norm(He, axis=1) / np.sqrt(N)

    def cn(*shape):
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)

    def sinr(h, noise):                       # h (n, J, M) -> (n, J, K): receiver j, stream k
        a = np.abs(np.einsum("njm,mk->njk", np.conj(h), W)) ** 2
        an = np.real(np.einsum("njm,mp,njp->nj", np.conj(h), R, h))
        return a / (a.sum(axis=2, keepdims=True) - a + an[..., None] + noise)

    d_u = cn(n, K, M)
    r = eps * rng.uniform(size=(n, K)) ** (1 / (2 * M))
    hu_t = hu + (r / np.linalg.norm(d_u, axis=2))[..., None] * d_u
    he_t = (He + std_e[:, None] * cn(n, E, N)) @ np.conj(g)
    r_u = np.log2(1 + np.diagonal(sinr(hu_t, s.noise), axis1=1, axis2=2))
    r_e = np.log2(1 + sinr(he_t, s.noise_eve)).max(axis=1)
    sec = np.maximum(r_u - r_e, 0.0)
    return np.mean(sec < s.r_min, axis=0)


def test_per_coupling_outage_matches_numpy(setup):
    s, sy, d = setup
    kappa = 3.0 / 4.0
    stack = jax.vmap(lambda k: rician_coupling(k, sy.h_inter, kappa))(
        jax.random.split(jax.random.PRNGKey(11), 3))
    n = 8000
    got = np.asarray(coupling_outages(sy, d, s, stack, jax.random.PRNGKey(12), n_draws=n,
                                      chunk=2000))
    assert got.shape == (3, 2)
    rng = np.random.default_rng(0)
    ref = np.stack([_np_outage(sy, d, s, np.asarray(h), n, rng) for h in stack])
    # the checks must discriminate: some outage strictly inside (0, 1), and the realisations
    # must differ from one another (else the coupling would not matter)
    assert np.any((ref > 0.02) & (ref < 0.98)), ref
    assert np.ptp(ref, axis=0).max() > 0.05, ref
    # two independent binomial estimates of n draws each: 5 sigma of their difference
    pbar = 0.5 * (got + ref)
    sd = np.sqrt(np.maximum(2 * pbar * (1 - pbar) / n, 1e-8))
    assert np.all(np.abs(got - ref) <= 5 * sd), (got, ref)


def test_rows_are_the_certificate_on_the_same_draws(setup):
    """Row c with key fold_in(key, c) at the drop's own coupling = ``certify_sim``'s outage."""
    s, sy, d = setup
    key, n = jax.random.PRNGKey(21), 3000
    stack = np.stack([np.asarray(sy.h_inter_eval), np.asarray(sy.h_inter)])
    got = np.asarray(coupling_outages(sy, d, s, stack, key, n_draws=n, chunk=1000))
    c0 = certify_sim(sy, d, s, jax.random.fold_in(key, 0), n_draws=n, chunk=1000)
    sy_los = eqx.tree_at(lambda t: t.h_inter_eval, sy, sy.h_inter)
    c1 = certify_sim(sy_los, d, s, jax.random.fold_in(key, 1), n_draws=n, chunk=1000)
    # same draws, same model: counts equal up to a draw sitting on R_min within round-off
    np.testing.assert_allclose(got[0], c0["secrecy_outage"], rtol=0, atol=1.0 / n + 1e-12)
    np.testing.assert_allclose(got[1], c1["secrecy_outage"], rtol=0, atol=1.0 / n + 1e-12)


def test_certificate_summary(setup):
    """Summary = the statistics of the per-realisation matrix drawn from the documented split
    of the key (recomputed here); with no scatter (K-factor 1e12) every realisation is the LoS
    one, so all agree with the design-model outage."""
    s, sy, d = setup
    key, nc, n = jax.random.PRNGKey(31), 6, 2000
    out = coupling_certificate(sy, d, s, key, n_couplings=nc, n_draws=n, chunk=1000)
    k_h, k_mc = jax.random.split(key)
    stack = jax.vmap(lambda k: rician_coupling(k, sy.h_inter, 3.0 / 4.0))(
        jax.random.split(k_h, nc))
    p = np.asarray(coupling_outages(sy, d, s, stack, k_mc, n_draws=n, chunk=1000), np.float64)
    worst = p.max(axis=1)
    assert out["n_couplings"] == nc and out["n_draws"] == n
    np.testing.assert_allclose(out["outage_mean"], p.mean(axis=0), rtol=0, atol=1e-12)
    assert out["pass_rate"] == pytest.approx(np.mean(worst <= s.eps_out))
    lo, hi = out["pass_rate_ci"]
    assert 0.0 <= lo <= out["pass_rate"] <= hi <= 1.0
    np.testing.assert_allclose(out["max_outage_quantiles"],
                               np.quantile(worst, [0.1, 0.5, 0.9]), rtol=0, atol=1e-12)

    s_los = dataclasses.replace(s, interlayer_rician_k=1e12)
    los = coupling_certificate(sy, d, s_los, key, n_couplings=4, n_draws=n, chunk=1000)
    ref = _np_outage(sy, d, s_los, np.asarray(sy.h_inter), 4 * n, np.random.default_rng(1))
    assert np.any((ref > 0.02) & (ref < 0.98)), ref
    sd = np.sqrt(np.maximum(ref * (1 - ref), 1e-4) * (1 / (4 * n) + 1 / (4 * n)))
    assert np.all(np.abs(np.asarray(los["outage_mean"]) - ref) <= 5 * sd), (los, ref)


def test_job_reports_it_and_recertify_reproduces_it(tmp_path):
    """A SIM job's certificate carries the coupling block; ``experiments.recertify`` recomputes
    it from the written run directory alone (config.yaml + design.npz + recorded seeds)."""
    from experiments.recertify import recertify
    from jisac import io as jio
    from jisac.config import job_from_dict
    from jisac.jobs import run_job

    sc = small_sim_scenario_dict()
    job = job_from_dict({"scenario": sc, "scheme": {"name": "mrt"}, "seed": 5, "n_drops": 2,
                         "mc_draws": 3000, "mc_chunk": 1000})
    r = run_job(job)
    blocks = [c["coupling"] for c in r.metrics["certificate"]]
    assert [b["n_draws"] for b in blocks] == [3000, 3000]          # min(mc_draws, 4096)
    assert all(b["n_couplings"] == 32 and 0.0 <= b["pass_rate"] <= 1.0 for b in blocks)
    jio.write_yaml_atomic(tmp_path / jio.CONFIG_FILE, {**job.to_dict(), "job_seed": job.job_seed()})
    jio.write_json_atomic(tmp_path / jio.METRICS_FILE, jio.to_jsonable(r.metrics))
    jio.write_npz_atomic(tmp_path / jio.DESIGN_FILE, r.design)
    again = recertify(tmp_path)
    assert len(again) == 2
    for got, want in zip(again, blocks):
        assert got["pass_rate"] == want["pass_rate"]
        np.testing.assert_allclose(got["outage_mean"], want["outage_mean"], rtol=0, atol=1e-12)


def test_recertify_refuses_what_it_cannot_redo(tmp_path, capsys):
    from experiments.recertify import main
    from jisac import io as jio

    assert main([str(tmp_path)]) == 2                                   # not a run directory
    assert "not a run directory" in capsys.readouterr().err
    jio.write_yaml_atomic(tmp_path / jio.CONFIG_FILE, {"scenario": {"kind": "sim_isac"}})
    assert main([str(tmp_path)]) == 2                                   # no design.npz
    assert "needs config.yaml and design.npz" in capsys.readouterr().err
