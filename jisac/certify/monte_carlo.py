"""Generic chunked Monte-Carlo kernels: event probabilities and mean/variance of a statistic.

Model. ``event_fn(key) -> Bool[Array, "*S"]`` (or ``value_fn(key) -> Float[Array, "*S"]``)
describes ONE random draw as a pure function of a JAX key. Draw ``i`` (``0 <= i < n_draws``)
always uses the key ``fold_in(key, i)``. Hence

* the result does not depend on ``chunk`` (counts are bit-identical for every chunk size;
  means/variances agree up to floating-point summation order), and
* a certification can be extended or split across devices/processes by index ranges.

Inside a chunk the draws are ``jax.vmap``-ed (so ``event_fn`` should be written for one
realisation, per the library convention); chunks are visited with ``lax.scan`` so the memory
footprint is ``O(chunk * |S|)`` whatever ``n_draws`` is. The last chunk is padded and masked.

PRNG choice. With the default threefry implementation ``vmap(fold_in)`` then ``vmap(bits)``
produces exactly the same numbers as a Python loop over draws; measured on CPU, per-draw keys cost
no more than one big ``random.normal`` call of the same total size (benchmarks/README.md), so
chunk-independence is free. The counter-based ``'rbg'``/``'unsafe_rbg'`` implementations can be
passed as typed keys (``jax.random.key(seed, impl='rbg')``) and are ~4x cheaper per word on
CPU, but their ``vmap``-ed bits depend on the batch (measured: counts change with ``chunk``), so
results are reproducible only for a fixed ``chunk``. Use threefry keys to certify.

Counts are int32: ``n_draws < 2**31``.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from .stats import Estimate, binomial_estimate, mean_estimate

_INT32_MAX = 2**31 - 1


def _check_sizes(n_draws: int, chunk: int) -> None:
    if n_draws <= 0 or chunk <= 0:
        raise ValueError("n_draws and chunk must be positive")
    if n_draws > _INT32_MAX:
        raise ValueError("n_draws must be < 2**31 (int32 counts, fold_in index)")


def draw_keys(key, start, size: int):
    """Keys of draws ``start, ..., start + size - 1``: ``fold_in(key, i)`` (chunk-independent)."""
    idx = start + jnp.arange(size, dtype=jnp.uint32)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, idx)


def _chunk_grid(n_draws: int, chunk: int):
    chunk = min(chunk, n_draws)
    n_chunks = -(-n_draws // chunk)
    return chunk, n_chunks


def _valid_mask(start, chunk: int, n_draws: int, ndim: int):
    valid = (start + jnp.arange(chunk, dtype=jnp.uint32)) < n_draws
    return valid.reshape((chunk,) + (1,) * ndim)


def _is_threefry(key) -> bool:
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        return str(jax.random.key_impl(key)) == "threefry2x32"
    return key.dtype == jnp.uint32 and key.shape == (2,)  # raw legacy PRNGKey (threefry)


def draw_bits(key, start, size: int, n_words: int):
    """``(size, n_words)`` uint32 random words of draws ``start .. start + size - 1``.

    Threefry keys (typed or raw): counter mode, word ``j`` of draw ``i`` is half of
    ``threefry2x32(key, (i, j // 2))`` - one hash per two words, no per-draw key derivation,
    and a function of ``(key, i, j)`` only (chunk-independent). Other implementations: the
    words of ``jax.random.bits(fold_in(key, i), (n_words,))`` (chunk-dependent for 'rbg').
    """
    if not _is_threefry(key):
        return jax.vmap(lambda k: jax.random.bits(k, (n_words,), jnp.uint32))(
            draw_keys(key, start, size))
    kd = jax.random.key_data(key) if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) \
        else key
    half = -(-n_words // 2)
    i = jnp.broadcast_to((start + jnp.arange(size, dtype=jnp.uint32))[:, None], (size, half))
    j = jnp.broadcast_to(jnp.arange(half, dtype=jnp.uint32)[None, :], (size, half))
    from jax.extend.random import threefry2x32_p

    o1, o2 = threefry2x32_p.bind(kd[0], kd[1], i, j)
    return jnp.concatenate([o1, o2], axis=1)[:, :n_words]


def scan_counts(batch_event_fn: Callable, n_draws: int, chunk: int, shape: tuple[int, ...]
                ) -> Int[Array, "*S"]:
    """Core chunk loop: ``batch_event_fn(start, chunk) -> Bool[chunk, *shape]`` gives the events
    of draws ``start .. start + chunk - 1`` (each a function of its global index only); draws
    ``>= n_draws`` of the last chunk are masked. ``lax.scan`` over chunks, int32 totals."""
    _check_sizes(n_draws, chunk)
    chunk, n_chunks = _chunk_grid(n_draws, chunk)

    def body(total, c):
        start = (c * chunk).astype(jnp.uint32)
        ev = jnp.logical_and(batch_event_fn(start, chunk),
                             _valid_mask(start, chunk, n_draws, len(shape)))
        return total + jnp.sum(ev, axis=0, dtype=jnp.int32), None

    total, _ = jax.lax.scan(body, jnp.zeros(shape, jnp.int32),
                            jnp.arange(n_chunks, dtype=jnp.uint32))
    return total


@partial(jax.jit, static_argnames=("event_fn", "n_draws", "chunk"))
def mc_count(event_fn: Callable, key, n_draws: int, chunk: int = 8192) -> Int[Array, "*S"]:
    """Number of draws (out of ``n_draws``) in which each entry of ``event_fn(key)`` is True.

    Draw ``i`` uses ``fold_in(key, i)``. Pure JAX, jitted (``event_fn``, ``n_draws``,
    ``chunk`` static). Memory ``O(chunk)``.
    """
    shape = jax.eval_shape(event_fn, key).shape
    return scan_counts(lambda start, size: jax.vmap(event_fn)(draw_keys(key, start, size)),
                       n_draws, chunk, shape)


def mc_probability(event_fn: Callable, key, n_draws: int, chunk: int = 8192, dtype=None,
                   confidence: float = 0.95, method: str = "wilson") -> Estimate:
    """Monte-Carlo estimate of ``Pr{event}`` for every entry of ``event_fn(key)``.

    Returns an :class:`~jisac.certify.stats.Estimate` with fields of the event shape
    (``count`` = :func:`mc_count`). ``method``: ``'wilson'`` or ``'clopper-pearson'`` (use the
    latter to certify). ``dtype`` is the float dtype of ``p_hat/lo/hi`` (default: the default
    float dtype); it does not affect the counts.
    """
    counts = mc_count(event_fn, key, n_draws, chunk)
    est = binomial_estimate(counts, n_draws, confidence, method)
    if dtype is not None:
        est = est._replace(p_hat=jnp.asarray(est.p_hat, dtype), lo=jnp.asarray(est.lo, dtype),
                           hi=jnp.asarray(est.hi, dtype))
    return est


@partial(jax.jit, static_argnames=("value_fn", "n_draws", "chunk"))
def mc_samples(value_fn: Callable, key, n_draws: int, chunk: int = 8192):
    """All ``n_draws`` draws of ``value_fn`` (any pytree of arrays), stacked on a leading axis.

    Draw ``i`` uses ``fold_in(key, i)`` exactly as :func:`mc_count` / :func:`mc_probability`, so
    an event computed from these samples counts the same draws as ``mc_count`` of that event.
    For statistics that need the whole sample (quantiles); memory ``O(n_draws * |value|)``.
    """
    _check_sizes(n_draws, chunk)
    chunk, n_chunks = _chunk_grid(n_draws, chunk)

    def one_chunk(c):
        start = (c * chunk).astype(jnp.uint32)
        return jax.vmap(value_fn)(draw_keys(key, start, chunk))

    out = jax.lax.map(one_chunk, jnp.arange(n_chunks, dtype=jnp.uint32))
    return jax.tree_util.tree_map(
        lambda x: x.reshape((n_chunks * chunk,) + x.shape[2:])[:n_draws], out)


class MeanVar(NamedTuple):
    """Sample mean and unbiased variance over ``n`` draws, with a CLT interval on the mean."""

    mean: Float[Array, "*S"]
    var: Float[Array, "*S"]
    n: int
    ci: Estimate


def _merge(a, b):
    # Chan et al. pairwise update of (count, mean, M2); stable for any chunk count.
    na, ma, m2a = a
    nb, mb, m2b = b
    n = na + nb
    delta = mb - ma
    frac = nb / jnp.maximum(n, 1.0)
    return n, ma + delta * frac, m2a + m2b + delta * delta * na * frac


@partial(jax.jit, static_argnames=("value_fn", "n_draws", "chunk", "dtype"))
def mc_moments(value_fn: Callable, key, n_draws: int, chunk: int = 8192, dtype=jnp.float32):
    """``(mean, M2)`` of ``value_fn`` over ``n_draws`` draws (``M2 = sum (x - mean)^2``).

    Per chunk: two-pass mean and M2 of the (masked) chunk; across chunks: Chan's pairwise merge
    (Welford generalised to blocks), so no catastrophic cancellation of ``E[x^2] - E[x]^2``.
    Accumulates in ``dtype``.
    """
    _check_sizes(n_draws, chunk)
    chunk, n_chunks = _chunk_grid(n_draws, chunk)
    shape = jax.eval_shape(value_fn, key).shape

    def body(acc, c):
        start = (c * chunk).astype(jnp.uint32)
        x = jax.vmap(value_fn)(draw_keys(key, start, chunk)).astype(dtype)
        w = _valid_mask(start, chunk, n_draws, len(shape)).astype(dtype)
        nb = jnp.sum(w[:, ...].reshape(chunk), dtype=dtype)
        mb = jnp.sum(w * x, axis=0) / nb
        d = (x - mb[None, ...]) * w
        m2b = jnp.sum(d * d, axis=0)
        return _merge(acc, (nb, mb, m2b)), None

    zeros = jnp.zeros(shape, dtype)
    (n, mean, m2), _ = jax.lax.scan(body, (jnp.zeros((), dtype), zeros, zeros),
                                    jnp.arange(n_chunks, dtype=jnp.uint32))
    return mean, m2


def mc_mean_var(value_fn: Callable, key, n_draws: int, chunk: int = 8192, dtype=jnp.float32,
                confidence: float = 0.95) -> MeanVar:
    """Monte-Carlo mean and (unbiased) variance of ``value_fn(key)`` (any fixed shape).

    Used for moment-based robust constraints such as 004 eqs. (25)-(27)
    (``E[R] - delta sqrt(Var[R])``). ``ci`` is the CLT interval on the mean.
    """
    if n_draws < 2:
        raise ValueError("mc_mean_var needs n_draws >= 2")
    mean, m2 = mc_moments(value_fn, key, n_draws, chunk, dtype)
    var = m2 / (n_draws - 1)
    return MeanVar(mean=mean, var=var, n=n_draws, ci=mean_estimate(mean, var, n_draws, confidence))
