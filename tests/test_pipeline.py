"""Systems, reference designs, evaluation and the job pipeline, against NumPy written here."""

import jax
import numpy as np
import pytest
from omegaconf import OmegaConf

from jisac.config import job_from_dict
from jisac.designs.sim import design_mrt as sim_mrt
from jisac.designs.tris import design_mrt as tris_mrt
from jisac.evaluation.sim import evaluate_sim
from jisac.evaluation.tris import evaluate_tris
from jisac.jobs import run_job
from jisac.scenarios import SimScenario, TrisScenario
from jisac.schemes import MrtParams
from jisac.systems.sim import realize_sim_drops
from jisac.systems.tris import realize_tris_drops
from small_systems import SMALL_SIM

SMALL_TRIS = dict(n_rows=2, n_cols=3, n_elements=6, n_slots=2, t_total_ms=4.0)


def _drop(tree, i=0):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def test_tris_system_error_models(key):
    s = TrisScenario(**SMALL_TRIS)
    sys = _drop(realize_tris_drops(s, key, 1))
    lam = 299_792_458.0 / 30e9
    d = np.array([p[0] for p in s.lu_positions])
    np.testing.assert_allclose(sys.lu_eps, s.eps_lu * lam / (4 * np.pi * d), rtol=1e-12)
    # Compatibility rule: Pr(||dh|| > eps) = error_exceed_prob for dh ~ CN(0, sigma2 I).
    n, draws = s.n_elements, 200_000
    rng = np.random.default_rng(1)
    z = (rng.standard_normal((draws, n)) + 1j * rng.standard_normal((draws, n))) / np.sqrt(2)
    norms = np.sqrt(float(sys.lu_sigma2[0])) * np.linalg.norm(z, axis=1)
    p_hat = np.mean(norms > float(sys.lu_eps[0]))
    sd = np.sqrt(s.error_exceed_prob * (1 - s.error_exceed_prob) / draws)
    assert abs(p_hat - s.error_exceed_prob) < 5 * sd
    # Scanning covariances meet the per-element power with equality (diag = P_t).
    np.testing.assert_allclose(np.real(np.diagonal(sys.R_scan, axis1=1, axis2=2)), s.p_t, rtol=1e-12)


def _np_secrecy(W, H, G, C, nl, ni):
    """000 eqs. (17)-(25) written out with loops."""
    K, M = H.shape[0], G.shape[0]
    sec = 0.0
    for k in range(K):
        h = H[k]
        p = [abs(np.vdot(h, W[:, i])) ** 2 for i in range(K + 1)]
        rp = np.log2(1 + p[k + 1] / (sum(p[1:]) - p[k + 1] + nl))
        rk = C[k] + rp
        worst = max(np.log2(1 + abs(np.vdot(G[m], W[:, k + 1])) ** 2 /
                            (abs(np.vdot(G[m], W[:, 0])) ** 2 + ni)) for m in range(M))
        sec += max(rk - worst, 0.0)
    return sec


def test_tris_mrt_design_and_metrics(key):
    s = TrisScenario(**SMALL_TRIS)
    sys = _drop(realize_tris_drops(s, key, 1))
    d = tris_mrt(sys, s, MrtParams(common_fraction=0.25))
    W, t, C = np.asarray(d.W), np.asarray(d.t), np.asarray(d.C)
    np.testing.assert_allclose(np.sum(np.abs(W) ** 2, axis=2), s.p_t, rtol=1e-12)   # (34d) tight
    assert np.sum(t) <= s.t_total + 1e-15 and np.all(t >= s.t_min) and np.all(t <= s.t_max)
    H, G = np.asarray(sys.H_hat), np.asarray(sys.g_scale)[:, None] * np.asarray(sys.G_hat)
    # (34g): the split sums to the common rate min_k log2(1 + gamma_c,k)
    gam_c = [abs(np.vdot(H[k], W[0, :, 0])) ** 2 /
             (sum(abs(np.vdot(H[k], W[0, :, i])) ** 2 for i in range(1, 4)) + s.noise_lu)
             for k in range(3)]
    np.testing.assert_allclose(np.sum(C[0]), np.log2(1 + min(gam_c)), rtol=1e-10)
    m = evaluate_tris(sys, d, s)
    ref = sum(t[l] * _np_secrecy(W[l], H, G, C[l], s.noise_lu, s.noise_iu) for l in range(2)) / s.t_total
    np.testing.assert_allclose(m["secrecy_sum_rate"], ref, rtol=1e-10)
    p = np.sum(np.abs(W) ** 2, axis=(1, 2))
    pd_ref = s.p_fa ** (1.0 / (1.0 + p[:, None] * np.asarray(sys.zeta_worst)[None, :]))
    np.testing.assert_allclose(m["detection_probability"], pd_ref, rtol=1e-12)
    pm = s.power_model
    p_tot = np.sum(t * p) / s.t_total / pm["pa_efficiency"] + pm["p_static_w"] + 6 * pm["p_tris_element_w"]
    np.testing.assert_allclose(m["see"], ref / p_tot, rtol=1e-10)
    assert np.all(np.asarray(m["rcrb_distance_m"]) > 0)


