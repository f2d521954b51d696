"""Geometry and propagation links of a SIM deployment (paper 004, Sec. II-C, eqs. (5), (6), (8)).

Deployment (all lengths in metres, SI):

* The **BS** is an ``bs_rows x bs_cols`` UPA (a ULA is ``bs_rows = 1``) of ``M`` antennas in the
  plane ``z = 0``, centred on the z axis, spacing ``bs_spacing`` (default ``lambda/2``).
* The **SIM** has ``L`` parallel layers, each an ``n_rows x n_cols`` UPA of ``N = N_l`` elements,
  centred on the z axis. Layer 1 lies at ``z = bs_distance``, layer ``l`` at
  ``z = bs_distance + (l - 1) * layer_spacing``. Defaults follow the SIM literature
  (An et al., "Stacked intelligent metasurfaces for efficient holographic MIMO communications in
  6G", IEEE JSAC 2023): element spacing ``lambda/2``, layer spacing ``5 lambda`` (giving a SIM
  thickness of ``(L-1) 5 lambda``), and the BS placed ``bs_distance = 5 lambda`` (one layer
  spacing, our choice) in front of the first layer. Paper 004 gives no number; any distance
  below the Rayleigh distance ``2 D^2 / lambda`` of the joint aperture makes the link
  near-field, which is what 004 assumes.
* Users / eavesdroppers are in the far field of the last layer, in direction (pitch ``theta``
  from the SIM normal +z, azimuth ``phi`` from +x), the convention of :mod:`jisac.geometry`.

The BS->SIM channel is the free-space spherical-wave Green's function (derivation and the
erratum on the printed eq. (5) in ``docs/derivations/sim_channels.md``):
``[H1]_{n,m} = lambda / (4 pi r_{n,m}) exp(-j 2 pi r_{n,m} / lambda)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from jisac.geometry import spherical_propagation, upa_element_positions, upa_steering


def _centered_upa(n_rows: int, n_cols: int, spacing: float, z: float) -> Float[Array, "n 3"]:
    # Same as jisac.geometry.centered_upa_positions, but with the offset broadcast explicitly: that
    # helper subtracts a (3,) offset from (n, 3) positions and so raises under
    # jax_numpy_rank_promotion="raise" (reported to the lead).
    p = upa_element_positions(n_rows, n_cols, spacing, z)
    offset = jnp.array([(n_rows - 1) * spacing / 2, (n_cols - 1) * spacing / 2, 0.0], p.dtype)
    return p - offset[None, :]


class SimGeometry(NamedTuple):
    """Element positions of a SIM deployment.

    bs: ``(M, 3)`` BS antenna positions; layers: ``(L, N, 3)`` SIM element positions
    (layer index first, element order row-major ``n = n_cols * n_r + n_c``).
    """

    bs: Float[Array, "M 3"]
    layers: Float[Array, "L N 3"]


def sim_geometry(
    wavelength: float,
    n_layers: int = 3,
    n_rows: int = 8,
    n_cols: int = 8,
    bs_rows: int = 4,
    bs_cols: int = 8,
    element_spacing: float | None = None,
    layer_spacing: float | None = None,
    bs_spacing: float | None = None,
    bs_distance: float | None = None,
) -> SimGeometry:
    """Positions of the BS antennas and the SIM elements (see module docstring for the layout).

    Defaults (paper 004 Sec. V: M = 32, L = 3, N_l = 64): BS 4x8 UPA, SIM 8x8 per layer,
    ``element_spacing = bs_spacing = lambda/2``, ``layer_spacing = bs_distance = 5 lambda``.
    ``None`` selects the default in units of ``wavelength``.
    """
    element_spacing = wavelength / 2 if element_spacing is None else element_spacing
    layer_spacing = 5 * wavelength if layer_spacing is None else layer_spacing
    bs_spacing = wavelength / 2 if bs_spacing is None else bs_spacing
    bs_distance = 5 * wavelength if bs_distance is None else bs_distance
    bs = _centered_upa(bs_rows, bs_cols, bs_spacing, 0.0)
    layers = jnp.stack(
        [
            _centered_upa(n_rows, n_cols, element_spacing, bs_distance + l * layer_spacing)
            for l in range(n_layers)
        ]
    )
    return SimGeometry(bs=bs, layers=layers)


def bs_to_sim_channel(
    sim_positions: Float[Array, "N 3"], bs_positions: Float[Array, "M 3"], wavelength
) -> Complex[Array, "N M"]:
    """Near-field BS->first-layer channel ``H^(1)`` (004 eqs. (5)-(6), consistent form).

    ``[H^(1)]_{n,m} = lambda / (4 pi r_{n,m}) exp(-j 2 pi r_{n,m} / lambda)``,
    ``r_{n,m} = ||r_SIM,n - r_BS,m||``: i.e. ``H^(1) = Gamma_{BS->SIM}`` of eq. (6). The printed
    eq. (5) sandwiches Gamma between near-field steering matrices, which multiplies the same
    propagation phase in two more times; it does not reduce to the plane-wave channel in the far
    field (see ``docs/derivations/sim_channels.md``), so it is not used. Isotropic elements
    (unit element gain); an element pattern can be applied by the caller as an elementwise factor.
    """
    return spherical_propagation(sim_positions, bs_positions, wavelength)


def path_loss(distance, exponent: float = 2.5, d0: float = 1.0, reference_gain: float = 1.0):
    """Power path loss ``rho = (d / d0)^n / reference_gain`` (004 eq. (8), ``rho_k = (d_k/d0)^n``).

    ``reference_gain`` is the linear power gain at ``d0``; the paper's eq. (8) has none (=1).
    A calibrated free-space choice is ``(lambda / (4 pi d0))^2``.
    """
    return (jnp.asarray(distance) / d0) ** exponent / reference_gain


def sim_to_user_channel(
    distance,
    pitch,
    azimuth,
    n_rows: int,
    n_cols: int,
    spacing_over_lambda: float = 0.5,
    exponent: float = 2.5,
    d0: float = 1.0,
    reference_gain: float = 1.0,
) -> Complex[Array, " N"]:
    """Far-field last-layer->user (or eavesdropper) channel, 004 eq. (8).

    ``h = sqrt(1 / rho) a_SIM(theta, phi)`` with ``rho = (d / d0)^n / reference_gain`` and
    ``a_SIM`` the UPA steering vector of the last layer (:func:`jisac.geometry.upa_steering`,
    pitch from the SIM normal, azimuth from +x, element order row-major). The receiver sees
    ``h^H x``: entry n carries phase ``exp(+j 2 pi p_n . u / lambda)``, the far-field Green's
    function phase relative to the (dropped, common) ``exp(-j 2 pi d / lambda)``. The paper writes
    ``a_SIM(theta_k, r_k)``; in the far field the distance enters only through ``rho``.
    """
    a = upa_steering(pitch, azimuth, n_rows, n_cols, spacing_over_lambda)
    return a * jnp.sqrt(1.0 / path_loss(distance, exponent, d0, reference_gain)).astype(a.real.dtype)


def sim_to_users_channels(
    distances: Float[Array, " J"],
    pitches: Float[Array, " J"],
    azimuths: Float[Array, " J"],
    n_rows: int,
    n_cols: int,
    spacing_over_lambda: float = 0.5,
    exponent: float = 2.5,
    d0: float = 1.0,
    reference_gain: float = 1.0,
) -> Complex[Array, "J N"]:
    """Rows ``h_j`` of :func:`sim_to_user_channel` for J receivers (users or eavesdroppers)."""
    return jax.vmap(
        lambda d, p, a: sim_to_user_channel(
            d, p, a, n_rows, n_cols, spacing_over_lambda, exponent, d0, reference_gain
        )
    )(jnp.asarray(distances), jnp.asarray(pitches), jnp.asarray(azimuths))
