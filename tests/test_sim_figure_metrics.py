"""Per-drop figure metrics of paper 004 (Figs. 3, 7, 9; ``jisac.evaluation.sim``) against references
written here: plain-NumPy quantiles of the same Monte-Carlo draws, NumPy inverses of the FIM, direct
evaluation of the continuous and quantised designs. Small instance (``small_systems.SMALL_SIM``)."""

import dataclasses
import json
import math
from fractions import Fraction

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.certify.monte_carlo import draw_keys, mc_probability
from jisac.evaluation import sim as ev
from jisac.hardware.sim import quantize_phases, sim_cascade
from jisac.metrics import crb
from jisac.metrics import sim_secrecy
from jisac.scenarios import SimScenario
from small_systems import SMALL_SIM, mrt_setup, small_sim_scenario_dict

evaluate = jax.jit(ev.evaluate_sim, static_argnums=2)


@pytest.fixture(scope="module")
def setup():
    s = SimScenario(**SMALL_SIM)
    sy, d, _ = mrt_setup(s)
    # non-trivial phases (MRT has all-zero phases, which every grid contains)
    k = jax.random.PRNGKey(11)
    tc = jax.random.uniform(k, d.theta_comm.shape, d.theta_comm.dtype, 0.0, 2 * np.pi)
    ts = jax.random.uniform(jax.random.fold_in(k, 1), d.theta_comm.shape, d.theta_comm.dtype,
                            0.0, 2 * np.pi)
    d_rand = eqx.tree_at(lambda x: (x.theta_comm, x.theta_sense), d, (tc, ts))
    return s, sy, d, d_rand


# ------------------------------------------------------------------------------------------------
# Fig. 3: eps-outage secrecy rate
# ------------------------------------------------------------------------------------------------


def _brute_outage(x, eps):
    """Largest R with #{x_i < R} <= eps n, searched over the sample values (the sup is attained
    at one of them: #{x < R} is left-continuous and piecewise constant)."""
    n = len(x)
    lim = Fraction(repr(float(eps))) * n
    return max(r for r in x if np.sum(x < r) <= lim)


