"""Stacked intelligent metasurface (SIM) cascade and phase quantisation (paper 004 eqs. (2), (4), (31)).

Shapes: ``theta: (L, N)`` phases of the L layers (equal ``N = N_l`` per layer),
``h1: (N, M)`` BS->layer-1 channel, ``h_inter: (L-1, N, N)`` couplings with ``h_inter[l-2] = H^(l)``
(layer l-1 -> l). One realisation; batch with ``jax.vmap``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Int


def phases_to_unit_modulus(theta: Float[Array, "..."]) -> Complex[Array, "..."]:
    """``exp(j theta)``: the diagonal of ``Phi_l`` (004 eq. (4))."""
    return jnp.exp(1j * theta)


def unit_modulus_to_phases(v: Complex[Array, "..."]) -> Float[Array, "..."]:
    """``arg(v)`` in ``(-pi, pi]`` (inverse of :func:`phases_to_unit_modulus` modulo 2 pi)."""
    return jnp.angle(v)


def sim_cascade(
    theta: Float[Array, "L N"], h1: Complex[Array, "N M"], h_inter: Complex[Array, "Lm1 N N"]
) -> Complex[Array, "N M"]:
    """``G_SIM = Phi_L H^(L) ... Phi_2 H^(2) Phi_1 H^(1)`` (004 eq. (2)), a ``lax.scan`` over layers.

    ``Phi_l = diag(exp(j theta_l))``. With ``L = 1`` (``h_inter`` of shape ``(0, N, N)``) this is
    the single-layer RIS ``diag(exp(j theta_1)) H^(1)``.
    """
    g = phases_to_unit_modulus(theta[0])[:, None] * h1

    def layer(g, xs):
        th, h = xs
        return phases_to_unit_modulus(th)[:, None] * (h @ g), None

    g, _ = jax.lax.scan(layer, g, (theta[1:], h_inter))
    return g


def sim_effective_channels(
    h: Complex[Array, "J N"],
    theta: Float[Array, "L N"],
    h1: Complex[Array, "N M"],
    h_inter: Complex[Array, "Lm1 N N"],
) -> Complex[Array, "J M"]:
    """End-to-end channels ``h_eff,j = G_SIM^H h_j`` (004 eqs. (17)-(18)), receiver sees ``h_eff^H x``.

    Same result as ``(sim_cascade(theta, h1, h_inter).conj().T @ h.T).T`` but propagates the J row
    vectors ``h_j^H`` backwards through the layers (a reverse ``lax.scan``), costing
    ``O(L J N^2 + J N M)`` instead of ``O(L N^2 M)``; this is the form to differentiate when
    ``J << M``.
    """
    rows = jnp.conj(h) * phases_to_unit_modulus(theta[-1])[None, :]  # h^H Phi_L

    def layer(rows, xs):
        th, hl = xs  # rows . H^(l) . Phi_{l-1}
        return (rows @ hl) * phases_to_unit_modulus(th)[None, :], None

    rows, _ = jax.lax.scan(layer, rows, (theta[:-1], h_inter), reverse=True)
    return jnp.conj(rows @ h1)


def quantize_phases(theta: Float[Array, "..."], bits) -> Float[Array, "..."]:
    """Nearest point of ``Q_b = {2 pi q / 2^b, q = 0..2^b-1}`` on the circle (004 eqs. (4), (31)).

    Distance is measured on the circle (``theta`` and ``theta + 2 pi`` are the same phase), so
    ``theta = 2 pi - eps`` maps to 0, not to ``2 pi (1 - 2^-b)`` as a literal reading of (31) on
    ``[0, 2 pi)`` would give. Returns values in ``[0, 2 pi)``. ``bits``: int, or an integer array
    with one entry per layer (shape ``(L,)`` for ``theta: (L, N)``) or broadcastable to ``theta``.
    Piecewise constant: its gradient is zero almost everywhere.
    """
    theta = jnp.asarray(theta)
    bits = jnp.asarray(bits)
    if bits.ndim > 0 and bits.ndim < theta.ndim:
        bits = bits.reshape(bits.shape + (1,) * (theta.ndim - bits.ndim))
    levels = (2 ** bits).astype(theta.dtype)
    step = 2 * jnp.pi / levels
    q = jnp.mod(jnp.round(theta / step), levels)
    return q * step


def quantization_indices(theta: Float[Array, "..."], bits) -> Int[Array, "..."]:
    """Integer ``q`` with ``quantize_phases(theta, bits) = 2 pi q / 2^b``."""
    bits = jnp.asarray(bits)
    t = jnp.asarray(theta)
    if bits.ndim > 0 and bits.ndim < t.ndim:
        bits = bits.reshape(bits.shape + (1,) * (t.ndim - bits.ndim))
    levels = (2 ** bits).astype(t.dtype)
    return jnp.round(quantize_phases(t, bits) * levels / (2 * jnp.pi)).astype(jnp.int32) % (2 ** bits)
