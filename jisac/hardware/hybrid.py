"""Hybrid analog/digital precoding ``W = W_RF W_BB`` (paper 004 eqs. (36e)-(36f), (37)-(38)).

Shapes: ``W_RF: (M, R)`` unit-modulus analog precoder (R = R_RF chains), ``W_BB: (R, K)``,
``W_opt: (M, K)`` the fully digital precoder to be approximated.

Alternating minimisation of ``f(W_RF, W_BB) = ||W_opt - W_RF W_BB||_F^2``:

* ``W_BB`` step, eq. (38): least squares ``W_BB = pinv(W_RF) W_opt`` (exact minimiser).
* ``W_RF`` step, eq. (37): the exact unit-modulus minimiser has no closed form. The usual
  projection ``exp(j arg(W_opt W_BB^H))`` is exact only when ``W_BB W_BB^H`` is a multiple of I and
  can *increase* ``f`` otherwise. We take the majorisation-minimisation step that generalises it:
  with ``c = lambda_max(W_BB W_BB^H)``, ``f(X) <= f(X_t) + 2 Re<X - X_t, grad_t> + c ||X - X_t||^2``
  and ``||X||_F^2 = M R`` is constant on the constraint set, so the surrogate is minimised by
  ``W_RF = exp(j arg(c W_RF,t - (W_RF,t W_BB - W_opt) W_BB^H))``. When ``W_BB W_BB^H = c I`` it
  *is* ``exp(j arg(W_opt W_BB^H))``; in general it guarantees ``f`` non-increasing.
* Power: after the iterations ``W_BB`` is rescaled so ``||W_RF W_BB||_F^2 = power`` (default
  ``||W_opt||_F^2``), the usual final normalisation (Yu, Shen, Zhang, Letaief, IEEE JSTSP 2016);
  normalising inside the loop would break monotonicity. ``residuals[i]`` is ``f`` after
  iteration i (before the final rescaling); ``final_residual`` is ``f`` of the returned pair.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float


class HybridResult(NamedTuple):
    w_rf: Complex[Array, "M R"]
    w_bb: Complex[Array, "R K"]
    residuals: Float[Array, " n_iter"]
    final_residual: Float[Array, ""]


def hybrid_precoder(w_rf: Complex[Array, "M R"], w_bb: Complex[Array, "R K"]) -> Complex[Array, "M K"]:
    """``W = W_RF W_BB`` (004 eq. (36e))."""
    return w_rf @ w_bb


def _sq_norm(x) -> Float[Array, ""]:
    return jnp.sum(jnp.real(x) ** 2 + jnp.imag(x) ** 2)


def _unit(x):
    # exp(j arg x), with arg(0) := 0 (jnp.angle(0) = 0), no division by |x|.
    return jnp.exp(1j * jnp.angle(x))


def default_rf_init(w_opt: Complex[Array, "M K"], n_rf: int) -> Complex[Array, "M R"]:
    """Deterministic start: phases of ``W_opt``'s columns, then DFT columns for the remaining chains."""
    m, k = w_opt.shape
    dft = jnp.exp(-2j * jnp.pi * jnp.arange(m)[:, None] * jnp.arange(max(n_rf - k, 0))[None, :] / m)
    cols = jnp.concatenate([_unit(w_opt[:, : min(k, n_rf)]), dft.astype(w_opt.dtype)], axis=1)
    return cols[:, :n_rf]