def test_outage_quantile_brute_force(rng):
    for n, eps in ((100, 0.29), (2000, 0.1), (37, 0.05), (10, 0.0)):
        x = rng.normal(size=n)
        x[: n // 4] = 0.0                       # ties, like [.]^+ clipping of secrecy rates
        q = float(ev.outage_quantile(jnp.asarray(x), eps))
        assert q == _brute_outage(x, eps)
    assert ev.outage_rank(0.29, 100) == 29      # not floor(28.999999999999996)
    # columns independently
    X = rng.normal(size=(500, 3))
    np.testing.assert_array_equal(np.asarray(ev.outage_quantile(jnp.asarray(X), 0.1)),
                                  [_brute_outage(X[:, j], 0.1) for j in range(3)])


def _np_rates(hu, he, W, R, n_u, n_e):
    """Per-user R_k^sec (22) and the eavesdropper term, NumPy loops."""
    K = W.shape[1]

    def sinr(h, k, nv):
        sig = abs(np.vdot(h, W[:, k])) ** 2
        intf = sum(abs(np.vdot(h, W[:, j])) ** 2 for j in range(K) if j != k)
        return sig / (intf + np.real(np.vdot(h, R @ h)) + nv)

    r_e = np.array([max(np.log2(1 + sinr(e, k, n_e)) for e in he) for k in range(K)])
    r_u = np.array([np.log2(1 + sinr(hu[k], k, n_u)) for k in range(K)])
    return np.maximum(r_u - r_e, 0.0), r_e


def _np_worst_sinr(h, W, R, k, eps, nv):
    K = W.shape[1]
    Q = sum(np.outer(W[:, j], np.conj(W[:, j])) for j in range(K) if j != k) + R
    num = max(abs(np.vdot(h, W[:, k])) - eps * np.linalg.norm(W[:, k]), 0.0) ** 2
    c = np.sqrt(max(np.real(np.vdot(h, Q @ h)), 0.0))
    return num / ((c + eps * np.sqrt(np.linalg.eigvalsh(Q)[-1])) ** 2 + nv)


def test_outage_secrecy_rate_matches_numpy_on_same_draws(setup):
    s, sy, d, _ = setup
    s = dataclasses.replace(s, csi_error_bound=0.2)
    key, n = jax.random.PRNGKey(5), 300
    cert = ev.certify_sim(sy, d, s, key, n_draws=n, chunk=128)
    fm = cert["drop_metrics"]
    # re-draw the same realisations (draw i uses fold_in(key, i)) and evaluate with NumPy
    W, R = np.asarray(d.W), np.asarray(d.R_AN)
    G = np.asarray(sim_cascade(d.theta_comm, sy.h1, sy.h_inter_eval))
    hu = np.asarray(sy.H_users) @ np.conj(G)
    He = np.asarray(sy.H_eves)
    K, E, N = hu.shape[0], He.shape[0], He.shape[1]
    M = hu.shape[1]
    eve_std = s.eve_error_std * np.linalg.norm(He, axis=1) / np.sqrt(N)
    eps = s.csi_error_bound * np.linalg.norm(hu, axis=1)
    wc = np.array([np.log2(1 + _np_worst_sinr(hu[k], W, R, k, eps[k], s.noise)) for k in range(K)])
    sec, sec_lb = [], []
    for kd in np.asarray(draw_keys(key, 0, n)):
        k1, k2, k3 = jax.random.split(jnp.asarray(kd), 3)

        def cn(kk, shape):
            z = np.asarray(jax.random.normal(kk, shape + (2,), jnp.float64))
            return (z[..., 0] + 1j * z[..., 1]) / np.sqrt(2.0)
        he = He + eve_std[:, None] * cn(k1, (E, N))
        dd = cn(k2, (K, M))
        r = eps * np.asarray(jax.random.uniform(k3, (K,), jnp.float64)) ** (1.0 / (2 * M))
        hu_t = hu + (r / np.linalg.norm(dd, axis=1))[:, None] * dd
        rs, r_e = _np_rates(hu_t, he @ np.conj(G), W, R, s.noise, s.noise_eve)
        sec.append(rs)
        sec_lb.append(np.maximum(wc - r_e, 0.0))
    sec, sec_lb = np.array(sec), np.array(sec_lb)
    m = int(math.floor(0.1 * n + 1e-9))
    q = np.sort(sec, axis=0)[m]
    q_lb = np.sort(sec_lb, axis=0)[m]
    np.testing.assert_allclose(fm["outage_secrecy_rate_per_user"], q, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fm["outage_secrecy_rate"], q.sum(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fm["outage_secrecy_rate_bound_per_user"], q_lb, rtol=1e-9, atol=1e-12)
    # sample-wise bound => quantile bound
    assert np.all(sec_lb <= sec + 1e-12)
    assert fm["outage_secrecy_rate_bound"] <= fm["outage_secrecy_rate"] + 1e-12
    # the certificate counts the same draws: Pr{R_k < R_min}
    np.testing.assert_allclose(cert["secrecy_outage"], np.mean(sec < s.r_min, axis=0), atol=0)


def test_certificate_unchanged_and_bound_tight_at_zero_error(setup):
    s, sy, d, _ = setup
    key, n = jax.random.PRNGKey(2), 1000
    cert = ev.certify_sim(sy, d, s, key, n_draws=n, chunk=256)
    # the outage estimate is the event count of the previous implementation (mc_probability)
    W, R = d.W, d.R_AN
    G = sim_cascade(d.theta_comm, sy.h1, sy.h_inter_eval)
    hu, He = sy.H_users @ jnp.conj(G), sy.H_eves
    K, E, N, M = hu.shape[0], He.shape[0], He.shape[1], hu.shape[1]
    eve_std = s.eve_error_std * jnp.linalg.norm(He, axis=1) / np.sqrt(N)
    eps = s.csi_error_bound * jnp.linalg.norm(hu, axis=1)

    def cn(k, shape):
        z = jax.random.normal(k, shape + (2,), jnp.float64)
        return (z[..., 0] + 1j * z[..., 1]) / np.sqrt(2.0)

    def event(k):
        k1, k2, k3 = jax.random.split(k, 3)
        he = He + eve_std[:, None] * cn(k1, (E, N))
        dd = cn(k2, (K, M))
        r = eps * jax.random.uniform(k3, (K,), jnp.float64) ** (1.0 / (2 * M))
        hu_t = hu + (r / jnp.linalg.norm(dd, axis=1))[:, None] * dd
        return sim_secrecy.secrecy_rates(hu_t, he @ jnp.conj(G), W, R, s.noise, s.noise_eve) < s.r_min

    est = mc_probability(event, key, n, 256)
    np.testing.assert_allclose(cert["secrecy_outage"], np.asarray(est.p_hat), atol=0)
    np.testing.assert_allclose(cert["secrecy_outage_ci"][1], np.asarray(est.hi), rtol=1e-12)
    # eps_h^max = 0: the worst-case SINR is the nominal one, bound == measured
    c0 = ev.certify_sim(sy, d, dataclasses.replace(s, csi_error_bound=0.0), key, n_draws=n,
                        chunk=256)["drop_metrics"]
    np.testing.assert_allclose(c0["outage_secrecy_rate_bound_per_user"],
                               c0["outage_secrecy_rate_per_user"], rtol=1e-10, atol=1e-12)


def test_worst_case_sinr_below_every_ball_point(setup, rng):
    s, sy, d, _ = setup
    W, R = np.asarray(d.W), np.asarray(d.R_AN)
    G = np.asarray(sim_cascade(d.theta_comm, sy.h1, sy.h_inter_eval))
    hu = np.asarray(sy.H_users) @ np.conj(G)
    radius = 0.3 * np.linalg.norm(hu, axis=1)
    wc = np.asarray(ev.worst_case_user_sinr(jnp.asarray(hu), d.W, d.R_AN, s.noise,
                                            jnp.asarray(radius)))
    nom = np.asarray(sim_secrecy.user_sinr(jnp.asarray(hu), d.W, d.R_AN, s.noise))
    np.testing.assert_allclose(
        ev.worst_case_user_sinr(jnp.asarray(hu), d.W, d.R_AN, s.noise, jnp.zeros(2)), nom,
        rtol=1e-12)
    for k in range(2):
        assert wc[k] == pytest.approx(_np_worst_sinr(hu[k], W, R, k, radius[k], s.noise), rel=1e-10)
        # boundary points, random and adversarial (against w_k, along Q's top eigenvector)
        dirs = list(rng.normal(size=(200, 4)) + 1j * rng.normal(size=(200, 4)))
        dirs.append(-W[:, k] * np.exp(1j * np.angle(np.vdot(W[:, k], hu[k]))))
        for dv in dirs:
            h = hu[k] + radius[k] * dv / np.linalg.norm(dv)
            sig = abs(np.vdot(h, W[:, k])) ** 2
            intf = sum(abs(np.vdot(h, W[:, j])) ** 2 for j in range(2) if j != k)
            assert wc[k] <= sig / (intf + np.real(np.vdot(h, R @ h)) + s.noise) * (1 + 1e-12)
    assert np.all(wc < nom)


# ------------------------------------------------------------------------------------------------
# Fig. 7: Schur / decoupled CRB per parameter and the Thm. 5 bound
# ------------------------------------------------------------------------------------------------


def _np_fig7(J):
    """Per-parameter exact CRB [J^-1]_ii, decoupled [J11^-1]_ii (i = theta, r, v, rcs), and the
    Thm.-5 bound on the error in equilibrated coordinates; NumPy, equilibrated inverses."""
    sc = 1.0 / np.sqrt(np.diag(J))
    K = J * sc[:, None] * sc[None, :]
    Kinv = np.linalg.inv(K)
    exact = np.diag(Kinv)[:4] * sc[:4] ** 2
    K11i = np.linalg.inv(K[:4, :4])
    dec = np.diag(K11i) * sc[:4] ** 2
    K12 = K[:4, 4:]
    S = K[4:, 4:] - K12.T @ K11i @ K12
    U = np.linalg.eigvalsh(K11i)[-1] ** 2 * np.sum(K12 ** 2) / np.linalg.eigvalsh(S)[0]
    return exact, dec, U * sc[:4] ** 2


def test_schur_crb_errors_vs_numpy_inverse(setup):
    s, sy, _, d = setup
    m = evaluate(sy, d, s)
    fims = np.asarray(ev.sensing_fims(sy, d, s, "eval"))
    assert fims.shape == (1, 5, 5)
    exact, dec, bnd = _np_fig7(fims[0])
    np.testing.assert_allclose(m["schur_crb_rel_error"], (exact - dec) / exact, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(m["schur_crb_rel_error_bound"], bnd / dec, rtol=1e-6)
    assert np.all(np.asarray(m["schur_crb_rel_error"]) <= np.asarray(m["schur_crb_rel_error_bound"]))
    # the Schur complement (28) IS the exact CRB: round-off only
    assert float(m["schur_crb_identity_residual"]) < 1e-8
    # crb_total unchanged by the refactor: eq. (15) from the same FIMs, NumPy inverse
    sc = 1.0 / np.sqrt(np.diag(fims[0]))
    Jinv = np.linalg.inv(fims[0] * sc[:, None] * sc[None, :]) * sc[:, None] * sc[None, :]
    assert float(m["crb_total"]) == pytest.approx(np.trace(Jinv[:3, :3]), rel=1e-6)


def test_thm5_param_errors_random_fims(rng):
    """Per-parameter error and bound on badly scaled random FIMs with a 2-dim nuisance block."""
    for i in range(20):
        A = rng.normal(size=(6, 6))
        J = A @ A.T + 0.5 * np.eye(6)
        if i % 2:
            J[:4, 4:] *= 0.1
            J[4:, :4] *= 0.1
        D = np.diag([1e4, 1e-2, 1.0, 1e3, 1.0, 1e2])
        J = D @ J @ D
        out = crb.thm5_param_errors(jnp.asarray(J), (0, 1, 2, 3))
        Jinv = np.linalg.inv(J)
        dec = np.diag(np.linalg.inv(J[:4, :4]))
        np.testing.assert_allclose(out["crb"], np.diag(Jinv)[:4], rtol=1e-8)
        np.testing.assert_allclose(out["decoupled"], dec, rtol=1e-8)
        np.testing.assert_allclose(out["err"], np.diag(Jinv)[:4] - dec, rtol=1e-6,
                                   atol=1e-12 * np.abs(dec).max())
        np.testing.assert_allclose(out["schur"], np.diag(Jinv)[:4], rtol=1e-8)
        assert np.all(np.asarray(out["err"]) <= np.asarray(out["bound"]) * (1 + 1e-10))
        # relative bound invariant to the units (diagonal rescaling)
        out2 = crb.thm5_param_errors(jnp.asarray(np.diag(1 / np.diag(D)) @ J @ np.diag(1 / np.diag(D))),
                                     (0, 1, 2, 3))
        np.testing.assert_allclose(np.asarray(out["bound"]) / np.asarray(out["decoupled"]),
                                   np.asarray(out2["bound"]) / np.asarray(out2["decoupled"]),
                                   rtol=1e-8)


# ------------------------------------------------------------------------------------------------
# Fig. 9: phase-quantisation loss
# ------------------------------------------------------------------------------------------------


def test_project_phases(setup):
    _, _, _, d = setup
    q = ev.project_phases(d, 3)
    for f in ("theta_comm", "theta_sense", "theta_ce"):
        np.testing.assert_array_equal(getattr(q, f), quantize_phases(getattr(d, f), 3))
    np.testing.assert_array_equal(q.W_BB, d.W_BB)


def test_phase_loss_matches_direct_evaluation_and_bound(setup):
    s, sy, _, d = setup
    for b in (1, 2, 3, 4):
        dq = ev.project_phases(d, b)
        out = ev.phase_loss_metrics(sy, d, dq, s, bits=b, source="projection")
        mc, mq = evaluate(sy, d, s), evaluate(sy, dq, s)
        rc, rq = float(mc["sum_secrecy_rate"]), float(mq["sum_secrecy_rate"])
        cc, cq = float(mc["crb_total"]), float(mq["crb_total"])
        assert out["phase_loss_secrecy"] == pytest.approx(100 * (rc - rq) / rc, rel=1e-9)
        assert out["phase_loss_sensing"] == pytest.approx(100 * (cq - cc) / cc, rel=1e-9)
        # Prop. 3 (mean-value form) bounds the absolute relative change of each metric
        assert abs(out["phase_loss_secrecy"]) <= out["phase_loss_bound_secrecy"]
        assert abs(out["phase_loss_sensing"]) <= out["phase_loss_bound_sensing"]
        assert out["phase_loss_bound"] == max(out["phase_loss_bound_secrecy"],
                                              out["phase_loss_bound_sensing"])
        json.dumps(out, allow_nan=False)


def test_phase_loss_vanishes_at_high_resolution(setup):
    s, sy, _, d = setup
    o12, o16 = (ev.phase_loss_metrics(sy, d, ev.project_phases(d, b), s, bits=b) for b in (12, 16))
    # b = 16: half a grid step is 4.8e-5 rad; loss ~ 1e-2 % on this (random-phase) instance
    assert abs(o16["phase_loss_secrecy"]) < 0.02 and abs(o16["phase_loss_sensing"]) < 0.02
    assert abs(o16["phase_loss_secrecy"]) <= o16["phase_loss_bound_secrecy"]
    assert abs(o16["phase_loss_sensing"]) <= o16["phase_loss_bound_sensing"]
    # the bound is first order in the step: 4 more bits divide it by ~16
    for k in ("phase_loss_bound_secrecy", "phase_loss_bound_sensing"):
        assert 8.0 < o12[k] / o16[k] < 32.0
    # identical designs: zero loss exactly
    out0 = ev.phase_loss_metrics(sy, d, d, s)
    assert out0["phase_loss_secrecy"] == 0.0 and out0["phase_loss_sensing"] == 0.0


def test_phase_loss_undefined_is_null_with_reason(setup):
    s, sy, _, d = setup
    # non-phase fields differ -> the phase bound does not apply
    dq = eqx.tree_at(lambda x: x.p_sense, ev.project_phases(d, 3), 0.5 * d.p_sense)
    out = ev.phase_loss_metrics(sy, d, dq, s)
    assert out["phase_loss_bound"] is None and "phase_loss_bound_reason" in out
    assert "phase_loss_bound_sensing_reason" in out
    # zero continuous secrecy rate -> relative loss undefined
    d0 = eqx.tree_at(lambda x: x.W_BB, d, 0.0 * d.W_BB)
    out = ev.phase_loss_metrics(sy, d0, ev.project_phases(d0, 3), s)
    assert out["phase_loss_secrecy"] is None and "phase_loss_secrecy_reason" in out
    assert out["phase_loss_sensing"] is not None


# ------------------------------------------------------------------------------------------------
# Job wiring: every SIM job emits the metrics per drop
# ------------------------------------------------------------------------------------------------


def test_sim_job_emits_figure_metrics():
    from jisac.config import job_from_dict
    from jisac.io import to_jsonable
    from jisac.jobs import run_job

    sc = small_sim_scenario_dict()
    job = job_from_dict({"scenario": sc, "scheme": {"name": "mrt"}, "seed": 1, "n_drops": 2,
                         "mc_draws": 512, "mc_chunk": 256})
    r = run_job(job)
    json.dumps(to_jsonable(r.metrics["drops"]), allow_nan=False)
    for dr in r.metrics["drops"]:
        for k in ("outage_secrecy_rate", "outage_secrecy_rate_bound"):
            assert math.isfinite(dr[k])
        assert dr["outage_secrecy_rate_bound"] <= dr["outage_secrecy_rate"] + 1e-12
        assert len(dr["schur_crb_rel_error"]) == 4 and len(dr["schur_crb_rel_error_bound"]) == 4
        # MRT phases are all zero, on every grid: projection loses nothing
        assert dr["phase_loss_source"] == "projection"
        assert dr["phase_loss_secrecy"] == 0.0 and dr["phase_loss_sensing"] == 0.0
    assert "outage_secrecy_rate" in r.metrics and "phase_loss_bound" in r.metrics


def test_lbcd_family_uses_continuous_iterate(setup):
    """``jobs._sim_phase_losses`` compares an L-BCD design with ``details[i]['design_continuous']``."""
    from jisac.jobs import _sim_phase_losses

    s, sy, _, d = setup
    dq = ev.project_phases(d, s.phase_bits)
    batch = lambda t: jax.tree_util.tree_map(lambda x: x[None], t)   # noqa: E731

    def losses(returned, status="ok", **details):
        drops = [{}]
        info = {"details": [{"design_continuous": d, "discretization": {"status": status},
                             **details}]}
        _sim_phase_losses(batch(sy), batch(returned), s, info, drops)
        return drops[0]

    got = losses(dq)
    ref = ev.phase_loss_metrics(sy, d, dq, s, key=jax.random.fold_in(jax.random.PRNGKey(0), 0))
    assert got["phase_loss_source"] == "lbcd_discretization"
    assert got["phase_loss_secrecy"] == pytest.approx(ref["phase_loss_secrecy"], rel=1e-12)
    assert got["phase_loss_bound"] == pytest.approx(ref["phase_loss_bound"], rel=1e-12)
    # discretisation skipped: fall back to projecting the returned design
    got = losses(d, status="skipped")
    assert got["phase_loss_source"] == "projection"
    assert got["phase_loss_sensing"] == pytest.approx(ref["phase_loss_sensing"], rel=1e-12)
    # after an accepted outage polish the returned design has other beams: the phase loss and
    # its Prop.-3 bound are those of the design before the polish (``design_discrete``); without
    # it the bound would be undefined and the loss would mix in the beam change
    polished = dq.__class__(dq.theta_comm, dq.theta_sense, dq.theta_ce, dq.W_RF, dq.W_BB * 0.5,
                            dq.R_AN, dq.tau, dq.p_sense, dq.p_comm)
    got = losses(polished, design_discrete=dq)
    assert got["phase_loss_source"] == "lbcd_discretization"
    assert got["phase_loss_secrecy"] == pytest.approx(ref["phase_loss_secrecy"], rel=1e-12)
    assert got["phase_loss_bound"] == pytest.approx(ref["phase_loss_bound"], rel=1e-12)
    got = losses(polished)
    assert got["phase_loss_bound"] is None                  # W differs: no phase-only bound
    assert got["phase_loss_secrecy"] != pytest.approx(ref["phase_loss_secrecy"], rel=1e-3)
