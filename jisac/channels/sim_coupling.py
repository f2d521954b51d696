"""Inter-layer SIM coupling (paper 004 eqs. (9)-(10)).

LoS part, eq. (9): Rayleigh-Sommerfeld diffraction between parallel layers (the standard SIM
model of An et al., IEEE JSAC 2023, eq. (1)), for element ``n`` of layer ``l`` receiving from
element ``n'`` of layer ``l-1`` at distance ``r``:

    W_{n,n'} = (A_t cos(chi) / r) (1 / (2 pi r) + j / lambda) exp(-j 2 pi r / lambda),

``cos(chi) = |z_n - z_n'| / r = layer_spacing / r`` and ``A_t`` the element area
(default ``(lambda/2)^2``, the area of a ``lambda/2``-pitch cell). This is the form for the
``exp(+j omega t)`` time convention used by every other jisac channel (004 eq. (6) and the
steering vectors carry ``exp(-j 2 pi r / lambda)``). An et al. print the ``exp(-j omega t)`` form
``(1/(2 pi r) - j/lambda) exp(+j 2 pi r/lambda)``, which is its complex conjugate; mixing the two in
one cascade would let waves accumulate phase with opposite signs in different hops
(``docs/derivations/sim_channels.md``). ``time_convention="exp(-jwt)"`` returns the printed form.

Evaluation model, eq. (10): ``H = sqrt(kappa) H_LoS + sqrt(1 - kappa) H_NLoS``. ``H_NLoS`` has
independent ``CN(0, |[H_LoS]_{n,n'}|^2)`` entries, so the NLoS power matches the LoS power entry
by entry and ``E|H_{n,n'}|^2 = |[H_LoS]_{n,n'}|^2`` for every ``kappa``. Note that 004's
``kappa in [0, 1]`` is a mixing weight; the conventional Rician K-factor is
``K = kappa / (1 - kappa)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from jisac.geometry import pairwise_distances


def rayleigh_sommerfeld(
    rx: Float[Array, "N 3"],
    tx: Float[Array, "Np 3"],
    wavelength,
    element_area=None,
    time_convention: str = "exp(+jwt)",
) -> Complex[Array, "N Np"]:
    """Rayleigh-Sommerfeld coupling matrix from ``tx`` elements to ``rx`` elements (eq. (9)).

    ``element_area`` defaults to ``(wavelength / 2)^2``. ``cos(chi)`` uses the z separation, so
    ``rx`` and ``tx`` must lie in distinct planes normal to z (adjacent SIM layers).
    """
    if time_convention not in ("exp(+jwt)", "exp(-jwt)"):
        raise ValueError(f"time_convention must be 'exp(+jwt)' or 'exp(-jwt)', got {time_convention!r}")
    area = (wavelength / 2) ** 2 if element_area is None else element_area
    r = pairwise_distances(rx, tx)
    cos_chi = jnp.abs(rx[:, 2][:, None] - tx[:, 2][None, :]) / r
    sign = -1.0 if time_convention == "exp(+jwt)" else 1.0
    return (area * cos_chi / r) * (1 / (2 * jnp.pi * r) - sign * 1j / wavelength) * jnp.exp(
        sign * 2j * jnp.pi * r / wavelength
    )


def inter_layer_los(
    layers: Float[Array, "L N 3"],
    wavelength,
    element_area=None,
    time_convention: str = "exp(+jwt)",
) -> Complex[Array, "Lm1 N N"]:
    """Stack of LoS couplings ``H^(l)``, l = 2..L (eq. (9)); entry ``l-2`` maps layer l-1 -> l."""
    return jax.vmap(lambda rx, tx: rayleigh_sommerfeld(rx, tx, wavelength, element_area, time_convention))(
        layers[1:], layers[:-1]
    )


def rician_coupling(key, h_los: Complex[Array, "..."], kappa) -> Complex[Array, "..."]:
    """One draw of the Rician evaluation model, 004 eq. (10).

    ``H = sqrt(kappa) H_LoS + sqrt(1 - kappa) H_NLoS``, ``[H_NLoS]_i ~ CN(0, |[H_LoS]_i|^2)``
    independent (module docstring). ``h_los`` of any shape, e.g. ``(L-1, N, N)``; ``kappa`` a
    scalar or one value per leading index (shape ``(L-1,)`` for a layer stack), in ``[0, 1]``.
    """
    kappa = jnp.asarray(kappa, dtype=h_los.real.dtype)
    kappa = kappa.reshape(kappa.shape + (1,) * (h_los.ndim - kappa.ndim))
    kr, ki = jax.random.split(key)
    std = jnp.abs(h_los) / jnp.sqrt(2.0).astype(h_los.real.dtype)
    nlos = std * (
        jax.random.normal(kr, h_los.shape, h_los.real.dtype)
        + 1j * jax.random.normal(ki, h_los.shape, h_los.real.dtype)
    )
    return jnp.sqrt(kappa) * h_los + jnp.sqrt(1.0 - kappa) * nlos
