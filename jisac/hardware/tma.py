"""Time-modulated-array (TMA) mapping and per-element power of the TRIS transceiver
(paper 000, Sec. II-A, eqs. (1)-(3)).

Switching model (derivation in ``docs/derivations/tma.md``): a 1-bit TRIS element transmits the
carrier with phase 0 ("0 state", amplitude +1) during ``[t_on, t_on + tau)`` of each code period
``T_p`` and with phase pi (amplitude -1) otherwise. The periodic waveform ``U(t)`` has Fourier
coefficients (``m != 0``)

    ``c_m = (2 / (pi m)) sin(pi m tau / T_p) exp(-j pi m (2 t_on + tau) / T_p)``,

so the first harmonic carries ``x = A_max sin(pi tau/T_p) exp(-j pi (2 t_on + tau)/T_p)`` up to
the constant ``2/pi``: amplitude eq. (2) ``A/A_max = sin(pi tau/T_p)`` and phase eq. (3)
``-pi (2 t_on + tau)/T_p = phi + 2 k pi``. With ``A_max = sqrt(P_t)``, ``|x_n|^2 <= P_t`` is
eq. (1). Of the (constant, unit) power of ``U``, the +-1st harmonic pair carries
``8/pi^2 sin^2(pi tau/T_p)``; at full amplitude ``8/pi^2 = -0.912 dB``, the "0.91 dB loss"
quoted by 000 (from its ref. [36]).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

#: Fraction of the switching waveform's power in the +-1st harmonics at 50 % duty: 8/pi^2.
FIRST_HARMONIC_PAIR_EFFICIENCY = 8.0 / np.pi**2
#: The same as a loss in dB: 10 log10(pi^2/8) = 0.9121 dB (000 Sec. II-A, "0.91 dB").
FIRST_HARMONIC_PAIR_LOSS_DB = float(10.0 * np.log10(np.pi**2 / 8.0))
#: Fraction in the +1st harmonic alone: 4/pi^2 (-3.92 dB).
FIRST_HARMONIC_EFFICIENCY = 4.0 / np.pi**2


def tma_encode(x: Complex[Array, " N"], a_max, t_p):
    """Map complex element signals ``x_n = A_n e^{j phi_n}`` to switching times, 000 eqs. (2)-(3).

    ``tau_n = (T_p/pi) arcsin(A_n / A_max)`` in ``[0, T_p/2]`` (the branch of eq. (2)), and
    ``t_on,n = (-(T_p/(2 pi)) phi_n - tau_n/2) mod T_p`` in ``[0, T_p)`` (eq. (3) with the ``k``
    that lands in one period). Amplitudes above ``A_max`` saturate at ``tau = T_p/2`` (repair
    ``W`` first with :func:`scale_to_element_power`). Returns ``(tau, t_on)``, each ``(N,)``.
    Gradient-safe at ``x = 0`` and at ``|x| = A_max``.
    """
    x = jnp.asarray(x)
    re, im = jnp.real(x), jnp.imag(x)
    p = re * re + im * im
    nz = p > 0
    amp = jnp.sqrt(jnp.where(nz, p, 1.0)) * nz
    ratio = jnp.clip(amp / a_max, 0.0, 1.0)
    # arcsin'(1) is infinite: clamp just below 1 for the derivative only
    tiny = jnp.finfo(ratio.dtype).eps
    safe_ratio = jnp.where(ratio < 1.0 - tiny, ratio, 1.0 - tiny)
    tau = (t_p / jnp.pi) * jnp.where(ratio < 1.0 - tiny, jnp.arcsin(safe_ratio), jnp.pi / 2)
    phase = jnp.arctan2(jnp.where(nz, im, 0.0), jnp.where(nz, re, 1.0))
    t_on = jnp.mod(-(t_p / (2.0 * jnp.pi)) * phase - 0.5 * tau, t_p)
    return tau, t_on


def tma_decode(tau: Float[Array, " N"], t_on: Float[Array, " N"], a_max, t_p
               ) -> Complex[Array, " N"]:
    """First-harmonic complex amplitude ``x = A_max sin(pi tau/T_p) exp(-j pi (2 t_on + tau)/T_p)``
    (000 eqs. (2)-(3); equals ``(pi/2) A_max c_1`` of the switching waveform). ``|x| <= A_max``."""
    return a_max * jnp.sin(jnp.pi * tau / t_p) * jnp.exp(-1j * jnp.pi * (2.0 * t_on + tau) / t_p)


def switching_waveform(tau, t_on, t_p, t) -> Float[Array, "..."]:
    """The +-1 element waveform ``U(t)``: +1 on ``[t_on, t_on + tau)`` (mod ``T_p``), else -1."""
    rel = jnp.mod(jnp.asarray(t) - t_on, t_p)
    return jnp.where(rel < tau, 1.0, -1.0)


def first_harmonic_radiated_power(element_power) -> Float[Array, "..."]:
    """Power radiated in the +-1st harmonics for a loaded element power ``|x_n|^2``:
    ``(8/pi^2) |x_n|^2``, i.e. ``|x_n|^2`` minus 0.912 dB (carrier power normalised to
    ``A_max^2``)."""
    return FIRST_HARMONIC_PAIR_EFFICIENCY * jnp.asarray(element_power)


def per_element_power(W: Complex[Array, "... N K1"]) -> Float[Array, "... N"]:
    """``[W W^H]_{nn} = sum_i |W_{n,i}|^2`` (000 eq. (1)); ``W: (N, K+1)`` or ``(L, N, K+1)``."""
    W = jnp.asarray(W)
    return jnp.sum(jnp.real(W) ** 2 + jnp.imag(W) ** 2, axis=-1)


def per_element_power_sdr(Wmats: Complex[Array, "K1 N N"]) -> Float[Array, " N"]:
    """``sum_i [W_i]_{nn}`` (000 eq. (34d)); ``Wmats: (K+1, N, N)`` PSD covariance matrices."""
    return jnp.real(jnp.sum(jnp.diagonal(jnp.asarray(Wmats), axis1=-2, axis2=-1), axis=0))


def scale_to_element_power(W: Complex[Array, "... N K1"], p_t) -> Complex[Array, "... N K1"]:
    """Feasibility repair for eq. (1): scale row ``n`` by ``min(1, sqrt(P_t / [W W^H]_nn))``.

    Rows already within ``P_t`` are untouched; violating rows land exactly on ``P_t``.
    Direction of each row (hence the beam shape per element) is kept. NaN-safe for zero rows.
    """
    p = per_element_power(W)
    over = p > p_t
    factor = jnp.where(over, jnp.sqrt(p_t / jnp.where(over, p, 1.0)), 1.0)
    return W * factor[..., None]
