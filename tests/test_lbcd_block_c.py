"""L-BCD Block C (paper 004 (30), (39)-(40)): layer-wise RCG raises the secrecy throughput with a
monotone history, touches one layer per run, the lambda_Phi schedule restores (23h), the
Frobenius-fit mode (30) and the restoration step."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import objective as ob
from jisac.algorithms.sim_lbcd.block_c import (comm_sim_block, frobenius_fit,
                                               reconfiguration_residual, restore_reconfiguration)
from jisac.designs.sim import SimDesign
from jisac.scenarios import SimScenario
from jisac.schemes import MrtParams
from small_systems import SMALL_SIM, crb, mrt, realize, secrecy



_mrt, _realize, _S, _crb = mrt, realize, secrecy, crb


@pytest.fixture(scope="module")
def setup():
    s = SimScenario(**SMALL_SIM)
    sys = jax.tree_util.tree_map(lambda x: x[0], _realize(s, jax.random.PRNGKey(7), 1))
    d = _mrt(sys, s, MrtParams())
    norm = ob.Normalizers(r_max=float(_S(sys, d, s)),
                          crb_min=float(_crb(sys, d, s)))
    return s, sys, d, norm


def _np_dist(a, b):
    return np.sum(np.abs(np.exp(1j * np.asarray(a)) - np.exp(1j * np.asarray(b))) ** 2, axis=1)


def test_secrecy_increases_layerwise(setup):
    s, sys, d, norm = setup
    new, info = comm_sim_block(sys, d, s, alpha=0.5, norm=norm, lambda_phi=1.0, n_steps=6,
                               n_sweeps=2, delta_phi=1e3)
    assert info["status"] == "ok" and info["rounds"] == 1 and info["residual"] == 0.0
    s0, s1 = float(_S(sys, d, s)), float(_S(sys, new, s))
    assert s1 > 1.05 * s0
    assert info["utility_after"] > info["utility_before"]
    # theta_sense unchanged => the CRB term cancels exactly (same compiled function, same input)
    np.testing.assert_allclose(info["utility_after"] - info["utility_before"],
                               0.5 * (s1 - s0) / norm.r_max, rtol=1e-9)
    # each layer run: Armijo => non-increasing penalised objective; runs chain end-to-start
    runs = info["history"][0]
    assert len(runs) == 2 * s.n_layers
    for h in runs:
        assert np.all(np.diff(h) <= 1e-12 * np.max(np.abs(h)))
    for a, b in zip(runs[:-1], runs[1:]):
        np.testing.assert_allclose(a[-1], b[0], rtol=1e-12)
    # with delta inactive the objective is -(1-alpha) S / R_max
    np.testing.assert_allclose(runs[-1][-1], -0.5 * s1 / norm.r_max, rtol=1e-10)
    # layer-wise: consecutive snapshots differ in exactly the visited layer l = run mod L
    tr = info["layer_trace"]
    assert tr.shape == (2 * s.n_layers + 1, s.n_layers, s.n_per_layer)
    for r in range(tr.shape[0] - 1):
        d_circ = np.abs(np.exp(1j * tr[r + 1]) - np.exp(1j * tr[r])).max(axis=1)
        changed = np.flatnonzero(d_circ > 1e-12)
        assert list(changed) == [r % s.n_layers]
    np.testing.assert_array_equal(np.asarray(new.theta_sense), np.asarray(d.theta_sense))


def test_lambda_schedule_restores_reconfiguration(setup):
    """Start far from theta_sense with a tiny lambda: the schedule (x10 per round) must end with
    residual <= 0 by itself (restore=False), and lambda must have grown."""
    s, sys, d, norm = setup
    th = jax.random.uniform(jax.random.PRNGKey(5), d.theta_comm.shape, minval=-np.pi, maxval=np.pi)
    d0 = SimDesign(th, d.theta_sense, d.theta_ce, d.W_RF, d.W_BB, d.R_AN, d.tau, d.p_sense,
                   d.p_comm)
    delta = 2.0
    assert np.all(_np_dist(th, d.theta_sense) > 4 * delta)  # grossly violated at the start
    new, info = comm_sim_block(sys, d0, s, alpha=0.5, norm=norm, lambda_phi=1e-3, n_steps=6,
                               delta_phi=delta, kappa=10.0, max_rounds=8, restore=False)
    assert info["status"] == "ok", info
    assert info["rounds"] > 1 and info["lambda_phi"] > 1e-3
    assert np.all(_np_dist(new.theta_comm, d.theta_sense) <= delta)
    assert info["residual"] == 0.0


def test_fit_mode(setup):
    """Frobenius fit (30): value vs NumPy; RCG on a realisable target decreases the fit."""
    s, sys, d, norm = setup
    th_star = jax.random.uniform(jax.random.PRNGKey(11), d.theta_comm.shape, minval=-np.pi,
                                 maxval=np.pi)
    G = np.diag(np.exp(1j * np.asarray(th_star[1]))) @ np.asarray(sys.h_inter[0]) \
        @ np.diag(np.exp(1j * np.asarray(th_star[0]))) @ np.asarray(sys.h1)
    F = jnp.asarray(G)
    np.testing.assert_allclose(float(frobenius_fit(th_star, F, sys.h1, sys.h_inter)), 0.0, atol=1e-25)
    G0 = np.asarray(sys.h_inter[0]) @ np.asarray(sys.h1)
    ref = np.sum(np.abs(G0 - G) ** 2)
    np.testing.assert_allclose(float(frobenius_fit(d.theta_comm, F, sys.h1, sys.h_inter)), ref,
                               rtol=1e-12)
    new, info = comm_sim_block(sys, d, s, alpha=0.5, norm=norm, n_steps=8, n_sweeps=2, mode="fit",
                               F_desired=F, delta_phi=1e3)
    fit1 = float(frobenius_fit(new.theta_comm, F, sys.h1, sys.h_inter))
    assert fit1 < 0.5 * ref
    for h in info["history"][0]:
        assert np.all(np.diff(h) <= 1e-12 * np.max(np.abs(h)))
    with pytest.raises(ValueError):
        comm_sim_block(sys, d, s, alpha=0.5, norm=norm, n_steps=1, mode="fit")


def test_restore_reconfiguration(rng):
    """Violating layers are pulled onto the boundary ||Phi - Phi_ref||^2 = delta; others kept."""
    L, N, delta = 3, 16, 3.0
    ref = rng.uniform(-np.pi, np.pi, (L, N))
    th = ref + rng.uniform(-np.pi, np.pi, (L, N))
    th[1] = ref[1] + 0.05 * rng.standard_normal(N)             # feasible layer
    out = np.asarray(restore_reconfiguration(jnp.asarray(th), jnp.asarray(ref), delta))
    dist = _np_dist(out, ref)
    assert np.all(dist <= delta)
    np.testing.assert_array_equal(out[1], th[1])
    np.testing.assert_allclose(dist[[0, 2]], delta, rtol=1e-9)  # minimal shrink: on the boundary
    np.testing.assert_allclose(float(reconfiguration_residual(jnp.asarray(th), jnp.asarray(ref), delta)),
                               np.sum(np.maximum(_np_dist(th, ref) - delta, 0.0)), rtol=1e-12)
