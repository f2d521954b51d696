"""Tests of jisac.certify: binomial intervals, chunked MC kernels, fused TRIS-RSMA outage kernel.

Every MC check uses a 5-sigma binomial (or CLT) band: a correct kernel fails it with probability
< 6e-7 per comparison, while a wrong model (e.g. a missing factor 2 in a variance) moves the
estimate by many sigma at the sample sizes used. Keys are fixed, so the tests are deterministic.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import optimize, stats

from jisac import certify
from jisac.certify import tris as T

FIVE_SIGMA = 5.0


def _cn(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def _within_5sigma(p_hat, p, n):
    sd = np.sqrt(np.maximum(p * (1 - p), 1.0 / n) / n)  # floor: p in {0,1} still needs |dp|<5/n
    return np.abs(np.asarray(p_hat) - p) <= FIVE_SIGMA * sd


# ------------------------------------------------------------------------------------------
# Binomial intervals
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k,n,conf", [(0, 10, 0.95), (3, 10, 0.95), (81, 263, 0.95),
                                      (999, 1000, 0.99), (50, 100, 0.9)])
def test_wilson_endpoints_solve_score_equation(k, n, conf):
    # Independent definition: Wilson endpoints are the roots p of (p_hat - p)^2 = z^2 p(1-p)/n.
    lo, hi = certify.wilson_interval(k, n, conf)
    z = stats.norm.ppf(0.5 + conf / 2)
    f = lambda p: (k / n - p) ** 2 - z * z * p * (1 - p) / n
    # (p = 0 is itself a root when k = 0, so bracket strictly inside)
    ref_lo = 0.0 if k == 0 else optimize.brentq(f, 1e-15, min(k / n, 1 - 1e-15), xtol=1e-15)
    ref_hi = 1.0 if k == n else optimize.brentq(f, max(k / n, 1e-15), 1 - 1e-15, xtol=1e-15)
    np.testing.assert_allclose([float(lo), float(hi)], [ref_lo, ref_hi], atol=1e-12)


def test_wilson_known_value():
    # Textbook value (Newcombe 1998, Stat. Med. 17, example 81/263): 0.2553 - 0.3662.
    lo, hi = certify.wilson_interval(81, 263, 0.95)
    np.testing.assert_allclose([float(lo), float(hi)], [0.2553, 0.3662], atol=5e-5)


@pytest.mark.parametrize("k,n,conf", [(0, 20, 0.95), (1, 20, 0.95), (7, 50, 0.99),
                                      (20, 20, 0.95), (123, 100000, 0.95)])
def test_clopper_pearson_tail_equations(k, n, conf):
    # Independent definition via binomial tails: P(X >= k | lo) = a/2, P(X <= k | hi) = a/2.
    a = 1 - conf
    lo, hi = certify.clopper_pearson_interval(k, n, conf)
    if k == 0:
        assert lo == 0.0
        np.testing.assert_allclose(hi, 1 - (a / 2) ** (1 / n), rtol=1e-10)  # closed form
    else:
        np.testing.assert_allclose(stats.binom.sf(k - 1, n, lo), a / 2, rtol=1e-8)
    if k == n:
        assert hi == 1.0
    else:
        np.testing.assert_allclose(stats.binom.cdf(k, n, hi), a / 2, rtol=1e-8)


def test_binomial_estimate_vectorised():
    counts = np.array([0, 5, 50, 100])
    e_w = certify.binomial_estimate(jnp.asarray(counts), 100, 0.95, "wilson")
    e_cp = certify.binomial_estimate(counts, 100, 0.95, "clopper-pearson")
    np.testing.assert_allclose(e_w.p_hat, counts / 100)
    assert e_w.lo.shape == (4,) and e_cp.hi.shape == (4,)
    assert np.all(e_cp.lo <= counts / 100) and np.all(e_cp.hi >= counts / 100)
    for i, c in enumerate(counts):  # vectorised == scalar calls
        lo, hi = certify.clopper_pearson_interval(c, 100, 0.95)
        np.testing.assert_allclose([e_cp.lo[i], e_cp.hi[i]], [lo, hi], rtol=1e-14)
    with pytest.raises(ValueError):
        certify.binomial_estimate(counts, 100, 1.5)


# ------------------------------------------------------------------------------------------
# Generic kernels
# ------------------------------------------------------------------------------------------


def _exp_event(key):
    # |z|^2 for z ~ CN(0,1) is Exp(1): P{|z|^2 > t} = exp(-t), for 3 thresholds at once.
    x = jax.random.normal(key, (2,)) / jnp.sqrt(2.0)
    r2 = jnp.sum(x * x)
    return r2 > jnp.array([0.1, 1.0, 3.0])


def test_mc_probability_known_probability(key):
    n = 200_000
    est = certify.mc_probability(_exp_event, key, n, chunk=32768)
    p = np.exp(-np.array([0.1, 1.0, 3.0]))
    assert np.all(_within_5sigma(est.p_hat, p, n)), (est.p_hat, p)
    assert np.all((np.asarray(est.lo) <= est.p_hat) & (est.p_hat <= np.asarray(est.hi)))
    assert est.count.dtype == jnp.int32 and est.n == n


def test_mc_count_chunk_invariant():
    # threefry only: with 'rbg' keys, vmap-ed bits depend on the batch (measured: counts change
    # with chunk), which the module docstring documents.
    impl = "threefry2x32"
    key = jax.random.key(3, impl=impl)
    n = 10_007  # not a multiple of any chunk below: exercises the masked last chunk
    ref = certify.mc_count(_exp_event, key, n, chunk=n)
    for chunk in (1000,):
        np.testing.assert_array_equal(certify.mc_count(_exp_event, key, n, chunk=chunk), ref)
    # and equal to an explicit per-draw loop over the documented keys fold_in(key, i)
    rows = np.asarray(jax.jit(lambda k: jax.vmap(_exp_event)(certify.draw_keys(k, 0, n)))(key))
    np.testing.assert_array_equal(ref, rows.sum(axis=0))
    ev = jax.jit(_exp_event)  # vmap == loop for threefry: per-draw rows equal one-draw calls
    loop = np.stack([np.asarray(ev(jax.random.fold_in(key, i))) for i in range(30)])
    np.testing.assert_array_equal(rows[:30], loop)


def test_draw_bits_counter_mode_is_index_addressed(key):
    # word j of draw i depends on (key, i, j) only: any window reproduces the same rows
    full = np.asarray(certify.draw_bits(key, 0, 300, 41))
    win = np.asarray(certify.draw_bits(key, 37, 100, 41))
    np.testing.assert_array_equal(win, full[37:137])
    assert len(np.unique(full)) > 0.999 * full.size  # no repeated streams across draws/words
    # typed threefry key == raw key (same counter stream)
    typed = jax.random.wrap_key_data(key, impl="threefry2x32")
    np.testing.assert_array_equal(np.asarray(certify.draw_bits(typed, 0, 300, 41)), full)
    # uniformity of the 23-bit grid used by normals_from_bits: chi-square over 16 top-bit bins
    counts = np.bincount((full.ravel() >> 28).astype(int), minlength=16)
    assert stats.chisquare(counts).pvalue > 1e-6


def test_mc_mean_var_matches_two_pass_and_truth(key):
    f = lambda k: 1.0 + 2.0 * jax.random.normal(k, (2,))  # mean 1, var 4
    n = 50_001
    mv = certify.mc_mean_var(f, key, n, chunk=4096, dtype=jnp.float64)
    x = np.asarray(jax.jit(lambda k: jax.vmap(f)(certify.draw_keys(k, 0, n)))(key))
    # exact identity with the two-pass estimator of the same draws (Chan merge is exact algebra)
    np.testing.assert_allclose(mv.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(mv.var, x.var(0, ddof=1), rtol=1e-11)
    # chunk invariance up to summation order
    mv2 = certify.mc_mean_var(f, key, n, chunk=n, dtype=jnp.float64)
    np.testing.assert_allclose(mv2.var, mv.var, rtol=1e-12)
    # truth within 5 sigma: sd(mean) = 2/sqrt(n), sd(var) = sqrt(2 sigma^4 / n) for a normal
    assert np.all(np.abs(np.asarray(mv.mean) - 1.0) <= FIVE_SIGMA * 2.0 / np.sqrt(n))
    assert np.all(np.abs(np.asarray(mv.var) - 4.0) <= FIVE_SIGMA * np.sqrt(2 * 16.0 / n))
    assert np.all(np.asarray(mv.ci.lo) < np.asarray(mv.mean))
    # float32 accumulation of a large-offset value: Welford-type merge keeps the variance
    g = lambda k: 1e4 + jax.random.normal(k, ())
    v32 = certify.mc_mean_var(g, key, 20_000, chunk=1000, dtype=jnp.float32).var
    assert abs(float(v32) - 1.0) < FIVE_SIGMA * np.sqrt(2 / 20_000) + 1e-2


def test_std_complex_normal_grid_shared_between_dtypes(key):
    z32 = T.std_complex_normal(key, (200_000,), jnp.float32)
    z64 = T.std_complex_normal(key, (200_000,), jnp.float64)
    assert z32.dtype == jnp.complex64 and z64.dtype == jnp.complex128
    # same 32-bit words, same exact grid point: only erfinv differs. XLA's float32 ErfInv
    # (Giles' single-precision approximation) has a worst-case relative error of 5.8e-6 over
    # the whole 2^23-point grid (measured in float64), hence rtol 1e-5.
    np.testing.assert_allclose(np.asarray(z32), np.asarray(z64), rtol=1e-5, atol=1e-6)
    n = z64.size
    z = np.asarray(z64)
    assert abs(z.real.mean()) < FIVE_SIGMA * np.sqrt(0.5 / n)
    assert abs(np.mean(np.abs(z) ** 2) - 1.0) < FIVE_SIGMA * np.sqrt(1.0 / n)   # Var|z|^2 = 1
    assert abs(np.mean(z.real * z.imag)) < FIVE_SIGMA * 0.5 / np.sqrt(n)
    # |z|^2 ~ Exp(1): a tail probability
    assert _within_5sigma(np.mean(np.abs(z) ** 2 > 4.0), np.exp(-4.0), n)


# ------------------------------------------------------------------------------------------
# TRIS-RSMA rate math
# ------------------------------------------------------------------------------------------


def _scenario(rng, N=8, K=3, M=2):
    W = _cn(rng, N, K + 1) * 0.8
    C = np.array([0.1, 0.2, 0.05])[:K]
    H_hat = _cn(rng, K, N)
    G_hat = _cn(rng, M, N)
    g_scale = np.array([0.7, 0.5, 0.9])[:M]
    A = _cn(rng, M, N, N) * 0.15
    E = A @ np.conj(np.transpose(A, (0, 2, 1))) + 0.05 * np.eye(N)
    E_chol = np.linalg.cholesky(E)
    return dict(W=W, C=C, H_hat=H_hat, sigma_he2=np.array([0.1, 0.2, 0.05])[:K], G_hat=G_hat,
                g_scale=g_scale, E_chol=E_chol, noise_lu=np.array([1.0, 0.5, 2.0])[:K],
                noise_iu=np.array([0.3, 1.0, 1.0])[:M], r_s=np.array([1.5, 1.0, 2.0])[:K],
                r_e=np.array([0.8, 1.2, 1.0])[:M])


# One (n_draws, chunk) pair for all 8x3x2 kernel calls so the jit cache is shared by the tests
# (each distinct static configuration costs a compilation of a few seconds).
N_MC, CHUNK = 40_000, 8192

_ARGS = ("W", "C", "H_hat", "sigma_he2", "G_hat", "g_scale", "E_chol", "noise_lu", "noise_iu",
         "r_s", "r_e")


def _np_rates_loops(H, G, W, C, noise_lu, noise_iu):
    """Plain-loop reference of eqs. (17)-(24)."""
    K, M = H.shape[0], G.shape[0]
    r_k, r_c = np.zeros(K), np.zeros(K)
    r_km = np.zeros((K, M))
    for k in range(K):
        p = [abs(np.vdot(H[k], W[:, i])) ** 2 for i in range(K + 1)]
        interf = sum(p[i + 1] for i in range(K) if i != k)
        r_k[k] = C[k] + np.log2(1 + p[k + 1] / (interf + noise_lu[k]))
        r_c[k] = np.log2(1 + p[0] / (sum(p[1:]) + noise_lu[k]))
        for m in range(M):
            q = [abs(np.vdot(G[m], W[:, i])) ** 2 for i in range(K + 1)]
            r_km[k, m] = np.log2(1 + q[k + 1] / (q[0] + noise_iu[m]))
    return r_k, r_km, r_c


def test_tris_rates_vs_loops_and_metrics_module(rng):
    s = _scenario(rng)
    H = s["H_hat"] + np.sqrt(s["sigma_he2"])[:, None] * _cn(rng, 3, 8)
    G = s["g_scale"][:, None] * (s["G_hat"] + np.einsum("mij,mj->mi", s["E_chol"], _cn(rng, 2, 8)))
    got = certify.tris_rates(H, G, s["W"], s["C"], s["noise_lu"], s["noise_iu"])
    ref = _np_rates_loops(H, G, s["W"], s["C"], s["noise_lu"], s["noise_iu"])
    for g, r in zip(got, ref):
        np.testing.assert_allclose(np.asarray(g), r, rtol=1e-12)
    try:
        from jisac.metrics import rsma
    except ImportError:  # pragma: no cover - module owned by another engineer
        pytest.skip("jisac.metrics.rsma not available")
    np.testing.assert_allclose(got[0], rsma.user_rates(s["W"], H, s["noise_lu"], s["C"]),
                               rtol=1e-12)
    np.testing.assert_allclose(got[1], rsma.eavesdropper_rates(s["W"], G, s["noise_iu"]),
                               rtol=1e-12)
    np.testing.assert_allclose(got[2], rsma.rate(rsma.common_sinr(s["W"], H, s["noise_lu"])),
                               rtol=1e-12)


def test_outage_events_equal_rate_comparisons(rng):
    # The kernel compares powers; check it is the same event as comparing rates (eqs. 26/27).
    s = _scenario(rng)
    for _ in range(200):
        H = s["H_hat"] + 0.5 * _cn(rng, 3, 8)
        G = s["g_scale"][:, None] * (s["G_hat"] + 0.7 * _cn(rng, 2, 8))
        r_k, r_km, r_c = _np_rates_loops(H, G, s["W"], s["C"], s["noise_lu"], s["noise_iu"])
        p_lu = np.abs(H.conj() @ s["W"]) ** 2 / s["noise_lu"][:, None]
        p_iu = np.abs(G.conj() @ s["W"]) ** 2 / s["noise_iu"][:, None]
        lu, iu, com = T.outage_events(jnp.asarray(p_lu), jnp.asarray(p_iu),
                                      2.0 ** (s["r_s"] - s["C"]) - 1, 2.0 ** s["C"].sum() - 1,
                                      2.0 ** s["r_e"] - 1)
        np.testing.assert_array_equal(lu, r_k < s["r_s"])
        np.testing.assert_array_equal(iu, r_km > s["r_e"][None, :])
        np.testing.assert_array_equal(com, r_c < s["C"].sum())


# ------------------------------------------------------------------------------------------
# TRIS-RSMA outage kernel
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["projected", "full"])
def test_tris_single_user_closed_form(rng, key, method):
    # K = 1, w_c = 0: no interference, no AN. For X ~ CN(mu, v): 2|X|^2 / v ~ ncx2(2, 2|mu|^2/v).
    N, n = 8, 100_000
    w = _cn(rng, N, 1)
    W = np.concatenate([np.zeros((N, 1)), w], axis=1)
    h_hat, g_hat = _cn(rng, 1, N), _cn(rng, 1, N)
    she2, s_g, nl, nv = 0.3, 0.6, 0.8, 0.4
    A = _cn(rng, N, N) * 0.3
    E = A @ A.conj().T + 0.1 * np.eye(N)
    r_s, r_e, C = 1.6, 1.0, 0.25
    res = certify.tris_outage(key, W, np.array([C]), h_hat, she2, g_hat, np.array([s_g]),
                              np.linalg.cholesky(E)[None], nl, nv, r_s, r_e, n_draws=n,
                              chunk=25_000, dtype=jnp.float64, method=method)
    # LU: outage iff |h^H w|^2 < (2^{r_s - C} - 1) sigma^2; h^H w ~ CN(h_hat^H w, she2 ||w||^2)
    mu, v = np.vdot(h_hat[0], w[:, 0]), she2 * np.sum(np.abs(w) ** 2)
    x = (2 ** (r_s - C) - 1) * nl
    p_lu = stats.ncx2.cdf(2 * x / v, 2, 2 * abs(mu) ** 2 / v)
    # IU: outage iff s^2 |(g_hat + dg)^H w|^2 > (2^{r_e} - 1) sigma_v^2; dg^H w ~ CN(0, w^H E w)
    mu_g, v_g = np.vdot(g_hat[0], w[:, 0]), np.real(w[:, 0].conj() @ E @ w[:, 0])
    xg = (2 ** r_e - 1) * nv / s_g**2
    p_iu = stats.ncx2.sf(2 * xg / v_g, 2, 2 * abs(mu_g) ** 2 / v_g)
    assert 0.05 < p_lu < 0.95 and 0.05 < p_iu < 0.95  # informative regime
    assert _within_5sigma(res.lu.p_hat[0], p_lu, n), (res.lu.p_hat, p_lu)
    assert _within_5sigma(res.iu.p_hat[0, 0], p_iu, n), (res.iu.p_hat, p_iu)
    # common stream has zero power: it is never decodable at a positive rate
    assert int(res.common.count[0]) == n


def _numpy_mc_outage(s, n, rng):
    """Independent plain-NumPy MC of the literal model (N-dim draws), vectorised over draws."""
    K, N = s["H_hat"].shape
    M = s["G_hat"].shape[0]
    dh = np.sqrt(s["sigma_he2"])[None, :, None] * _cn(rng, n, K, N)
    H = s["H_hat"][None] + dh
    G = s["g_scale"][None, :, None] * (s["G_hat"][None]
                                        + np.einsum("mij,nmj->nmi", s["E_chol"], _cn(rng, n, M, N)))
    lu = np.zeros(K)
    com = np.zeros(K)
    iu = np.zeros((K, M))
    for k in range(K):
        p = np.abs(np.einsum("nj,js->ns", H[:, k].conj(), s["W"])) ** 2
        interf = sum(p[:, i + 1] for i in range(K) if i != k)
        rate = s["C"][k] + np.log2(1 + p[:, k + 1] / (interf + s["noise_lu"][k]))
        lu[k] = np.mean(rate < s["r_s"][k])
        com[k] = np.mean(np.log2(1 + p[:, 0] / (p[:, 1:].sum(1) + s["noise_lu"][k])) < s["C"].sum())
        for m in range(M):
            q = np.abs(np.einsum("nj,js->ns", G[:, m].conj(), s["W"])) ** 2
            r_km = np.log2(1 + q[:, k + 1] / (q[:, 0] + s["noise_iu"][m]))
            iu[k, m] = np.mean(r_km > s["r_e"][m])
    return lu, iu, com


def test_tris_outage_vs_numpy_mc(rng, key):
    s = _scenario(rng)
    n = N_MC
    ref = _numpy_mc_outage(s, n, np.random.default_rng(1))
    for method in ("projected", "full"):
        res = certify.tris_outage(key, *(s[a] for a in _ARGS), n_draws=n, chunk=CHUNK,
                                  dtype=jnp.float64, method=method)
        for est, p_ref in zip(res, ref):
            p = np.asarray(est.p_hat)
            # two independent samples of size n: sd of the difference = sqrt(2 p (1-p) / n)
            pbar = (p + p_ref) / 2
            sd = np.sqrt(np.maximum(2 * pbar * (1 - pbar), 1.0 / n) / n)
            assert np.all(np.abs(p - p_ref) <= FIVE_SIGMA * sd), (method, p, p_ref)
        assert res.iu.p_hat.shape == (3, 2) and res.lu.lo.shape == (3,)
    # the scenario is informative: several entries strictly inside (0, 1)
    inside = lambda p: np.sum((p > 0.02) & (p < 0.98))
    assert inside(ref[0]) + inside(ref[1]) >= 3


@pytest.mark.parametrize("method", [
    "projected", pytest.param("full", marks=pytest.mark.slow)])
def test_tris_float32_matches_float64(rng, key, method):
    # Same key -> same 32-bit words -> same grid normals (std_complex_normal). float32 and
    # float64 draws then differ by ~1e-7 relative, so an indicator can only flip for draws whose
    # SINR lies within ~1e-5 relative of its threshold: expected flips ~ n * 1e-5 * density
    # (<< 1 here). We require (i) every probability difference inside the Wilson 95% half-width
    # (the certification resolution) and (ii) at most 5 flipped draws per entry (5e-5 n).
    s = _scenario(rng)
    n = N_MC
    r32 = certify.tris_outage_counts(key, *(s[a] for a in _ARGS), n_draws=n, chunk=n,
                                     dtype=jnp.float32, method=method)
    r64 = certify.tris_outage_counts(key, *(s[a] for a in _ARGS), n_draws=n, chunk=n,
                                     dtype=jnp.float64, method=method)
    for c32, c64 in zip(r32, r64):
        c32, c64 = np.asarray(c32), np.asarray(c64)
        lo, hi = certify.wilson_interval(c64, n)
        half = (np.asarray(hi) - np.asarray(lo)) / 2
        assert np.all(np.abs(c32 - c64) / n <= half + 1e-15)
        assert np.all(np.abs(c32 - c64) <= 5), (method, c32, c64)


def test_tris_chunk_invariance_and_slots(rng, key):
    s = _scenario(rng)
    args = [s[a] for a in _ARGS]
    n = N_MC  # not a multiple of CHUNK: the last chunk is masked
    a = certify.tris_outage_counts(key, *args, n_draws=n, chunk=n, dtype=jnp.float64)
    b = certify.tris_outage_counts(key, *args, n_draws=n, chunk=CHUNK, dtype=jnp.float64)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    # L slots: per-slot W, C, G_hat, g_scale; shared H_hat and E_chol. Slot l must equal the
    # single-slot kernel with key fold_in(key, l).
    L = 3
    Ws = np.stack([s["W"] * (1 + 0.2 * l) for l in range(L)])
    Cs = np.stack([s["C"] * (l + 1) for l in range(L)])
    Gs = np.stack([s["G_hat"] * np.exp(1j * l) for l in range(L)])
    ss = np.stack([s["g_scale"] / (l + 1) for l in range(L)])
    out = certify.tris_outage_slots(key, Ws, Cs, s["H_hat"], s["sigma_he2"], Gs, ss, s["E_chol"],
                                    s["noise_lu"], s["noise_iu"], s["r_s"], s["r_e"], n_draws=n,
                                    chunk=CHUNK, dtype=jnp.float64)
    assert out.iu.count.shape == (L, 3, 2)
    for l in range(L):
        one = certify.tris_outage_counts(jax.random.fold_in(key, l), Ws[l], Cs[l], s["H_hat"],
                                         s["sigma_he2"], Gs[l], ss[l], s["E_chol"], s["noise_lu"],
                                         s["noise_iu"], s["r_s"], s["r_e"], n_draws=n,
                                         chunk=CHUNK, dtype=jnp.float64)
        for est, c in zip(out, one):
            np.testing.assert_array_equal(est.count[l], c)


def test_tris_input_validation(rng, key):
    s = _scenario(rng)
    args = [s[a] for a in _ARGS]
    bad = list(args)
    bad[0] = s["W"][:, :3]
    with pytest.raises(ValueError):
        certify.tris_outage_counts(key, *bad, n_draws=10)
    with pytest.raises(ValueError):
        certify.tris_outage_counts(key, *args, n_draws=10, method="nope")
    with pytest.raises(ValueError):
        certify.mc_count(_exp_event, key, 0, chunk=10)
