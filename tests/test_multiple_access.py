"""Tests of jisac.metrics.multiple_access (SDMA/NOMA/ZF + AN baselines) against references here."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.metrics import multiple_access as ma
from jisac.metrics import rsma

N, K, M = 6, 3, 2


def crandn(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def pw(h, w):  # |h^H w|^2
    return abs(np.sum(np.conj(h) * w)) ** 2


def quad(h, R):  # h^H R h
    return float(np.real(np.conj(h) @ R @ h))


@pytest.fixture
def inst(rng):
    W = crandn(rng, N, K)
    B = crandn(rng, N, 2)
    R_an = 0.3 * B @ np.conj(B.T)  # rank-2 PSD AN covariance
    H = crandn(rng, K, N) * np.array([0.5, 1.0, 2.0])[:, None]  # distinct gains
    G = crandn(rng, M, N)
    nlu = rng.uniform(0.5, 2.0, K)
    niu = rng.uniform(0.5, 2.0, M)
    return W, R_an, H, G, nlu, niu


def ref_sdma(W, R_an, H, nlu):
    out = np.zeros(K)
    for k in range(K):
        intf = sum(pw(H[k], W[:, i]) for i in range(K) if i != k)
        out[k] = np.log2(1 + pw(H[k], W[:, k]) / (intf + quad(H[k], R_an) + nlu[k]))
    return out


def ref_eve(W, R_an, G, niu):
    out = np.zeros((K, M))
    for k in range(K):
        for m in range(M):
            out[k, m] = np.log2(1 + pw(G[m], W[:, k]) / (quad(G[m], R_an) + niu[m]))
    return out


def ref_noma(W, R_an, H, nlu, order):
    """Brute force: for every message, every user at or after it in the SIC order decodes it."""
    pos = {u: j for j, u in enumerate(order)}
    out = np.zeros(K)
    for k in range(K):
        rates = []
        for u in range(K):
            if pos[u] < pos[k]:
                continue  # u sits before k in the SIC order: it never decodes message k
            intf = sum(pw(H[u], W[:, v]) for v in range(K) if pos[v] > pos[k])
            rates.append(np.log2(1 + pw(H[u], W[:, k]) / (intf + quad(H[u], R_an) + nlu[u])))
        out[k] = min(rates)
    return out


def secrecy(r, re):
    return sum(max(0.0, r[k] - re[k].max()) for k in range(K))


def np_outer(W):
    return np.stack([np.outer(W[:, i], np.conj(W[:, i])) for i in range(W.shape[1])])


def test_sdma_and_eavesdropper_match_loops(inst):
    W, R_an, H, G, nlu, niu = inst
    r, re = ref_sdma(W, R_an, H, nlu), ref_eve(W, R_an, G, niu)
    np.testing.assert_allclose(ma.sdma_rates(W, R_an, H, nlu), r, rtol=1e-12)
    np.testing.assert_allclose(ma.an_eavesdropper_rates(W, R_an, G, niu), re, rtol=1e-12)
    np.testing.assert_allclose(ma.sdma_secrecy_sum_rate(W, R_an, H, G, nlu, niu), secrecy(r, re),
                               rtol=1e-12)


def test_noma_matches_brute_force_all_orders(inst):
    W, R_an, H, G, nlu, niu = inst
    for order in itertools.permutations(range(K)):
        ref = ref_noma(W, R_an, H, nlu, order)
        np.testing.assert_allclose(ma.noma_rates(W, R_an, H, nlu, jnp.array(order)), ref,
                                   rtol=1e-12)
    # default order: increasing ||h_k||^2
    gains = np.sum(np.abs(H) ** 2, axis=1)
    np.testing.assert_array_equal(ma.noma_decoding_order(H), np.argsort(gains))
    ref = ref_noma(W, R_an, H, nlu, list(np.argsort(gains)))
    np.testing.assert_allclose(ma.noma_rates(W, R_an, H, nlu), ref, rtol=1e-12)
    np.testing.assert_allclose(ma.noma_secrecy_sum_rate(W, R_an, H, G, nlu, niu),
                               secrecy(ref, ref_eve(W, R_an, G, niu)), rtol=1e-12)


def test_noma_two_user_closed_form(rng):
    # Hand-computed two-user MISO NOMA: user w (weak) decoded first, user s (strong) does SIC.
    # R_w = min(log2(1 + |h_w^H w_w|^2/(|h_w^H w_s|^2 + a_w + s_w)),
    #           log2(1 + |h_s^H w_w|^2/(|h_s^H w_s|^2 + a_s + s_s)))
    # R_s = log2(1 + |h_s^H w_s|^2 / (a_s + s_s)),  a_u = h_u^H R_an h_u.
    h_w = np.array([0.3 + 0.1j, -0.2j, 0.1])
    h_s = np.array([1.0, 0.8 - 0.5j, -0.6 + 0.4j])
    H = np.stack([h_s, h_w])  # user 0 strong, user 1 weak: default order must be [1, 0]
    w_s = np.array([0.2, 0.1j, -0.1])
    w_w = np.array([0.9, 0.5 - 0.2j, 0.3j])
    W = np.stack([w_s, w_w], axis=1)
    R_an = 0.05 * np.eye(3)
    s_s, s_w = 0.1, 0.2
    a_s = 0.05 * np.sum(np.abs(h_s) ** 2)
    a_w = 0.05 * np.sum(np.abs(h_w) ** 2)
    R_w = min(np.log2(1 + abs(np.vdot(h_w, w_w)) ** 2 / (abs(np.vdot(h_w, w_s)) ** 2 + a_w + s_w)),
              np.log2(1 + abs(np.vdot(h_s, w_w)) ** 2 / (abs(np.vdot(h_s, w_s)) ** 2 + a_s + s_s)))
    R_s = np.log2(1 + abs(np.vdot(h_s, w_s)) ** 2 / (a_s + s_s))
    np.testing.assert_array_equal(ma.noma_decoding_order(H), [1, 0])
    np.testing.assert_allclose(ma.noma_rates(W, R_an, H, np.array([s_s, s_w])), [R_s, R_w],
                               rtol=1e-12)


def test_rsma_zero_common_equals_sdma_zero_an(inst):
    """Documented property: RSMA with w_c = 0 and C = 0 is SDMA without AN."""
    W, _, H, G, nlu, niu = inst
    W_rsma = np.concatenate([np.zeros((N, 1)), W], axis=1)
    Z = np.zeros((N, N))
    np.testing.assert_allclose(rsma.user_rates(W_rsma, H, nlu, np.zeros(K)),
                               ma.sdma_rates(W, Z, H, nlu), rtol=1e-12)
    # with w_c = 0, R_c = 0 and the equal split is also 0
    np.testing.assert_allclose(rsma.user_rates(W_rsma, H, nlu), ma.sdma_rates(W, Z, H, nlu),
                               rtol=1e-12)
    np.testing.assert_allclose(rsma.eavesdropper_rates(W_rsma, G, niu),
                               ma.an_eavesdropper_rates(W, Z, G, niu), rtol=1e-12)
    np.testing.assert_allclose(rsma.secrecy_sum_rate(W_rsma, H, G, nlu, niu, np.zeros(K)),
                               ma.sdma_secrecy_sum_rate(W, Z, H, G, nlu, niu), rtol=1e-12)


def test_rsma_eavesdropper_equals_sdma_an_with_common_as_an(inst, rng):
    W, _, H, G, nlu, niu = inst
    wc = crandn(rng, N)
    W_rsma = np.concatenate([wc[:, None], W], axis=1)
    np.testing.assert_allclose(rsma.eavesdropper_rates(W_rsma, G, niu),
                               ma.an_eavesdropper_rates(W, np.outer(wc, np.conj(wc)), G, niu),
                               rtol=1e-12)


def test_sdr_form_equals_vector_form(inst):
    W, R_an, H, G, nlu, niu = inst
    Wm = np_outer(W)
    np.testing.assert_allclose(ma.sdma_rates_sdr(Wm, R_an, H, nlu), ma.sdma_rates(W, R_an, H, nlu),
                               rtol=1e-11)
    np.testing.assert_allclose(ma.an_eavesdropper_rates_sdr(Wm, R_an, G, niu),
                               ma.an_eavesdropper_rates(W, R_an, G, niu), rtol=1e-11)
    np.testing.assert_allclose(ma.sdma_secrecy_sum_rate_sdr(Wm, R_an, H, G, nlu, niu),
                               ma.sdma_secrecy_sum_rate(W, R_an, H, G, nlu, niu), rtol=1e-11)
    np.testing.assert_allclose(ma.noma_rates_sdr(Wm, R_an, H, nlu), ma.noma_rates(W, R_an, H, nlu),
                               rtol=1e-11)
    np.testing.assert_allclose(ma.noma_secrecy_sum_rate_sdr(Wm, R_an, H, G, nlu, niu),
                               ma.noma_secrecy_sum_rate(W, R_an, H, G, nlu, niu), rtol=1e-11)


def test_zf_and_null_space_an(inst):
    _, _, H, G, nlu, niu = inst
    p = np.array([1.0, 2.0, 0.5])
    W = np.asarray(ma.zf_beamformer(H, p))
    A = np.conj(H) @ W  # received amplitudes h_k^H w_i
    np.testing.assert_allclose(A - np.diag(np.diag(A)), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(W, axis=0) ** 2, p, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(ma.zf_beamformer(H), axis=0), 1.0, rtol=1e-12)
    P = np.asarray(ma.an_null_space_projector(H))
    np.testing.assert_allclose(np.conj(H) @ P, 0.0, atol=1e-12)
    np.testing.assert_allclose(P @ P, P, atol=1e-12)
    np.testing.assert_allclose(P, np.conj(P.T), atol=1e-14)
    np.testing.assert_allclose(np.trace(P).real, N - K, rtol=1e-12)
    # ZF + null-space AN: LUs see neither interference nor AN -> SINR = |h_k^H w_k|^2 / s^2
    r = ma.sdma_rates(W, 0.7 * P, H, nlu)
    np.testing.assert_allclose(r, np.log2(1 + np.abs(np.diag(A)) ** 2 / nlu), rtol=1e-11)


def test_secrecy_nonnegative_jit_vmap_grad(rng):
    for t in range(20):
        W = crandn(rng, N, K)
        R_an = 0.1 * np.eye(N)
        H, G = crandn(rng, K, N), crandn(rng, M, N) * (5.0 if t % 2 else 1.0)
        assert float(ma.sdma_secrecy_sum_rate(W, R_an, H, G, 1.0, 1.0)) >= 0.0
        assert float(ma.noma_secrecy_sum_rate(W, R_an, H, G, 1.0, 1.0)) >= 0.0
    H, G = crandn(rng, K, N), crandn(rng, M, N)
    Wb = crandn(rng, 4, N, K)
    R0 = jnp.zeros((N, N), complex)
    f = jax.jit(jax.vmap(lambda w: ma.noma_secrecy_sum_rate(w, R0, H, G, 1.0, 1.0)))
    out = f(Wb)
    np.testing.assert_allclose(out[2], ma.noma_secrecy_sum_rate(Wb[2], R0, H, G, 1.0, 1.0),
                               rtol=1e-13)
    g = jax.grad(lambda w: ma.noma_secrecy_sum_rate(w, R0, H, G, 1.0, 1.0)
                 + ma.sdma_secrecy_sum_rate(w, R0, H, G, 1.0, 1.0))(jnp.asarray(Wb[0]))
    assert np.all(np.isfinite(np.asarray(g)))
