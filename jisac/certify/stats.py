"""Binomial confidence intervals and the :class:`Estimate` result of Monte-Carlo certification.

Model: ``count ~ Binomial(n, p)``; we report ``p_hat = count / n`` and a two-sided interval
``[lo, hi]`` at level ``confidence``.

* :func:`wilson_interval` - Wilson score interval (pure ``jax.numpy``; jit-able, usable inside
  a certification loop). Good coverage even near ``p = 0`` (where the Wald interval collapses).
* :func:`clopper_pearson_interval` - exact (conservative) Clopper-Pearson interval through the
  beta quantile, ``lo = B^{-1}(a/2; k, n-k+1)``, ``hi = B^{-1}(1-a/2; k+1, n-k)``, computed with
  ``scipy.stats.beta`` on host arrays. It is post-processing of counts, never traced, so scipy
  is allowed here; this is the interval to use when a design is *certified*
  (``hi <= P_out``), since its coverage is guaranteed to be >= ``confidence`` for every ``p``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri
from jaxtyping import Array, Float, Int


class Estimate(NamedTuple):
    """A Monte-Carlo probability (or mean) estimate with a confidence interval.

    All array fields share the event shape (``()`` for a scalar event). ``n`` is the number of
    draws, ``confidence`` the two-sided level of ``[lo, hi]``, ``count`` the number of draws in
    which the event occurred (``None`` for a mean estimate), ``method`` the interval name.
    A NamedTuple, hence a pytree: it can be returned from ``jax.jit`` when ``method='wilson'``.
    """

    p_hat: Float[Array, "..."]
    lo: Float[Array, "..."]
    hi: Float[Array, "..."]
    n: int
    confidence: float
    count: Int[Array, "..."] | None = None
    method: str = "wilson"


def _check_conf(confidence: float) -> None:
    if not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def wilson_interval(count, n, confidence: float = 0.95):
    """Wilson score interval for a binomial proportion (pure JAX, element-wise).

    ``z = Phi^{-1}(1 - a/2)``, ``a = 1 - confidence``;
    centre ``(k + z^2/2) / (n + z^2)``, half width
    ``z sqrt(k (n - k) / n + z^2 / 4) / (n + z^2)``. Returns ``(lo, hi)`` clipped to ``[0, 1]``.
    """
    _check_conf(confidence)
    k = jnp.asarray(count)
    dtype = jnp.result_type(float)  # float64 under x64, float32 otherwise
    k = k.astype(dtype)
    n = jnp.asarray(n, dtype)
    z = ndtri(jnp.asarray(0.5 + confidence / 2.0, dtype))
    z2 = z * z
    centre = (k + z2 / 2.0) / (n + z2)
    # k (n - k) / n >= 0 always; the +z^2/4 keeps the sqrt argument > 0 (NaN-safe gradient).
    half = z * jnp.sqrt(k * (n - k) / n + z2 / 4.0) / (n + z2)
    return jnp.clip(centre - half, 0.0, 1.0), jnp.clip(centre + half, 0.0, 1.0)


def clopper_pearson_interval(count, n, confidence: float = 0.95):
    """Exact Clopper-Pearson interval (host NumPy/scipy; not traceable).

    ``lo = 0`` if ``k = 0`` else ``Beta^{-1}(a/2; k, n - k + 1)``;
    ``hi = 1`` if ``k = n`` else ``Beta^{-1}(1 - a/2; k + 1, n - k)``.
    """
    from scipy.stats import beta  # post-processing only

    _check_conf(confidence)
    k = np.asarray(count, dtype=np.float64)
    n = float(n)
    a = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, beta.ppf(a / 2.0, np.maximum(k, 1.0), n - k + 1.0), 0.0)
        hi = np.where(k < n, beta.ppf(1.0 - a / 2.0, k + 1.0, np.maximum(n - k, 1.0)), 1.0)
    return lo, hi


def binomial_estimate(count, n: int, confidence: float = 0.95, method: str = "wilson"
                      ) -> Estimate:
    """:class:`Estimate` of ``p`` from ``count`` successes in ``n`` draws.

    ``method='wilson'`` stays in JAX (jit-able); ``method='clopper-pearson'`` returns NumPy
    arrays and must be called outside ``jit``.
    """
    if n <= 0:
        raise ValueError("n must be positive")
    if method == "wilson":
        lo, hi = wilson_interval(count, n, confidence)
        p_hat = jnp.asarray(count).astype(lo.dtype) / n
    elif method in ("clopper-pearson", "cp", "exact"):
        lo, hi = clopper_pearson_interval(count, n, confidence)
        p_hat = np.asarray(count, dtype=np.float64) / n
        method = "clopper-pearson"
    else:
        raise ValueError(f"unknown interval method {method!r}")
    return Estimate(p_hat=p_hat, lo=lo, hi=hi, n=int(n), confidence=float(confidence),
                    count=count, method=method)


def mean_estimate(mean, var, n: int, confidence: float = 0.95) -> Estimate:
    """Normal-approximation (CLT) interval for a mean: ``mean -/+ z sqrt(var / n)``.

    ``var`` is the unbiased sample variance of the draws. Valid for large ``n`` and
    finite-variance values (rates are bounded, so this holds for all jisac uses).
    """
    _check_conf(confidence)
    mean = jnp.asarray(mean)
    z = ndtri(jnp.asarray(0.5 + confidence / 2.0, mean.dtype))
    half = z * jnp.sqrt(jnp.maximum(jnp.asarray(var, mean.dtype), 0.0) / n)
    return Estimate(p_hat=mean, lo=mean - half, hi=mean + half, n=int(n),
                    confidence=float(confidence), count=None, method="clt")