def test_sim_mrt_design_and_secrecy(key):
    s = SimScenario(**SMALL_SIM)
    sys = _drop(realize_sim_drops(s, key, 1))
    d = sim_mrt(sys, s, MrtParams(an_fraction=0.2))
    np.testing.assert_allclose(np.abs(d.W_RF), 1.0, atol=1e-12)                    # unit modulus
    m = evaluate_sim(sys, d, s)
    # Independent NumPy cascade with the evaluation couplings (phases all zero).
    G = np.asarray(sys.h_inter_eval[0]) @ np.asarray(sys.h1)
    W, R = np.asarray(d.W), np.asarray(d.R_AN)
    hu = np.asarray(sys.H_users) @ np.conj(G)
    he = np.asarray(sys.H_eves) @ np.conj(G)

    def sinr(h, k):
        sig = abs(np.vdot(h, W[:, k])) ** 2
        intf = sum(abs(np.vdot(h, W[:, j])) ** 2 for j in range(W.shape[1]) if j != k)
        return sig / (intf + np.real(np.vdot(h, R @ h)) + s.noise)

    ref = sum(max(np.log2(1 + sinr(hu[k], k)) - max(np.log2(1 + sinr(e, k)) for e in he), 0.0)
              for k in range(2))
    np.testing.assert_allclose(m["sum_secrecy_rate"], ref, rtol=1e-9)
    assert float(m["energy_excess_j"]) <= 1e-12 and float(m["time_excess"]) <= 1e-12
    assert np.isfinite(float(m["crb_total"])) and float(m["crb_total"]) > 0


@pytest.mark.parametrize("kind, over", [("tris_rsma", SMALL_TRIS), ("sim_isac", SMALL_SIM)])
def test_run_job_small(kind, over):
    sc = OmegaConf.to_container(OmegaConf.load(f"conf/scenario/{kind}.yaml"))
    sc.update({k: [list(p) for p in v] if isinstance(v, tuple) and v and isinstance(v[0], tuple)
               else (list(v) if isinstance(v, tuple) else v) for k, v in over.items()})
    job = job_from_dict({"scenario": sc, "scheme": {"name": "mrt"}, "seed": 3, "n_drops": 2,
                         "mc_draws": 4096, "mc_chunk": 1024})
    r = run_job(job)
    assert r.status == "closed_form"
    assert len(r.metrics["drops"]) == 2 and len(r.metrics["certificate"]) == 2
    assert r.metrics["certificate"][0]["n_draws"] == 4096
    key = "secrecy_sum_rate" if kind == "tris_rsma" else "sum_secrecy_rate"
    vals = [d[key] for d in r.metrics["drops"]]
    np.testing.assert_allclose(r.metrics[key], np.mean(vals), rtol=1e-12)
    # same config, same numbers
    again = run_job(job)
    assert again.metrics[key] == r.metrics[key]
    assert again.metrics["certificate"] == r.metrics["certificate"]


def test_run_job_an_baseline_wiring():
    """An AN baseline goes through the job pipeline: its own evaluation and certificate."""
    sc = OmegaConf.to_container(OmegaConf.load("conf/scenario/tris_rsma.yaml"))
    sc.update(SMALL_TRIS)
    sc.update({"radar_noise_dbm": -163.0})   # detection floor reachable at N = 6
    job = job_from_dict({"scenario": sc, "scheme": {"name": "sdp_an"}, "seed": 0, "n_drops": 1,
                         "mc_draws": 2048, "mc_chunk": 1024})
    r = run_job(job)
    assert "W_private" in r.design and "R_AN" in r.design
    assert r.metrics["certificate"][0]["n_draws"] == 2048
    d = r.metrics["drops"][0]
    assert np.isfinite(d["secrecy_sum_rate"]) and d["element_power_excess_w"] <= 1e-9
    (rec,) = r.metrics["tris"]                      # the baseline's own per-drop record
    assert rec["status"] == r.metrics["status"] and "solver_status" not in rec


def test_run_job_infeasible_detection_floor_is_recorded_with_its_reason():
    """000 (62) at N = 6 with Table I's radar noise needs more total power than N P_t: the job
    ends 'infeasible' before any solve, and metrics.json says why (per drop, under ``tris``)."""
    sc = OmegaConf.to_container(OmegaConf.load("conf/scenario/tris_rsma.yaml"))
    sc.update(SMALL_TRIS)
    job = job_from_dict({"scenario": sc, "scheme": {"name": "rsma"}, "seed": 0, "n_drops": 1,
                         "mc_draws": 1024, "mc_chunk": 1024})
    r = run_job(job)
    assert r.status == "infeasible"
    assert r.metrics["solver_status"] == [[]]       # no conic solve was attempted
    (rec,) = r.metrics["tris"]
    assert rec["status"] == "infeasible" and "(62)" in rec["infeasible_reason"]
