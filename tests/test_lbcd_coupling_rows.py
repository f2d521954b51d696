"""Coupling-aware outage rows of paper-004 Blocks B and D (``outage_couplings``): the Monte-Carlo
draws of the outage surrogate (25)-(27) taken over Rician inter-layer couplings (10) as well.

References: the closed-form mean of the Rician cascade (independent zero-mean NLoS parts per
layer: ``E[G] = kappa^((L-1)/2) G_LoS``), the paper-model path bit for bit, the deterministic-user
surrogate as the special case of per-sample users, finite differences for the linearisation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.algorithms.sim_lbcd import block_b as bb
from jisac.algorithms.sim_lbcd import block_d as bd
from jisac.algorithms.sim_lbcd import lbcd as L
from jisac.algorithms.sim_lbcd.objective import Normalizers, crb_total, secrecy_throughput
from jisac.designs.sim import design_mrt
from jisac.hardware.sim import sim_cascade
from jisac.scenarios import SimScenario
from jisac.schemes import MrtParams
from jisac.systems.sim import realize_sim_drops
from small_systems import SMALL_SIM


@pytest.fixture(scope="module")
def inst():
    s = SimScenario(**SMALL_SIM)              # L = 2 layers of 9 elements, K = 2, E = 1
    sys = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(3), 1))
    d = design_mrt(sys, s, MrtParams(an_fraction=0.2))
    return s, sys, d


def _nominal(sys, d):
    G = np.asarray(sim_cascade(d.theta_comm, sys.h1, sys.h_inter))
    return np.asarray(sys.H_users) @ G.conj(), np.asarray(sys.H_eves) @ G.conj()


def test_zero_couplings_is_the_paper_model(inst):
    """``n_couplings = 0``: no user draws and exactly :func:`eve_error_samples` (same key), so
    the default path of Blocks B and D is unchanged bit for bit."""
    s, sys, d = inst
    key = jax.random.PRNGKey(11)
    hu_s, he_s = bb.outage_samples(sys, d, s, key, 64, 0)
    assert hu_s is None
    np.testing.assert_array_equal(np.asarray(he_s),
                                  np.asarray(bb.eve_error_samples(sys, d, s, key, 64)))


def test_coupling_draws_mean_and_structure(inst):
    """Over many realisations the cascade's mean is ``kappa^((L-1)/2)`` times the LoS one (the
    NLoS parts are zero-mean and independent), so the sample means of the users' and
    eavesdroppers' effective channels are ``sqrt(kappa)`` (L = 2) times the nominal ones; checked
    entrywise within 5 standard errors of the sample mean. Draws ``i`` and ``i + C`` share a
    coupling: identical user channels."""
    s, sys, d = inst
    hu0, he0 = _nominal(sys, d)
    n = C = 4000
    hu_s, he_s = bb.outage_samples(sys, d, s, jax.random.PRNGKey(5), n, C)
    hu_s, he_s = np.asarray(hu_s), np.asarray(he_s)
    assert hu_s.shape == (n,) + hu0.shape and he_s.shape == (n,) + he0.shape
    kappa = s.interlayer_rician_k / (1.0 + s.interlayer_rician_k)
    for samp, nom in ((hu_s, hu0), (he_s, he0)):
        mean = samp.mean(axis=0)
        se = samp.std(axis=0) / np.sqrt(n)
        assert np.all(np.abs(mean - np.sqrt(kappa) * nom) <= 5 * se + 1e-15 * np.abs(nom))
        # and not the nominal channel itself (the own-beam loss the design model does not see)
        assert np.max(np.abs(mean - nom) / se) > 5
    hu_r, _ = bb.outage_samples(sys, d, s, jax.random.PRNGKey(5), 12, 4)
    hu_r = np.asarray(hu_r)
    np.testing.assert_array_equal(hu_r[0], hu_r[4])
    np.testing.assert_array_equal(hu_r[1], hu_r[9])
    assert not np.allclose(hu_r[0], hu_r[1])


def test_surrogate_with_constant_user_samples_is_the_deterministic_one(inst):
    """``hu_samples`` all equal to the nominal ``hu`` reproduces the paper-model surrogate."""
    s, sys, d = inst
    hu0, _ = _nominal(sys, d)
    he_s = bb.eve_error_samples(sys, d, s, jax.random.PRNGKey(2), 64)
    W = np.asarray(d.W)
    V = jnp.asarray(np.einsum("mk,nk->kmn", W, W.conj()) / s.noise)
    Z = jnp.asarray(np.asarray(d.R_AN) / s.noise)
    delta = bb.outage_delta(s.eps_out)
    f0 = np.asarray(bb.moment_surrogate(V, Z, jnp.asarray(hu0), he_s, delta))
    rep = jnp.broadcast_to(jnp.asarray(hu0), (64,) + hu0.shape)
    f1 = np.asarray(bb.moment_surrogate(V, Z, jnp.asarray(hu0), he_s, delta, rep))
    np.testing.assert_allclose(f1, f0, rtol=1e-12, atol=1e-12)


def test_linearization_with_coupling_draws_finite_difference(inst):
    """The affine model of (25) with per-sample users is the first-order model of ``f``:
    central differences along a random Hermitian direction (step 1e-6)."""
    s, sys, d = inst
    P_b = bb.comm_power_budget(d, s)
    hu0, _ = _nominal(sys, d)
    hu = hu0 * np.sqrt(P_b / s.noise)
    K, M = hu.shape
    hu_s, he_s = bb.outage_samples(sys, d, s, jax.random.PRNGKey(2), 64, 8)
    hu_s, he_s = hu_s * np.sqrt(P_b / s.noise), he_s * np.sqrt(P_b / s.noise_eve)
    W0 = np.asarray(d.W) / np.sqrt(P_b)
    V0 = np.einsum("mk,nk->kmn", W0, W0.conj())
    Z0 = np.asarray(d.R_AN) / P_b
    delta = bb.outage_delta(s.eps_out)
    target = jnp.full((K,), 0.1)
    A, b, f0 = bb.surrogate_linearization(V0, Z0, jnp.asarray(hu), he_s, delta, target, hu_s)
    rng = np.random.default_rng(4)
    X = rng.standard_normal((K + 1, M, M)) + 1j * rng.standard_normal((K + 1, M, M))
    X = X + np.conj(np.swapaxes(X, 1, 2))
    f = lambda t: np.asarray(bb.moment_surrogate(jnp.asarray(V0 + t * X[:K]),
                                                 jnp.asarray(Z0 + t * X[K]), jnp.asarray(hu),
                                                 he_s, delta, hu_s))
    h = 1e-6
    fd = (f(h) - f(-h)) / (2 * h)
    lin = np.real(np.einsum("kjmn,jnm->k", np.asarray(A), X))
    np.testing.assert_allclose(lin, fd, rtol=1e-6, atol=1e-8)
    # the coupling draws move the surrogate: it is not the paper-model value
    _, _, f_paper = bb.surrogate_linearization(V0, Z0, jnp.asarray(hu), he_s, delta, target)
    assert not np.allclose(np.asarray(f0), np.asarray(f_paper), rtol=1e-3)


def test_block_b_uses_the_coupling_draws(inst):
    """Block B with ``outage_couplings``: solves, returns a valid hybrid design, and the outage
    surrogate it reports is the coupling-draw surrogate of the returned beams (recomputed here
    from :func:`outage_samples` with the block's Monte-Carlo key)."""
    s, sys, d = inst
    key = jax.random.PRNGKey(5)
    d1, info = bb.beamforming_block(sys, d, s, robust=True, key=key, n_rand=16, n_mc=64,
                                    solver="Clarabel", outage_couplings=4)
    assert info["status"].startswith("optimal"), info["status"]
    assert info["outage_couplings"] == 4
    np.testing.assert_allclose(np.abs(np.asarray(d1.W_RF)), 1.0, atol=1e-12)
    P_b = info["power_budget"]
    assert np.sum(np.abs(np.asarray(d1.W)) ** 2) + np.trace(np.asarray(d1.R_AN)).real <= P_b * (1 + 1e-9)
    k_mc, _ = jax.random.split(key)
    hu_s, he_s = bb.outage_samples(sys, d, s, k_mc, 64, 4)
    hu0, _ = _nominal(sys, d1)
    W = np.asarray(d1.W) / np.sqrt(P_b)
    V = jnp.asarray(np.einsum("mk,nk->kmn", W, W.conj()))
    Z = jnp.asarray(np.asarray(d1.R_AN) / P_b)
    su, se = np.sqrt(P_b / s.noise), np.sqrt(P_b / s.noise_eve)
    f = bb.moment_surrogate(V, Z, jnp.asarray(hu0 * su), he_s * se, bb.outage_delta(s.eps_out),
                            hu_s * su)
    # float64; the block scored the normalised beams before scaling them by sqrt(P_b): round-off
    np.testing.assert_allclose(info["outage_surrogate"], np.asarray(f), rtol=1e-10, atol=1e-12)
    _, info0 = bb.beamforming_block(sys, d, s, robust=True, key=key, n_rand=16, n_mc=64,
                                    solver="Clarabel")
    assert info0["outage_couplings"] == 0


def test_block_d_enforces_the_coupling_rows(inst, monkeypatch):
    """Block D with ``outage_couplings`` draws its (23f) samples over the couplings (the sampler
    is called with them) and the returned power meets the coupling-draw surrogate (recomputed
    with D's default Monte-Carlo key). Start: Block B's coupling-aware beams, R_min = 0.01 (at
    which D can attain the surrogate here; (23f) does not bind on this instance, so the power
    check alone would not tell the two sample sets apart)."""
    import dataclasses

    calls = []
    real = bb.outage_samples
    monkeypatch.setattr(bb, "outage_samples",
                        lambda *a, **k: calls.append(a[4:]) or real(*a, **k))
    s, sys, d = inst
    s = dataclasses.replace(s, r_min=0.01)
    d, _ = bb.beamforming_block(sys, d, s, robust=True, key=jax.random.PRNGKey(5), n_rand=16,
                                n_mc=64, solver="Clarabel", outage_couplings=4)
    norm = Normalizers(float(secrecy_throughput(sys, d, s)), float(crb_total(sys, d, s)))
    d2, info = bd.resource_block(sys, d, s, alpha=0.5, norm=norm, robust=True, outage_couplings=4)
    assert info["status"].startswith("optimal"), info["status"]
    assert info["outage_enforced"], info["status"]
    assert calls[-1] == (128, 4)
    hu_s, he_s = real(sys, d, s, jax.random.PRNGKey(0), 128, 4)
    hu0, _ = _nominal(sys, d2)
    W, R = np.asarray(d2.W), np.asarray(d2.R_AN)
    V = jnp.asarray(np.einsum("mk,nk->kmn", W, W.conj()) / s.noise)
    Z = jnp.asarray(R / s.noise)
    f = np.asarray(bb.moment_surrogate(V, Z, jnp.asarray(hu0), he_s * np.sqrt(s.noise / s.noise_eve),
                                       bb.outage_delta(s.eps_out), hu_s))
    assert np.all(f >= s.r_min - 1e-9), f


def test_settings_hand_the_couplings_to_b_and_d_only():
    st = L.LbcdSettings(outage_couplings=8, block_kwargs={"B": {"n_mc": 64}, "A": {"x": 1}})
    assert st.kwargs_for("B") == {"n_mc": 64, "outage_couplings": 8}
    assert st.kwargs_for("D") == {"outage_couplings": 8}
    assert st.kwargs_for("A") == {"x": 1} and st.kwargs_for("C") == {}
    assert L.LbcdSettings().kwargs_for("B") == {}        # default: blocks called as before
    assert hash(st) != hash(L.LbcdSettings(block_kwargs=st.block_kwargs))
    with pytest.raises(ValueError, match="outage_couplings"):
        L.LbcdSettings(outage_couplings=-1)
