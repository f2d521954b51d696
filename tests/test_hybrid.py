"""Hybrid precoding W = W_RF W_BB and its alternating-minimisation decomposition (004 eqs. (36e)-(38))."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.hardware.hybrid import (
    alternating_minimization,
    default_rf_init,
    hybrid_precoder,
    two_chain_decomposition,
)

M, K = 4, 2
# one compiled AM per (n_rf, n_iter); keeps the file fast
am = jax.jit(alternating_minimization, static_argnums=(1, 2))


def _crandn(rng, *shape):
    return rng.normal(size=shape) + 1j * rng.normal(size=shape)


def test_product_and_unit_modulus(rng):
    w_opt = _crandn(rng, M, K)
    res = alternating_minimization(jnp.asarray(w_opt), 3, n_iter=20)
    np.testing.assert_allclose(np.abs(np.asarray(res.w_rf)), 1.0, atol=1e-13)
    w = np.asarray(hybrid_precoder(res.w_rf, res.w_bb))
    np.testing.assert_allclose(w, np.asarray(res.w_rf) @ np.asarray(res.w_bb), rtol=1e-14)
    # power normalisation: ||W_RF W_BB||_F^2 = ||W_opt||_F^2 by default, or the requested power
    np.testing.assert_allclose(np.linalg.norm(w) ** 2, np.linalg.norm(w_opt) ** 2, rtol=1e-12)
    res2 = alternating_minimization(jnp.asarray(w_opt), 3, n_iter=20, power=2.5)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(res2.w_rf @ res2.w_bb)) ** 2, 2.5, rtol=1e-12)
    assert res.residuals.shape == (20,)


def test_bb_step_is_least_squares(rng):
    """Returned W_BB = lstsq(W_RF, W_opt) (eq. (38)) up to the final power scaling."""
    w_opt = _crandn(rng, M, K)
    res = alternating_minimization(jnp.asarray(w_opt), 3, n_iter=7, power=1.0)
    w_rf = np.asarray(res.w_rf)
    ls = np.linalg.lstsq(w_rf, w_opt, rcond=None)[0]
    ls *= np.sqrt(1.0 / np.linalg.norm(w_rf @ ls) ** 2)
    np.testing.assert_allclose(np.asarray(res.w_bb), ls, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("m,n_rf,k", [(4, 2, 2), (4, 3, 2), (8, 3, 2), (8, 2, 2)])
def test_residual_non_increasing(rng, m, n_rf, k):
    """MM step for (37) + exact LS step for (38): f non-increasing (round-off slack 1e-12 f_0)."""
    for _ in range(5):
        w_opt = _crandn(rng, m, k)
        init = np.exp(2j * np.pi * rng.random((m, n_rf)))
        res = am(jnp.asarray(w_opt), n_rf, 60, jnp.asarray(init))
        r = np.asarray(res.residuals)
        f0 = np.linalg.norm(w_opt - init @ np.linalg.pinv(init) @ w_opt) ** 2
        assert r[0] <= f0 * (1 + 1e-12)
        assert np.all(np.diff(r) <= 1e-12 * f0)


def test_exact_recovery_square_rf(rng):
    """R_RF = M: W_RF is (generically) invertible, every W_opt is realisable, residual ~ 0."""
    w_opt = _crandn(rng, M, K)
    res = alternating_minimization(jnp.asarray(w_opt), M, n_iter=5, w_rf_init=jnp.asarray(
        np.exp(2j * np.pi * rng.random((M, M)))))
    assert float(res.residuals[-1]) < 1e-20 * np.linalg.norm(w_opt) ** 2
    np.testing.assert_allclose(np.asarray(res.w_rf @ res.w_bb), w_opt, atol=1e-10)


def test_exact_recovery_of_hybrid_realisable_target(rng):
    """W_opt = W_RF0 W_BB0 with R_RF = K < M. AM is local, so start it in the basin of the true
    factor (W_RF0 with phase perturbations of up to 0.3 rad): it must converge to residual ~ 0 and
    reproduce W_opt, although the factors are only unique up to W_RF0 -> W_RF0 T. Convergence is
    linear (observed relative residual <= 1e-19 after 1000 iterations, round-off floor ~1e-30);
    2000 iterations and a 1e-18 threshold are far from both."""
    for _ in range(5):
        w_rf0 = np.exp(2j * np.pi * rng.random((8, K)))
        w_bb0 = _crandn(rng, K, K)
        w_opt = w_rf0 @ w_bb0
        init = w_rf0 * np.exp(1j * rng.uniform(-0.3, 0.3, w_rf0.shape))
        res = am(jnp.asarray(w_opt), K, 2000, jnp.asarray(init))
        assert float(res.residuals[-1]) < 1e-18 * np.linalg.norm(w_opt) ** 2
        np.testing.assert_allclose(np.asarray(res.w_rf @ res.w_bb), w_opt, atol=1e-7 * np.abs(w_opt).max())


@pytest.mark.parametrize("n_rf", [2 * K, 2 * K + 1])
def test_two_chain_decomposition_exact(rng, n_rf):
    """R_RF >= 2K: every W_opt (including zero entries and a zero column) is realised exactly."""
    w_opt = _crandn(rng, M, K)
    w_opt[1, 0] = 0.0
    w_opt[:, 1] = 0.0
    w_rf, w_bb = two_chain_decomposition(jnp.asarray(w_opt), n_rf)
    np.testing.assert_allclose(np.abs(np.asarray(w_rf)), 1.0, atol=1e-14)
    np.testing.assert_allclose(np.asarray(w_rf @ w_bb), w_opt, atol=1e-13)
    # the default AM start for R_RF >= 2K is this exact point
    res = alternating_minimization(jnp.asarray(w_opt), n_rf, n_iter=3)
    assert float(res.final_residual) < 1e-24 + 1e-20 * np.linalg.norm(w_opt) ** 2
    with pytest.raises(ValueError):
        two_chain_decomposition(jnp.asarray(w_opt), 2 * K - 1)


def test_default_init_and_jit(rng):
    w_opt = jnp.asarray(_crandn(rng, M, K))
    init = np.asarray(default_rf_init(w_opt, 3))
    assert init.shape == (M, 3)
    np.testing.assert_allclose(np.abs(init), 1.0, atol=1e-14)
    a, b = am(w_opt, 3, 10), alternating_minimization(w_opt, 3, 10)
    np.testing.assert_allclose(np.asarray(a.w_bb), np.asarray(b.w_bb), rtol=1e-12)