def alternating_minimization(
    w_opt: Complex[Array, "M K"],
    n_rf: int,
    n_iter: int = 100,
    w_rf_init: Complex[Array, "M R"] | None = None,
    power=None,
) -> HybridResult:
    """Hybrid decomposition of ``W_opt`` by alternating minimisation (004 eqs. (37)-(38)); see module doc.

    Runs exactly ``n_iter`` iterations (``lax.fori_loop``), so the residual history has fixed
    length and the function is jit-able with ``n_rf, n_iter`` static. Start: ``w_rf_init`` if
    given, else the exact :func:`two_chain_decomposition` when ``n_rf >= 2K``, else
    :func:`default_rf_init`. AM is a local method: from a cold start it can stall in a local
    minimum even when ``W_opt`` is hybrid-realisable.
    """
    w_opt = jnp.asarray(w_opt)
    if w_rf_init is not None:
        w_rf0 = _unit(jnp.asarray(w_rf_init))
    elif n_rf >= 2 * w_opt.shape[1]:
        w_rf0 = two_chain_decomposition(w_opt, n_rf)[0]  # exact start: residual 0 up to round-off
    else:
        w_rf0 = default_rf_init(w_opt, n_rf)
    power = _sq_norm(w_opt) if power is None else jnp.asarray(power, w_opt.real.dtype)

    def bb_step(w_rf):
        return jnp.linalg.pinv(w_rf) @ w_opt  # eq. (38)

    def body(i, state):
        w_rf, w_bb, res = state
        bbh = w_bb @ jnp.conj(w_bb.T)
        c = jnp.linalg.eigvalsh(bbh)[-1]
        w_rf = _unit(c * w_rf - (w_rf @ w_bb - w_opt) @ jnp.conj(w_bb.T))  # MM step for eq. (37)
        w_bb = bb_step(w_rf)
        res = res.at[i].set(_sq_norm(w_opt - w_rf @ w_bb))
        return w_rf, w_bb, res

    w_bb0 = bb_step(w_rf0)
    res0 = jnp.zeros(n_iter, w_opt.real.dtype)
    w_rf, w_bb, res = jax.lax.fori_loop(0, n_iter, body, (w_rf0, w_bb0, res0))
    achieved = _sq_norm(w_rf @ w_bb)
    scale = jnp.sqrt(jnp.where(achieved > 0, power / jnp.where(achieved > 0, achieved, 1.0), 1.0))
    w_bb = w_bb * scale
    return HybridResult(w_rf, w_bb, res, _sq_norm(w_opt - w_rf @ w_bb))


def two_chain_decomposition(
    w_opt: Complex[Array, "M K"], n_rf: int
) -> tuple[Complex[Array, "M R"], Complex[Array, "R K"]]:
    """Exact hybrid realisation of any ``W_opt`` when ``n_rf >= 2 K`` (Sohrabi & Yu, IEEE JSTSP 2016).

    Each entry ``w = s (exp(j a) + exp(j b))`` with ``s = max_m |w_{m,k}| / 2`` per stream,
    ``a, b = arg w +- arccos(|w| / (2 s))``: chains ``2k, 2k+1`` serve stream k with
    ``W_BB[2k, k] = W_BB[2k+1, k] = s_k``; extra chains get unit columns and zero ``W_BB`` rows.
    With paper 004's ``R_RF = 8 = 2 K`` the hybrid constraint therefore costs nothing.
    """
    m, k = w_opt.shape
    if n_rf < 2 * k:
        raise ValueError(f"two_chain_decomposition needs n_rf >= 2K = {2 * k}, got n_rf = {n_rf}")
    mag2 = jnp.real(w_opt) ** 2 + jnp.imag(w_opt) ** 2
    s = jnp.sqrt(jnp.max(mag2, axis=0)) / 2  # (K,)
    s_safe = jnp.where(s > 0, s, 1.0)
    ratio = jnp.clip(jnp.sqrt(mag2) / (2 * s_safe[None, :]), 0.0, 1.0)
    delta = jnp.arccos(ratio)
    phase = jnp.angle(w_opt)
    a = jnp.exp(1j * (phase + delta))
    b = jnp.exp(1j * (phase - delta))
    pairs = jnp.stack([a, b], axis=-1).reshape(m, 2 * k)  # columns 2k, 2k+1
    extra = jnp.ones((m, n_rf - 2 * k), w_opt.dtype)
    w_rf = jnp.concatenate([pairs.astype(w_opt.dtype), extra], axis=1)
    w_bb = jnp.zeros((n_rf, k), w_opt.dtype)
    idx = jnp.arange(k)
    w_bb = w_bb.at[2 * idx, idx].set(s.astype(w_opt.dtype)).at[2 * idx + 1, idx].set(s.astype(w_opt.dtype))
    return w_rf, w_bb
