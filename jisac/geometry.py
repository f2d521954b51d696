"""Coordinates, array element grids and steering vectors.

Conventions (used by every module):

* **Polar coordinates of paper 000 (Sec. V)**: a point is ``(d, azimuth phi, pitch theta)``.
  The TRIS / UPA lies in the x-y plane with its normal along +z; ``theta`` is measured from
  the normal and ``phi`` in the x-y plane from +x. This is the only reading under which the
  steering phases of 000 eq. (5) (``delta_r = d_f sin(theta) cos(phi) / lambda``,
  ``delta_c = d_f sin(theta) sin(phi) / lambda``) are the far-field phases of a planar array.
  Cartesian: ``x = d sin(theta) cos(phi)``, ``y = d sin(theta) sin(phi)``, ``z = d cos(theta)``.
* **Element order** of an ``Nr x Nc`` UPA: index ``n = Nc * n_r + n_c`` (000 eq. (37)), i.e.
  row-major, matching ``kron(a_row, a_col)`` in 000 eq. (5).
* Channels are column vectors ``h`` of shape ``(N,)``; a receiver sees ``h^H x``.

Every function handles one realisation; batch with ``jax.vmap``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Complex, Float


def polar_to_cartesian(d, azimuth, pitch) -> Float[Array, "... 3"]:
    """(distance, azimuth phi, pitch theta) -> (x, y, z); angles in radians (see module doc)."""
    d, azimuth, pitch = jnp.asarray(d), jnp.asarray(azimuth), jnp.asarray(pitch)
    return jnp.stack(
        [
            d * jnp.sin(pitch) * jnp.cos(azimuth),
            d * jnp.sin(pitch) * jnp.sin(azimuth),
            d * jnp.cos(pitch),
        ],
        axis=-1,
    )


def cartesian_to_polar(p: Float[Array, "... 3"]):
    """(x, y, z) -> (distance, azimuth, pitch); inverse of :func:`polar_to_cartesian`."""
    p = jnp.asarray(p)
    d = jnp.linalg.norm(p, axis=-1)
    pitch = jnp.arccos(jnp.clip(p[..., 2] / d, -1.0, 1.0))
    azimuth = jnp.arctan2(p[..., 1], p[..., 0])
    return d, azimuth, pitch


def upa_element_positions(n_rows: int, n_cols: int, spacing: float, z: float = 0.0
                          ) -> Float[Array, "n_rows*n_cols 3"]:
    """Element positions of an ``n_rows x n_cols`` UPA in the plane ``z``, spacing in metres.

    Element ``(n_r, n_c)`` sits at ``(n_r d, n_c d, z)`` relative to the array corner, so the
    far-field phases match 000 eq. (5) exactly (no centring offset). Row-major order.
    """
    nr = jnp.arange(n_rows, dtype=jnp.float64 if _x64() else jnp.float32)
    nc = jnp.arange(n_cols, dtype=nr.dtype)
    gr, gc = jnp.meshgrid(nr, nc, indexing="ij")
    return jnp.stack(
        [gr.reshape(-1) * spacing, gc.reshape(-1) * spacing, jnp.full(n_rows * n_cols, z, nr.dtype)],
        axis=-1,
    )


def centered_upa_positions(n_rows: int, n_cols: int, spacing: float, z: float = 0.0
                           ) -> Float[Array, "n_rows*n_cols 3"]:
    """As :func:`upa_element_positions` but centred on the z axis (for near-field geometry)."""
    p = upa_element_positions(n_rows, n_cols, spacing, z)
    offset = jnp.array([(n_rows - 1) * spacing / 2, (n_cols - 1) * spacing / 2, 0.0], p.dtype)
    return p - offset[None, :]


def upa_steering(pitch, azimuth, n_rows: int, n_cols: int, spacing_over_lambda: float
                 ) -> Complex[Array, " n_rows*n_cols"]:
    """Far-field UPA steering vector, 000 eqs. (5) and (11).

    ``a = [exp(-j 2 pi delta_r n_r)]^T kron [exp(-j 2 pi delta_c n_c)]^T`` with
    ``delta_r = (d_f/lambda) sin(theta) cos(phi)``, ``delta_c = (d_f/lambda) sin(theta) sin(phi)``.
    Unit-modulus entries, ``||a||^2 = N``.
    """
    pitch, azimuth = jnp.asarray(pitch), jnp.asarray(azimuth)
    dr = spacing_over_lambda * jnp.sin(pitch) * jnp.cos(azimuth)
    dc = spacing_over_lambda * jnp.sin(pitch) * jnp.sin(azimuth)
    nr = jnp.arange(n_rows, dtype=dr.dtype)
    nc = jnp.arange(n_cols, dtype=dr.dtype)
    a_r = jnp.exp(-2j * jnp.pi * dr * nr)
    a_c = jnp.exp(-2j * jnp.pi * dc * nc)
    return jnp.kron(a_r, a_c)


def upa_phases(pitch, azimuth, n_rows: int, n_cols: int, spacing_over_lambda: float
               ) -> Float[Array, " n_rows*n_cols"]:
    """Phase ``psi_n = 2 pi (delta_r n_r + delta_c n_c)`` of each UPA element, 000 eq. (37)."""
    dr = spacing_over_lambda * jnp.sin(pitch) * jnp.cos(azimuth)
    dc = spacing_over_lambda * jnp.sin(pitch) * jnp.sin(azimuth)
    nr = jnp.arange(n_rows, dtype=jnp.asarray(dr).dtype)
    nc = jnp.arange(n_cols, dtype=jnp.asarray(dr).dtype)
    return (2 * jnp.pi * (dr * nr[:, None] + dc * nc[None, :])).reshape(-1)


def ula_steering(angle, n: int, spacing_over_lambda: float) -> Complex[Array, " n"]:
    """Far-field ULA steering ``[exp(-j 2 pi (d/lambda) n sin(angle))]_n``."""
    k = jnp.arange(n, dtype=jnp.asarray(angle, dtype=float).dtype)
    return jnp.exp(-2j * jnp.pi * spacing_over_lambda * k * jnp.sin(angle))


def pairwise_distances(a: Float[Array, "n 3"], b: Float[Array, "m 3"]) -> Float[Array, "n m"]:
    """Euclidean distances ``r_{n,m} = ||a_n - b_m||`` (NaN-safe gradient: points never coincide)."""
    diff = a[:, None, :] - b[None, :, :]
    return jnp.sqrt(jnp.sum(diff * diff, axis=-1))


def near_field_steering(positions: Float[Array, "n 3"], point: Float[Array, " 3"], wavelength
                        ) -> Complex[Array, " n"]:
    """Spherical-wave steering, 004 eq. (5): ``[a(r)]_n = exp(-j 2 pi ||r - p_n|| / lambda)``."""
    r = jnp.sqrt(jnp.sum((positions - point[None, :]) ** 2, axis=-1))
    return jnp.exp(-2j * jnp.pi * r / wavelength)


def spherical_propagation(rx: Float[Array, "n 3"], tx: Float[Array, "m 3"], wavelength
                          ) -> Complex[Array, "n m"]:
    """Free-space spherical-wave propagation matrix, 004 eq. (6):
    ``[Gamma]_{n,m} = lambda / (4 pi r_{n,m}) exp(-j 2 pi r_{n,m} / lambda)``."""
    r = pairwise_distances(rx, tx)
    return wavelength / (4 * jnp.pi * r) * jnp.exp(-2j * jnp.pi * r / wavelength)


def _x64() -> bool:
    import jax

    return bool(jax.config.read("jax_enable_x64"))
