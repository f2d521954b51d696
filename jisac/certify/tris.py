"""Fused Monte-Carlo outage kernel of TRIS-RSMA secure ISAC (paper 000).

Model of one slot (000 Sec. II-III):

* LU channels, eq. (6): ``h_k = h_hat_k + dh_k``, ``dh_k ~ CN(0, sigma_he^2 I_N)`` i.i.d. over
  ``k`` (``sigma_he2`` may be per-LU, shape ``(K,)``).
* IU channels, eq. (44): ``g_m = s_m (g_hat_m + dg_m)``, ``s_m = sqrt(xi_m^2 / (1 + kappa))``,
  ``dg_m ~ CN(0, E_m)``, ``E_m = L_m L_m^H`` (``E_chol[m] = L_m``, any square root works).
* Beamformer ``W = [w_c, w_1, ..., w_K]`` (N, K+1), common-rate split ``C`` (K,).
* LU rate, eqs. (18)/(22): ``R_k = C_k + log2(1 + gamma_{p,k})``. LU outage (complement of
  eq. (26)): ``R_k < r_k^s``  <=>  ``|h_k^H w_k|^2 < t_k (sum_{i!=k} |h_k^H w_i|^2 + sigma_k^2)``
  with ``t_k = 2^{r_k^s - C_k} - 1`` (eq. (47); ``t_k <= 0`` means no outage is possible).
* IU rate, eqs. (23)-(24) (common stream = AN). IU outage (complement of eq. (27)):
  ``R_{k,m} > r_m^e``  <=>  ``|g_m^H w_k|^2 > t_m (|g_m^H w_c|^2 + sigma_{v_m}^2)``,
  ``t_m = 2^{r_m^e} - 1`` (eq. (54)).
* Extra (certifies eqs. (20)-(21) under CSI error): common-stream outage of LU ``k``,
  ``log2(1 + gamma_{c,k}) < sum_j C_j`` (eq. (17)).

Events are evaluated as the equivalent power comparisons (no log, no division): cheaper and
without round-off near zero SINR.

Fused, projected draws (``method='projected'``, default). Every rate depends on the channel
only through the ``K+1`` inner products ``h^H W``. With the thin QR ``W = Q R``
(``Q^H Q = I``), ``dh^H W = (Q^H dh)^H R`` and ``Q^H dh ~ CN(0, sigma^2 I_r)``,
``r = min(N, K+1)``; so ``h_k^H W`` has exactly the law of ``h_hat_k^H W + sigma_k z_k^T R``,
``z_k ~ CN(0, I_r)`` (circular symmetry makes ``z^H`` and ``z^T`` equal in law). Likewise
``dg_m^H W = z_m^H L_m^H W`` has the law of ``z_m'^T R_m`` with the thin QR
``L_m^H W = Q_m R_m``. This is an exact
reparametrisation of the paper's model that draws ``(K + M) r`` instead of ``(K + M) N`` complex
normals per realisation. ``method='full'`` draws the ``N``-dimensional errors literally
(reference / cross-check; same law, different random stream).

Randomness. The words of draw ``i`` are ``threefry2x32(key, (i, j))``, ``j`` = word pair
(counter mode, :func:`jisac.certify.monte_carlo.draw_bits`): results are independent of
``chunk``; non-threefry keys fall back to ``bits(fold_in(key, i))`` (chunk-dependent for
'rbg'). Normals are made from 32-bit words ``b`` as ``erfinv(v)`` with
``v = (2 (b >> 9) + 1 - 2^23) 2^-23``: ``v`` is exactly representable in float32, so
float32 and float64 runs with the same key see the *same* draws up to the rounding of
``erfinv`` and of the rate arithmetic (the float32/float64 test relies on this). Each real
part is ``N(0, 1/2)`` evaluated on a symmetric 2^23-point quantile grid, i.e. truncated at
``|x| < 3.8`` (5.3 standard deviations; tail mass 1.2e-7 per real normal), so the bias of
any event probability is at most ~1.2e-7 per real normal drawn (< 5e-6 for the 40 normals of
N=16, K=3, M=2) - far below any feasible Monte-Carlo resolution. float32 ``erf_inv`` differs
from float64 by <= 5.8e-6 relative on this grid (measured).

Layout. A chunk is evaluated with the draws on the last (contiguous) axis, not by ``vmap`` of
a one-draw formula: the ``(K, K+1)``-sized inner loops of the latter do not vectorise (2x
slower on CPU, benchmarks/README.md). :func:`outage_events` (one draw) and the kernel share the
same event code.

Numerics. Mean vectors and QR factors are formed in the input precision, normalised so that
every noise power is 1 (SNR units; keeps float32 far from under/overflow with path losses
``~1e-8``), then cast to ``dtype``.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Complex, Float

from .monte_carlo import _check_sizes, draw_bits, scan_counts
from .stats import Estimate, binomial_estimate

_TWO_M23 = 2.0**-23


class TrisOutage(NamedTuple):
    """Empirical outage probabilities of one slot (or ``L`` slots: leading axis ``L``).

    ``lu[k]`` = Pr{R_k < r_k^s} (eq. (26) violated), ``iu[k, m]`` = Pr{R_{k,m} > r_m^e}
    (eq. (27) violated), ``common[k]`` = Pr{log2(1 + gamma_{c,k}) < sum_j C_j}.
    """

    lu: Estimate
    iu: Estimate
    common: Estimate


class _Prepared(NamedTuple):
    # All in SNR units (noise power 1) and in the kernel dtype.
    a_lu: Complex[Array, "K S"]      # h_hat_k^H W / sigma_n_k
    r_lu: Complex[Array, "K r S"]    # sigma_he_k R / sigma_n_k      (projected)
    a_iu: Complex[Array, "M S"]      # s_m g_hat_m^H W / sigma_v_m
    r_iu: Complex[Array, "M r S"]    # s_m R_m / sigma_v_m            (projected)
    t_lu: Float[Array, " K"]         # 2^{r_s - C_k} - 1
    t_c: Float[Array, ""]            # 2^{sum C} - 1
    t_iu: Float[Array, " M"]         # 2^{r_e} - 1
    # full method only (else zero-size placeholders)
    w: Complex[Array, "N S"]
    h_hat: Complex[Array, "K N"]     # / sigma_n_k
    sd_lu: Float[Array, " K"]        # sigma_he_k / sigma_n_k
    g_hat: Complex[Array, "M N"]     # s_m g_hat_m / sigma_v_m
    l_iu: Complex[Array, "M N N"]    # s_m L_m / sigma_v_m


def _as_vec(x, n: int, dtype):
    return jnp.broadcast_to(jnp.asarray(x, dtype), (n,))


def _complex_dtype(dtype):
    return jnp.complex64 if jnp.dtype(dtype) == jnp.float32 else jnp.complex128


def _prepare(W, C, H_hat, sigma_he2, G_hat, g_scale, E_chol, noise_lu, noise_iu, r_s, r_e,
             dtype, method) -> _Prepared:
    W = jnp.asarray(W)
    K = H_hat.shape[0]
    M = G_hat.shape[0]
    rdt = jnp.real(W).dtype if jnp.iscomplexobj(W) else W.dtype
    rdt = jnp.promote_types(rdt, jnp.float32)
    sn = jnp.sqrt(_as_vec(noise_lu, K, rdt))
    sv = jnp.sqrt(_as_vec(noise_iu, M, rdt))
    she = jnp.sqrt(_as_vec(sigma_he2, K, rdt))
    s = _as_vec(g_scale, M, rdt)
    a_lu = (jnp.conj(H_hat) @ W) / sn[:, None]
    a_iu = (jnp.conj(G_hat) @ W) * (s / sv)[:, None]
    C = _as_vec(C, K, rdt)
    t_lu = jnp.exp2(_as_vec(r_s, K, rdt) - C) - 1.0
    t_c = jnp.exp2(jnp.sum(C)) - 1.0
    t_iu = jnp.exp2(_as_vec(r_e, M, rdt)) - 1.0
    cdt = _complex_dtype(dtype)
    if method == "projected":
        _, R = jnp.linalg.qr(W)                                        # (r, S)
        r_lu = (she / sn)[:, None, None] * R[None, :, :]
        B = jnp.einsum("mji,js->mis", jnp.conj(E_chol), W)             # L_m^H W
        _, R_iu = jnp.linalg.qr(B)                                     # (M, r, S)
        r_iu = (s / sv)[:, None, None] * R_iu
        z = jnp.zeros((0,), cdt)
        full = (z.reshape(0, 0), z.reshape(0, 0), jnp.zeros((0,), dtype), z.reshape(0, 0),
                z.reshape(0, 0, 0))
    elif method == "full":
        z = jnp.zeros((0,), cdt)
        r_lu, r_iu = z.reshape(0, 0, 0), z.reshape(0, 0, 0)
        full = (W, H_hat / sn[:, None], she / sn, G_hat * (s / sv)[:, None],
                E_chol * (s / sv)[:, None, None])
    else:
        raise ValueError(f"unknown method {method!r}")
    out = _Prepared(a_lu, r_lu, a_iu, r_iu, t_lu, t_c, t_iu, *full)
    return jax.tree.map(
        lambda x: x.astype(cdt if jnp.iscomplexobj(x) else dtype), out)


def normals_from_bits(bits, dtype) -> Float[Array, "..."]:
    """``N(0, 1/2)`` from uint32 words: ``erfinv((2 (b >> 9) + 1 - 2^23) 2^-23)``.

    The argument is an odd multiple of 2^-23 in (-1, 1), exact in float32 and float64, so both
    dtypes evaluate ``erfinv`` at the same point (see module docstring)."""
    k = (bits >> 9).astype(jnp.int32)                 # 23 random bits
    v = (2 * k + (1 - 2**23)).astype(dtype) * _TWO_M23
    return jax.lax.erf_inv(v)


def std_complex_normal(key, shape: tuple[int, ...], dtype) -> Complex[Array, "..."]:
    """``CN(0, 1)`` samples of ``shape`` from 32-bit words, identical grid in float32/float64
    (see module docstring). ``Re, Im ~ N(0, 1/2)`` i.i.d."""
    x = normals_from_bits(jax.random.bits(key, (2,) + tuple(shape), jnp.uint32), dtype)
    return jax.lax.complex(x[0], x[1])


def _abs2(z):
    return jnp.real(z) ** 2 + jnp.imag(z) ** 2


def _cvecmat(z, R):
    # z (B, r) complex, R (B, r, S) complex -> (B, S) = sum_j z_j R_j; written as a broadcast
    # sum (not a batched matmul) so XLA fuses it with the draw on CPU.
    return jnp.sum(z[:, :, None] * R, axis=1)


def _events_soa(p_lu, p_iu, t_lu, t_c, t_iu):
    # Structure-of-arrays core: p_lu (K, S, B), p_iu (M, S, B), draws on the LAST axis so
    # every elementwise op runs contiguously over draws (SIMD on CPU, coalesced on GPU).
    K = p_lu.shape[0]
    priv = p_lu[:, 1:, :]
    eye = jnp.eye(K, dtype=priv.dtype)[:, :, None]
    own = jnp.sum(priv * eye, axis=1)                  # |h_k^H w_k|^2, exact (one nonzero term)
    interf = jnp.sum(priv * (1.0 - eye), axis=1)       # sum_{i != k}, no cancellation
    lu = own < t_lu[:, None] * (interf + 1.0)                                   # (26)/(47)
    common = p_lu[:, 0, :] < t_c * (jnp.sum(priv, axis=1) + 1.0)                # (17)/(20)
    iu = p_iu[:, 1:, :] > (t_iu[:, None] * (p_iu[:, 0, :] + 1.0))[:, None, :]   # (27)/(54)
    return lu, jnp.transpose(iu, (1, 0, 2)), common


def outage_events(p_lu: Float[Array, "K S"], p_iu: Float[Array, "M S"], t_lu, t_c, t_iu
                  ) -> tuple[Bool[Array, " K"], Bool[Array, "K M"], Bool[Array, " K"]]:
    """Outage indicators of one draw from received powers in SNR units (noise power 1).

    ``p_lu[k, i] = |h_k^H w_i|^2 / sigma_k^2``, ``p_iu[m, i] = |g_m^H w_i|^2 / sigma_{v_m}^2``,
    ``i = 0`` common. Returns ``(lu (K,), iu (K, M), common (K,))``; see module docstring.
    Same code path as the fused kernel.
    """
    lu, iu, common = _events_soa(p_lu[:, :, None], p_iu[:, :, None], jnp.asarray(t_lu),
                                 jnp.asarray(t_c), jnp.asarray(t_iu))
    return lu[:, 0], iu[:, :, 0], common[:, 0]


def _cmac_soa(a, R, xr, xi):
    # a (U, S) complex, R (U, r, S) complex, x = xr + i xi with xr, xi (U, r, B) real:
    # returns |a + sum_j x_j R_j|^2, shape (U, S, B), in real arithmetic with B innermost.
    Rr, Ri = jnp.real(R)[:, :, :, None], jnp.imag(R)[:, :, :, None]
    xr, xi = xr[:, :, None, :], xi[:, :, None, :]
    re = jnp.real(a)[:, :, None] + jnp.sum(xr * Rr - xi * Ri, axis=1)
    im = jnp.imag(a)[:, :, None] + jnp.sum(xr * Ri + xi * Rr, axis=1)
    return re * re + im * im


def _powers_from_normals(x, prep: _Prepared, method: str):
    # x: (2 (K + M) d,) N(0, 1/2) normals of ONE draw, d = r (projected) or N (full).
    K, S = prep.a_lu.shape
    M = prep.a_iu.shape[0]
    x = x.reshape(2, K + M, -1)
    z = jax.lax.complex(x[0], x[1])                    # CN(0, I)
    if method == "projected":
        hw = prep.a_lu + _cvecmat(z[:K], prep.r_lu)
        gw = prep.a_iu + _cvecmat(z[K:], prep.r_iu)
    else:
        h = prep.h_hat + prep.sd_lu[:, None] * z[:K]
        g = prep.g_hat + jnp.sum(prep.l_iu * z[K:, None, :], axis=2)       # s L_m z
        hw = jnp.conj(h) @ prep.w
        gw = jnp.conj(g) @ prep.w
    return _abs2(hw), _abs2(gw)


def n_words_per_draw(N: int, K: int, M: int, method: str = "projected") -> int:
    """Random 32-bit words consumed per draw (one per real normal)."""
    d = min(N, K + 1) if method == "projected" else N
    return 2 * (K + M) * d


def _check_shapes(W, C, H_hat, G_hat, E_chol):
    N, S = W.shape
    K = H_hat.shape[0]
    M = G_hat.shape[0]
    if S != K + 1 or H_hat.shape != (K, N) or G_hat.shape != (M, N):
        raise ValueError(f"shape mismatch: W {W.shape}, H_hat {H_hat.shape}, G_hat {G_hat.shape}")
    if E_chol.shape != (M, N, N):
        raise ValueError(f"E_chol must be (M, N, N) = {(M, N, N)}, got {E_chol.shape}")
    if jnp.shape(C) not in ((), (K,)):
        raise ValueError(f"C must be scalar or (K,), got {jnp.shape(C)}")


@partial(jax.jit, static_argnames=("n_draws", "chunk", "dtype", "method"))
def tris_outage_counts(key, W: Complex[Array, "N K+1"], C: Float[Array, " K"],
                       H_hat: Complex[Array, "K N"], sigma_he2, G_hat: Complex[Array, "M N"],
                       g_scale: Float[Array, " M"], E_chol: Complex[Array, "M N N"],
                       noise_lu, noise_iu, r_s, r_e, *, n_draws: int, chunk: int = 4096,
                       dtype=jnp.float32, method: str = "projected"):
    """Jitted core of :func:`tris_outage`: outage counts ``(lu (K,), iu (K, M), common (K,))``
    (int32) over ``n_draws`` draws of the true channels. Pure JAX, one slot."""
    _check_shapes(W, C, H_hat, G_hat, E_chol)
    _check_sizes(n_draws, chunk)
    K, M = H_hat.shape[0], G_hat.shape[0]
    prep = _prepare(W, C, H_hat, sigma_he2, G_hat, g_scale, E_chol, noise_lu, noise_iu, r_s, r_e,
                    dtype, method)

    n_words = n_words_per_draw(W.shape[0], K, M, method)

    def batch(start, size):
        # Draws on the last axis (structure of arrays): measured ~2x faster on CPU than
        # vmap-ing the one-draw formula, whose (K, S)-sized inner loops do not vectorise.
        x = normals_from_bits(draw_bits(key, start, size, n_words).T, dtype)   # (words, B)
        x = x.reshape(2, K + M, -1, size)
        if method == "projected":
            p_lu = _cmac_soa(prep.a_lu, prep.r_lu, x[0, :K], x[1, :K])
            p_iu = _cmac_soa(prep.a_iu, prep.r_iu, x[0, K:], x[1, K:])
        else:
            p_lu, p_iu = jax.vmap(lambda xb: _powers_from_normals(xb, prep, method),
                                  in_axes=-1, out_axes=-1)(x.reshape(-1, size))
        lu, iu, common = _events_soa(p_lu, p_iu, prep.t_lu, prep.t_c, prep.t_iu)
        return jnp.concatenate([lu, common, iu.reshape(K * M, size)], axis=0).T

    counts = scan_counts(batch, n_draws, chunk, (2 * K + K * M,))
    return counts[:K], counts[2 * K:].reshape(K, M), counts[K:2 * K]


def _estimates(counts, n_draws, confidence, ci) -> TrisOutage:
    lu, iu, common = counts
    return TrisOutage(*(binomial_estimate(c, n_draws, confidence, ci) for c in (lu, iu, common)))


def tris_outage(key, W, C, H_hat, sigma_he2, G_hat, g_scale, E_chol, noise_lu, noise_iu,
                r_s, r_e, *, n_draws: int, chunk: int = 4096, dtype=jnp.float32,
                method: str = "projected", confidence: float = 0.95, ci: str = "wilson"
                ) -> TrisOutage:
    """Empirical LU / IU / common-stream outage of one slot with confidence intervals.

    Shapes: ``W (N, K+1)``, ``C (K,)``, ``H_hat (K, N)``, ``sigma_he2`` scalar or ``(K,)``,
    ``G_hat (M, N)`` (normalised estimate of eq. (44)), ``g_scale (M,)`` = ``s_m``,
    ``E_chol (M, N, N)`` with ``E_m = L_m L_m^H``, ``noise_lu`` scalar/``(K,)``, ``noise_iu``
    scalar/``(M,)`` (noise > 0), ``r_s`` scalar/``(K,)``, ``r_e`` scalar/``(M,)``
    (bit/s/Hz). ``dtype``: float32 (GPU / production) or float64 (reference). ``ci``: ``'wilson'`` or
    ``'clopper-pearson'`` (certification). Memory ``O(chunk (K + M) (K+1))``.
    """
    counts = tris_outage_counts(key, W, C, H_hat, sigma_he2, G_hat, g_scale, E_chol, noise_lu,
                                noise_iu, r_s, r_e, n_draws=n_draws, chunk=chunk, dtype=dtype,
                                method=method)
    return _estimates(counts, n_draws, confidence, ci)


@partial(jax.jit, static_argnames=("n_draws", "chunk", "dtype", "method"))
def tris_outage_counts_slots(key, W: Complex[Array, "L N K+1"], C: Float[Array, "L K"],
                             H_hat, sigma_he2, G_hat, g_scale, E_chol, noise_lu, noise_iu,
                             r_s, r_e, *, n_draws: int, chunk: int = 4096, dtype=jnp.float32,
                             method: str = "projected"):
    """:func:`tris_outage_counts` for all ``L`` slots (``lax.map`` over slots; slot ``l`` uses
    key ``fold_in(key, l)``). Per-slot inputs: ``W (L, N, K+1)``, ``C (L, K)``; ``H_hat``,
    ``G_hat``, ``g_scale``, ``E_chol`` may carry a leading ``L`` axis (``(L, K, N)``,
    ``(L, M, N)``, ``(L, M)``, ``(L, M, N, N)``) or be shared by all slots. Noise powers, error
    variance and thresholds are shared. Memory ``O(chunk (K + M) (K+1))``.
    """
    L = W.shape[0]
    if W.ndim != 3 or jnp.shape(C) != (L, W.shape[2] - 1):
        raise ValueError(f"W must be (L, N, K+1) and C (L, K); got {W.shape}, {jnp.shape(C)}")
    per_slot = {"w": W, "c": C}
    shared = {}
    for name, x, slot_ndim in (("h", H_hat, 3), ("g", G_hat, 3), ("s", g_scale, 2),
                               ("e", E_chol, 4)):
        (per_slot if jnp.ndim(x) == slot_ndim else shared)[name] = x
    per_slot["key"] = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(
        key, jnp.arange(L, dtype=jnp.uint32))

    def one(xs):
        a = {**shared, **xs}
        return tris_outage_counts(a["key"], a["w"], a["c"], a["h"], sigma_he2, a["g"], a["s"],
                                  a["e"], noise_lu, noise_iu, r_s, r_e, n_draws=n_draws,
                                  chunk=chunk, dtype=dtype, method=method)

    # lax.map (sequential over slots): compiles the one-slot kernel once and keeps memory at
    # O(chunk); the chunk already saturates the device, so vmap over slots buys nothing.
    return jax.lax.map(one, per_slot)


def tris_outage_slots(key, W, C, H_hat, sigma_he2, G_hat, g_scale, E_chol, noise_lu, noise_iu,
                      r_s, r_e, *, n_draws: int, chunk: int = 4096, dtype=jnp.float32,
                      method: str = "projected", confidence: float = 0.95, ci: str = "wilson"
                      ) -> TrisOutage:
    """:func:`tris_outage` over ``L`` slots; estimates have a leading ``L`` axis."""
    counts = tris_outage_counts_slots(key, W, C, H_hat, sigma_he2, G_hat, g_scale, E_chol,
                                      noise_lu, noise_iu, r_s, r_e, n_draws=n_draws, chunk=chunk,
                                      dtype=dtype, method=method)
    return _estimates(counts, n_draws, confidence, ci)


def tris_rates(H: Complex[Array, "K N"], G: Complex[Array, "M N"], W: Complex[Array, "N K+1"],
               C: Float[Array, " K"], noise_lu, noise_iu):
    """Rates at given *true* channels, the quantities behind the outage events:
    ``R_k = C_k + log2(1 + gamma_{p,k})`` (eq. (22)), ``R_{k,m}`` (eq. (24), output
    ``[k, m]``) and ``R_{c,k} = log2(1 + gamma_{c,k})`` (eq. (19)). ``G`` includes the
    ``s_m`` scale of eq. (44). Uses the same power arithmetic as the fused kernel."""
    K, M = H.shape[0], G.shape[0]
    rdt = jnp.promote_types(jnp.real(W).dtype, jnp.float32)
    p_lu = _abs2(jnp.conj(H) @ W) / _as_vec(noise_lu, K, rdt)[:, None]
    p_iu = _abs2(jnp.conj(G) @ W) / _as_vec(noise_iu, M, rdt)[:, None]
    priv = p_lu[:, 1:]
    own = jnp.diagonal(priv)
    interf = jnp.sum(priv * (1.0 - jnp.eye(K, dtype=priv.dtype)), axis=1)
    r_k = _as_vec(C, K, rdt) + jnp.log2(1.0 + own / (interf + 1.0))
    r_c = jnp.log2(1.0 + p_lu[:, 0] / (jnp.sum(priv, axis=1) + 1.0))
    r_km = jnp.log2(1.0 + p_iu[:, 1:] / (p_iu[:, 0] + 1.0)[:, None]).T
    return r_k, r_km, r_c
