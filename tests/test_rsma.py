"""Tests of jisac.metrics.rsma against plain NumPy loops written here (000 eqs. (17)-(25), (35))."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.metrics import rsma

N, K, M, L = 6, 3, 2, 4


def crandn(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


@pytest.fixture
def inst(rng):
    W = crandn(rng, N, K + 1)
    H = crandn(rng, K, N)
    G = crandn(rng, M, N)
    nlu = rng.uniform(0.5, 2.0, K)
    niu = rng.uniform(0.5, 2.0, M)
    return W, H, G, nlu, niu


# ---- independent NumPy reference (loops, direct transcription of the paper) -----------------


def ref_all(W, H, G, nlu, niu, C=None):
    def pw(h, w):  # |h^H w|^2
        return abs(np.sum(np.conj(h) * w)) ** 2

    gc, gp = np.zeros(K), np.zeros(K)
    for k in range(K):
        priv = sum(pw(H[k], W[:, i]) for i in range(1, K + 1))
        gc[k] = pw(H[k], W[:, 0]) / (priv + nlu[k])
        gp[k] = pw(H[k], W[:, k + 1]) / (priv - pw(H[k], W[:, k + 1]) + nlu[k])
    Rc = min(np.log2(1 + g) for g in gc)
    if C is None:
        C = np.full(K, Rc / K)
    Rk = C + np.log2(1 + gp)
    ge = np.zeros((K, M))
    for k in range(K):
        for m in range(M):
            ge[k, m] = pw(G[m], W[:, k + 1]) / (pw(G[m], W[:, 0]) + niu[m])
    Rkm = np.log2(1 + ge)
    sec = sum(max(0.0, Rk[k] - max(Rkm[k, m] for m in range(M))) for k in range(K))
    return dict(gc=gc, gp=gp, Rc=Rc, Rk=Rk, ge=ge, Rkm=Rkm, sec=sec)


def np_outer(W):
    return np.stack([np.outer(W[:, i], np.conj(W[:, i])) for i in range(W.shape[1])])


# ---- tests ------------------------------------------------------------------------------------


def test_sinrs_and_rates_match_loops(inst):
    W, H, G, nlu, niu = inst
    ref = ref_all(W, H, G, nlu, niu)
    np.testing.assert_allclose(rsma.common_sinr(W, H, nlu), ref["gc"], rtol=1e-12)
    np.testing.assert_allclose(rsma.private_sinr(W, H, nlu), ref["gp"], rtol=1e-12)
    np.testing.assert_allclose(rsma.common_rate(W, H, nlu), ref["Rc"], rtol=1e-12)
    np.testing.assert_allclose(rsma.user_rates(W, H, nlu), ref["Rk"], rtol=1e-12)
    np.testing.assert_allclose(rsma.eavesdropper_sinr(W, G, niu), ref["ge"], rtol=1e-12)
    np.testing.assert_allclose(rsma.eavesdropper_rates(W, G, niu), ref["Rkm"], rtol=1e-12)
    np.testing.assert_allclose(rsma.secrecy_sum_rate(W, H, G, nlu, niu), ref["sec"], rtol=1e-12)


def test_given_split_and_scalar_noise(inst):
    W, H, G, _, _ = inst
    Rc = ref_all(W, H, G, np.full(K, 0.3), np.full(M, 0.7))["Rc"]
    C = np.array([0.5, 0.2, 0.3]) * Rc
    ref = ref_all(W, H, G, np.full(K, 0.3), np.full(M, 0.7), C)
    np.testing.assert_allclose(rsma.user_rates(W, H, 0.3, C), ref["Rk"], rtol=1e-12)
    np.testing.assert_allclose(rsma.secrecy_sum_rate(W, H, G, 0.3, 0.7, C), ref["sec"], rtol=1e-12)
    np.testing.assert_allclose(
        rsma.secrecy_rates(W, H, G, 0.3, 0.7, C).sum(), ref["sec"], rtol=1e-12)


def test_common_split_helper_and_feasibility():
    c = rsma.common_rate_split(jnp.asarray(1.2), 3)
    np.testing.assert_allclose(c, [0.4, 0.4, 0.4], rtol=1e-15)
    assert bool(rsma.common_split_feasible(c, 1.2))
    given = jnp.array([0.1, 0.2, 0.3])
    np.testing.assert_array_equal(rsma.common_rate_split(jnp.asarray(1.0), 3, given), given)
    assert bool(rsma.common_split_feasible(given, 0.6))
    assert not bool(rsma.common_split_feasible(given, 0.59))  # sum exceeds R_c
    assert not bool(rsma.common_split_feasible(jnp.array([-0.1, 0.2, 0.3]), 1.0))  # C_k < 0


def test_sdr_form_equals_vector_form(inst):
    W, H, G, nlu, niu = inst
    Wm = np_outer(W)
    np.testing.assert_allclose(rsma.outer_products(W), Wm, rtol=1e-14, atol=1e-14)
    pairs = [
        (rsma.common_sinr(W, H, nlu), rsma.common_sinr_sdr(Wm, H, nlu)),
        (rsma.private_sinr(W, H, nlu), rsma.private_sinr_sdr(Wm, H, nlu)),
        (rsma.common_rate(W, H, nlu), rsma.common_rate_sdr(Wm, H, nlu)),
        (rsma.user_rates(W, H, nlu), rsma.user_rates_sdr(Wm, H, nlu)),
        (rsma.eavesdropper_sinr(W, G, niu), rsma.eavesdropper_sinr_sdr(Wm, G, niu)),
        (rsma.eavesdropper_rates(W, G, niu), rsma.eavesdropper_rates_sdr(Wm, G, niu)),
        (rsma.secrecy_sum_rate(W, H, G, nlu, niu), rsma.secrecy_sum_rate_sdr(Wm, H, G, nlu, niu)),
        (rsma.transmit_power(W), rsma.transmit_power_sdr(Wm)),
    ]
    for a, b in pairs:
        np.testing.assert_allclose(a, b, rtol=1e-11)
    np.testing.assert_allclose(rsma.transmit_power(W), np.sum(np.abs(W) ** 2), rtol=1e-13)


def test_secrecy_rate_nonnegative_and_zero_when_eve_dominates(rng):
    # Many random draws, IUs 10x stronger than LUs half of the time: [.]^+ keeps every term >= 0.
    for t in range(50):
        W = crandn(rng, N, K + 1)
        H = crandn(rng, K, N)
        G = crandn(rng, M, N) * (10.0 if t % 2 else 1.0)
        per_user = rsma.secrecy_rates(W, H, G, 1.0, 1.0)
        assert np.all(np.asarray(per_user) >= 0.0)
        assert float(rsma.secrecy_sum_rate(W, H, G, 1.0, 1.0)) >= 0.0
    # With w_c = 0 (so C = 0) and an IU whose channel equals LU 0's, the IU (which cancels the other
    # private streams, eq. (23)) has an SINR >= LU 0's, so LU 0's secrecy term is exactly 0.
    W = crandn(rng, N, K + 1)
    W[:, 0] = 0.0
    H = crandn(rng, K, N)
    G = H[:1].copy()
    assert float(rsma.secrecy_rates(W, H, G, 1.0, 1.0)[0]) == 0.0


def test_time_weighted_objective_matches_loop(rng):
    Wl = crandn(rng, L, N, K + 1)
    Hl = crandn(rng, L, K, N)
    Gl = crandn(rng, L, M, N)
    t = rng.uniform(0.5e-3, 3.5e-3, L)
    T = 10e-3
    ref = sum(t[l] * ref_all(Wl[l], Hl[l], Gl[l], np.ones(K), np.ones(M))["sec"]
              for l in range(L)) / T
    np.testing.assert_allclose(rsma.time_weighted_secrecy_rate(Wl, Hl, Gl, t, T, 1.0, 1.0),
                               ref, rtol=1e-12)
    Wm = np.stack([np_outer(Wl[l]) for l in range(L)])
    np.testing.assert_allclose(rsma.time_weighted_secrecy_rate_sdr(Wm, Hl, Gl, t, T, 1.0, 1.0),
                               ref, rtol=1e-11)
    # given split per slot
    C = np.zeros((L, K))
    ref0 = sum(t[l] * ref_all(Wl[l], Hl[l], Gl[l], np.ones(K), np.ones(M), C[l])["sec"]
               for l in range(L)) / T
    np.testing.assert_allclose(rsma.time_weighted_secrecy_rate(Wl, Hl, Gl, t, T, 1.0, 1.0, C),
                               ref0, rtol=1e-12)
    np.testing.assert_allclose(rsma.time_weighted_secrecy_rate_sdr(Wm, Hl, Gl, t, T, 1.0, 1.0, C),
                               ref0, rtol=1e-11)


def test_jit_vmap_and_finite_gradients(rng):
    W = crandn(rng, N, K + 1)
    W[:, 0] = 0.0  # zero common power: gradients must stay finite
    H, G = crandn(rng, K, N), crandn(rng, M, N)
    f = jax.jit(lambda w: rsma.secrecy_sum_rate(w, H, G, 1.0, 1.0))
    np.testing.assert_allclose(f(W), rsma.secrecy_sum_rate(W, H, G, 1.0, 1.0), rtol=1e-13)
    g = jax.grad(lambda w: f(w))(jnp.asarray(W))
    assert np.all(np.isfinite(np.asarray(g)))
    gs = jax.grad(lambda wm: rsma.secrecy_sum_rate_sdr(wm, H, G, 1.0, 1.0))(jnp.asarray(np_outer(W)))
    assert np.all(np.isfinite(np.asarray(gs)))
    Wb = crandn(rng, 5, N, K + 1)
    out = jax.jit(jax.vmap(lambda w: rsma.user_rates(w, H, 1.0)))(Wb)
    assert out.shape == (5, K)
    np.testing.assert_allclose(out[3], rsma.user_rates(Wb[3], H, 1.0), rtol=1e-13)


def test_gradient_matches_finite_differences(rng):
    # Smooth point (no ties in min/max): directional derivative of R_tot vs central differences.
    H, G = 3.0 * crandn(rng, K, N), 0.5 * crandn(rng, M, N)  # LUs stronger: every term > 0
    # interference-free private beams (pseudo-inverse) plus a weak common beam
    W = np.concatenate([0.3 * crandn(rng, N, 1), np.linalg.pinv(np.conj(H))], axis=1)
    D = crandn(rng, N, K + 1)
    f = lambda w: rsma.secrecy_sum_rate(w, H, G, 0.5, 2.0)  # noqa: E731
    g = jax.grad(f)(jnp.asarray(W))
    # JAX convention for real f of complex z = x + iy: grad = df/dx - i df/dy, so the directional
    # derivative along D is Re(sum(g * D)).
    analytic = float(np.real(np.sum(np.asarray(g) * D)))
    eps = 1e-6
    fd = (float(f(W + eps * D)) - float(f(W - eps * D))) / (2 * eps)
    assert np.all(np.asarray(rsma.secrecy_rates(W, H, G, 0.5, 2.0)) > 0.0)
    # central differences: truncation O(eps^2 f''') ~ 1e-12, round-off ~ 1e-16/eps ~ 1e-10
    np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-8)


def test_private_sinr_no_cancellation_at_high_snr(rng):
    # ZF private beams: interference ~1e-24 while own power ~1e8 and noise 1e-9. A
    # (total - own) implementation loses ~eps * 1e8 ~ 1e-8 >> noise; the result must stay exact.
    H = crandn(rng, K, N)
    W = np.concatenate([np.zeros((N, 1)), 1e4 * np.linalg.pinv(np.conj(H))], axis=1)
    own = np.array([abs(np.vdot(H[k], W[:, k + 1])) ** 2 for k in range(K)])
    intf = np.array([sum(abs(np.vdot(H[k], W[:, i + 1])) ** 2 for i in range(K) if i != k)
                     for k in range(K)])
    ref = own / (intf + 1e-9)
    np.testing.assert_allclose(rsma.private_sinr(W, H, 1e-9), ref, rtol=1e-10)
