"""Channels of the TRIS-RSMA secure ISAC network (paper 000, Sec. II-B and IV-A).

One realisation per call; batch with ``jax.vmap`` over keys / parameters. Geometry follows
:mod:`jisac.geometry`: a user sits at polar ``(d, azimuth phi, pitch theta)``, the TRIS is an
``n_rows x n_cols`` UPA with element index ``n = n_cols * n_r + n_c`` and steering vector
``a(theta, phi)`` of 000 eqs. (5)/(11) (unit-modulus entries, ``||a||^2 = N``). Channels are
column vectors ``h`` of shape ``(N,)``; a receiver sees ``h^H x``.

Models implemented here

* LU link, eqs. (4)-(5): ``h = xi (sqrt(k/(k+1)) a + sqrt(1/(k+1)) h_nlos)``,
  ``xi = lambda / (4 pi d)``, ``h_nlos ~ CN(0, I_N)``.
* LU CSI error, eq. (6): ``h = h_hat + dh`` with either ``||dh|| <= eps`` (bounded) or
  ``dh ~ CN(0, sigma2 I)`` (Gaussian).
* IU wiretap link, eqs. (7)-(10): ``g = sqrt(xi(d)^2 / (1+k)) (sqrt(k) a(theta, phi) + g_nlos)``
  with ``d = d_hat + Dd``, ``theta = theta_hat + Dtheta``, ``phi = phi_hat + Dphi`` and
  ``|g_nlos_n| <= eps_n``. Rewritten as eq. (36)/(44): ``g = sqrt(xi(d)^2/(1+k)) (g_hat + Dg)``
  with ``g_hat = sqrt(k) a(theta_hat, phi_hat)``; ``Dg`` (angle + NLoS error) excludes the
  distance error, which stays in ``xi(d)``.
* Safe-approximation bound, eqs. (38)-(43): ``||Dg|| <= tau`` for **every** point of the
  uncertainty set (guaranteed, see :func:`iu_tau_bound` and ``docs/derivations/iu_uncertainty.md``).
* Gaussian IU error after eq. (43): ``Dg ~ CN(0, E_e)``, with ``E_e = sigma_e^2 I`` chosen from
  ``tau`` (:func:`iu_error_variance_quantile`, :func:`iu_error_variance_moment`).
* Radar sensing link, eqs. (11)-(13), (28), (32).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from jisac.geometry import upa_steering

# ---------------------------------------------------------------------------------------------
# helpers


def _real_dtype(*xs):
    """Floating dtype of the inputs (float32 unless x64 is on and an input is float64)."""
    # the weak 0.0 gives float32 / float64 by the x64 flag, unless an input is a strong float
    return jnp.result_type(*xs, 0.0)


def _complex_of(dtype):
    """Complex dtype of the same precision as ``dtype`` (real or complex)."""
    return jnp.result_type(dtype, jnp.complex64)


def _real_of(dtype):
    return jnp.finfo(_complex_of(dtype)).dtype


def _cn(key: PRNGKeyArray, shape, cdtype) -> Array:
    """Standard circularly-symmetric complex Gaussian CN(0, 1) entries (E|z|^2 = 1)."""
    rdt = _real_of(cdtype)
    kr, ki = jax.random.split(key)
    re = jax.random.normal(kr, shape, rdt)
    im = jax.random.normal(ki, shape, rdt)
    return ((re + 1j * im) / np.sqrt(2.0)).astype(cdtype)


def _element_indices(n_rows: int, n_cols: int, dtype):
    """(n_r, n_c) of each element in the order ``n = n_cols * n_r + n_c`` (000 eq. (37))."""
    nr = jnp.repeat(jnp.arange(n_rows, dtype=dtype), n_cols)
    nc = jnp.tile(jnp.arange(n_cols, dtype=dtype), n_rows)
    return nr, nc


def _direction_cosines(azimuth, pitch):
    """``(sin theta cos phi, sin theta sin phi)``: delta_r, delta_c of eq. (5) over d_f/lambda."""
    return jnp.sin(pitch) * jnp.cos(azimuth), jnp.sin(pitch) * jnp.sin(azimuth)


# ---------------------------------------------------------------------------------------------
# LU links, eqs. (4)-(6)


def path_loss_free_space(d, wavelength) -> Float[Array, ""]:
    """Free-space amplitude path loss ``xi = lambda / (4 pi d)`` (000 eq. (4)); power gain xi^2."""
    return wavelength / (4.0 * jnp.pi * jnp.asarray(d))


def lu_los_channel(d, azimuth, pitch, n_rows: int, n_cols: int, spacing_over_lambda: float,
                   wavelength, rician_k) -> Complex[Array, " N"]:
    """Deterministic LoS (mean) part of the LU channel, 000 eqs. (4)-(5).

    ``E[h] = xi sqrt(k/(k+1)) a(theta, phi)``; a natural channel estimate ``h_hat`` when only the
    geometry is known. ``d`` in m, angles in rad, ``rician_k`` linear.
    """
    a = upa_steering(pitch, azimuth, n_rows, n_cols, spacing_over_lambda)
    xi = path_loss_free_space(d, wavelength)
    return (xi * jnp.sqrt(rician_k / (rician_k + 1.0))) * a


def lu_channel(key: PRNGKeyArray, d, azimuth, pitch, n_rows: int, n_cols: int,
               spacing_over_lambda: float, wavelength, rician_k) -> Complex[Array, " N"]:
    """One Rician draw of the BS->LU channel, 000 eqs. (4)-(5).

    ``h = xi (sqrt(k/(k+1)) a(theta, phi) + sqrt(1/(k+1)) z)``, ``z ~ CN(0, I_N)``,
    ``xi = lambda/(4 pi d)``. Per element ``E|h_n|^2 = xi^2``; K-factor ``|E h_n|^2 / var h_n = k``.
    The NLoS precision follows the inputs' floating dtype.
    """
    los = lu_los_channel(d, azimuth, pitch, n_rows, n_cols, spacing_over_lambda, wavelength,
                         rician_k)
    z = _cn(key, (n_rows * n_cols,), los.dtype)
    xi = path_loss_free_space(d, wavelength)
    return los + (xi * jnp.sqrt(1.0 / (rician_k + 1.0))) * z


def sample_bounded_error(key: PRNGKeyArray, eps, n: int, dtype=jnp.complex64
                         ) -> Complex[Array, " n"]:
    """Uniform draw from the complex ball ``{dh in C^n : ||dh|| <= eps}`` (000 eq. (6), bounded).

    Uniform in volume of ``C^n = R^{2n}``: isotropic direction (normalised Gaussian) times radius
    ``eps U^{1/(2n)}``, ``U ~ U(0, 1)``, so ``(||dh||/eps)^{2n} ~ U(0, 1)`` and
    ``E|dh_i|^2 = eps^2/(n+1)``. ``dtype``: complex (or real, promoted) output dtype.
    """
    cdt = _complex_of(dtype)
    kd, kr = jax.random.split(key)
    z = _cn(kd, (n,), cdt)
    direction = z / jnp.linalg.norm(z)
    u = jax.random.uniform(kr, (), _real_of(cdt))
    radius = jnp.asarray(eps, _real_of(cdt)) * u ** (1.0 / (2 * n))
    return radius * direction


def sample_bounded_error_on_sphere(key: PRNGKeyArray, eps, n: int, dtype=jnp.complex64
                                   ) -> Complex[Array, " n"]:
    """Uniform draw on the sphere ``||dh|| = eps`` of ``C^n`` (worst-case boundary of eq. (6))."""
    cdt = _complex_of(dtype)
    z = _cn(key, (n,), cdt)
    return jnp.asarray(eps, _real_of(cdt)) * z / jnp.linalg.norm(z)


def sample_gaussian_error(key: PRNGKeyArray, sigma2, n: int, dtype=jnp.complex64
                          ) -> Complex[Array, " n"]:
    """``dh ~ CN(0, sigma2 I_n)`` (000 eq. (6), Gaussian model; ``E||dh||^2 = n sigma2``)."""
    cdt = _complex_of(dtype)
    return jnp.sqrt(jnp.asarray(sigma2, _real_of(cdt))) * _cn(key, (n,), cdt)


# ---------------------------------------------------------------------------------------------
# IU wiretap links, eqs. (7)-(10), (36)-(44)


class IUSample(NamedTuple):
    """One draw from the IU uncertainty set Xi_m of 000 eq. (10).

    g: ``(N,)`` true wiretap channel, eq. (7). delta_d, delta_azimuth, delta_pitch: drawn
    parameter errors (m, rad, rad). g_nlos: ``(N,)`` drawn NLoS vector (|g_nlos_n| <= eps_n).
    delta_g: ``(N,)`` normalised error of eq. (44), ``g = iu_scale(d) (g_hat + delta_g)``.
    """

    g: Complex[Array, " N"]
    delta_d: Float[Array, ""]
    delta_azimuth: Float[Array, ""]
    delta_pitch: Float[Array, ""]
    g_nlos: Complex[Array, " N"]
    delta_g: Complex[Array, " N"]


def iu_scale(d, wavelength, rician_k) -> Float[Array, ""]:
    """Large-scale factor ``sqrt(xi(d)^2 / (1+k))`` of 000 eqs. (7), (36), (44)."""
    return path_loss_free_space(d, wavelength) / jnp.sqrt(1.0 + rician_k)


def iu_channel(d, azimuth, pitch, g_nlos: Complex[Array, " N"], n_rows: int, n_cols: int,
               spacing_over_lambda: float, wavelength, rician_k) -> Complex[Array, " N"]:
    """True IU wiretap channel for given (true) parameters, 000 eq. (7).

    ``g = sqrt(lambda^2 / ((4 pi)^2 (1+k) d^2)) (sqrt(k) a(theta, phi) + g_nlos)`` where
    ``d = d_hat + Dd``, ``theta = theta_hat + Dtheta``, ``phi = phi_hat + Dphi`` (eqs. (8)-(9)).
    """
    a = upa_steering(pitch, azimuth, n_rows, n_cols, spacing_over_lambda)
    return iu_scale(d, wavelength, rician_k) * (jnp.sqrt(rician_k) * a + g_nlos)


def iu_channel_estimate(azimuth_hat, pitch_hat, n_rows: int, n_cols: int,
                        spacing_over_lambda: float, rician_k) -> Complex[Array, " N"]:
    """Normalised IU estimate of 000 eq. (44), ``psi_hat_n`` of eq. (37):
    ``g_hat = [sqrt(k) e^{-j psi_hat_n}]_n = sqrt(k) a(theta_hat, phi_hat)``."""
    return jnp.sqrt(rician_k) * upa_steering(pitch_hat, azimuth_hat, n_rows, n_cols,
                                             spacing_over_lambda)


def iu_delta_g(g: Complex[Array, " N"], d, g_hat: Complex[Array, " N"], wavelength, rician_k
               ) -> Complex[Array, " N"]:
    """Normalised error of 000 eq. (44): ``Dg = g / sqrt(xi(d)^2/(1+k)) - g_hat``.

    ``d`` is the *true* distance ``d_hat + Dd`` (the distance error lives in ``xi``, eq. (36)).
    """
    return g / iu_scale(d, wavelength, rician_k) - g_hat


def _disc_uniform(key, eps, n: int, rdt):
    """``n`` independent draws, entry ``i`` uniform in the complex disc ``|z| <= eps_i``."""
    kr, kp = jax.random.split(key)
    r = jnp.broadcast_to(jnp.asarray(eps, rdt), (n,)) * jnp.sqrt(jax.random.uniform(kr, (n,), rdt))
    ph = jax.random.uniform(kp, (n,), rdt, 0.0, 2.0 * jnp.pi)
    return r * jnp.exp(1j * ph)


def sample_iu_channel(key: PRNGKeyArray, d_hat, az_hat, pitch_hat, D, Theta, Phi, eps_mn,
                      n_rows: int, n_cols: int, spacing_over_lambda: float, wavelength,
                      rician_k) -> IUSample:
    """Uniform draw from the IU uncertainty set Xi_m, 000 eq. (10), and the channel of eq. (7).

    ``Dd ~ U[-D, D]``, ``Dtheta ~ U[-Theta, Theta]`` (pitch), ``Dphi ~ U[-Phi, Phi]`` (azimuth),
    and each ``g_nlos_n`` uniform in its complex disc ``|g_nlos_n| <= eps_mn[n]`` (``eps_mn``
    scalar or ``(N,)``). Returns :class:`IUSample` with the true ``g``, the drawn parameters and
    ``delta_g`` of eq. (44) (relative to :func:`iu_channel_estimate` at the estimated angles).
    """
    rdt = _real_dtype(d_hat, az_hat, pitch_hat, D, Theta, Phi, eps_mn)
    n = n_rows * n_cols
    kd, kt, kp, kg = jax.random.split(key, 4)
    dd = jax.random.uniform(kd, (), rdt, -1.0, 1.0) * D
    dth = jax.random.uniform(kt, (), rdt, -1.0, 1.0) * Theta
    dph = jax.random.uniform(kp, (), rdt, -1.0, 1.0) * Phi
    g_nlos = _disc_uniform(kg, eps_mn, n, rdt)
    d = d_hat + dd
    g = iu_channel(d, az_hat + dph, pitch_hat + dth, g_nlos, n_rows, n_cols,
                   spacing_over_lambda, wavelength, rician_k)
    g_hat = iu_channel_estimate(az_hat, pitch_hat, n_rows, n_cols, spacing_over_lambda, rician_k)
    # delta_g from its definition (not g / scale - g_hat) so it is exact to round-off
    a = upa_steering(pitch_hat + dth, az_hat + dph, n_rows, n_cols, spacing_over_lambda)
    delta_g = jnp.sqrt(rician_k) * a + g_nlos - g_hat
    return IUSample(g=g, delta_d=dd, delta_azimuth=dph, delta_pitch=dth, g_nlos=g_nlos,
                    delta_g=delta_g)


def iu_signed_phase_error(az_hat, pitch_hat, delta_az, delta_pitch, n_rows: int, n_cols: int,
                          spacing_over_lambda: float) -> Float[Array, " N"]:
    """Signed phase error ``psi_hat_n - psi_n``, i.e.
    ``2 pi ((delta_r_hat - delta_r) n_r + (delta_c_hat - delta_c) n_c)``, for the angle errors ``(delta_az, delta_pitch)`` (smooth; used by the bound)."""
    u_hat, v_hat = _direction_cosines(az_hat, pitch_hat)
    u, v = _direction_cosines(az_hat + delta_az, pitch_hat + delta_pitch)
    du = spacing_over_lambda * (u_hat - u)
    dv = spacing_over_lambda * (v_hat - v)
    nr, nc = _element_indices(n_rows, n_cols, jnp.asarray(du).dtype)
    return 2.0 * jnp.pi * (du * nr + dv * nc)


def iu_phase_error(az_hat, pitch_hat, delta_az, delta_pitch, n_rows: int, n_cols: int,
                   spacing_over_lambda: float) -> Float[Array, " N"]:
    """``Delta psi_{m,n} = 2 pi |delta_r_hat n_r + delta_c_hat n_c - delta_r n_r - delta_c n_c|``,
    000 eq. (38), with ``delta_r, delta_c`` of eqs. (8)-(9) at the true angles. Not wrapped
    (only ``cos Delta psi`` enters the bound, which is 2 pi-periodic and even)."""
    return jnp.abs(iu_signed_phase_error(az_hat, pitch_hat, delta_az, delta_pitch, n_rows,
                                         n_cols, spacing_over_lambda))


def iu_element_error_bound(delta_psi: Float[Array, " N"], eps_mn, rician_k) -> Float[Array, " N"]:
    """Per-element bound of 000 eq. (42): ``|Dg_n| <= eps_n + sqrt(2k) sqrt(1 - cos Delta psi_n)``.

    Evaluated as ``eps_n + 2 sqrt(k) |sin(Delta psi_n / 2)|`` (identical, and grad-safe at 0).
    Exact for the given angle error: the LoS term moves on the circle of radius ``sqrt(k)``
    by the chord ``sqrt(k) |1 - e^{-j Delta psi}|``, plus the NLoS disc of radius ``eps_n``.
    """
    return eps_mn + 2.0 * jnp.sqrt(rician_k) * jnp.abs(jnp.sin(0.5 * delta_psi))


def iu_tau_at(az_hat, pitch_hat, delta_az, delta_pitch, eps_mn, n_rows: int, n_cols: int,
              spacing_over_lambda: float, rician_k) -> Float[Array, ""]:
    """``tau_m`` of 000 eq. (43) **as printed**, i.e. for one particular angle error:
    ``tau^2 = sum_n (eps_n + sqrt(2k) sqrt(1 - cos Delta psi_n))^2``.

    Bounds ``||Dg||`` only for that angle error; use :func:`iu_tau_bound` for the whole set.
    """
    dpsi = iu_signed_phase_error(az_hat, pitch_hat, delta_az, delta_pitch, n_rows, n_cols,
                                 spacing_over_lambda)
    return jnp.sqrt(jnp.sum(iu_element_error_bound(dpsi, eps_mn, rician_k) ** 2))


class TauBound(NamedTuple):
    """Pieces of the guaranteed bound: ``tau = sqrt(tau2_grid_max + margin)``.

    tau2_grid_max: max of ``tau^2(Dtheta, Dphi)`` over the grid (a lower bound on the true max);
    margin: Lipschitz margin that covers the gaps between grid points (capped by the ceiling);
    lipschitz: the constant ``L`` of ``tau^2(Dtheta, Dphi)`` in each angle (rad^-1).
    """

    tau: Float[Array, ""]
    tau2_grid_max: Float[Array, ""]
    margin: Float[Array, ""]
    lipschitz: Float[Array, ""]


def iu_tau_bound_parts(az_hat, pitch_hat, Theta, Phi, eps_mn, n_rows: int, n_cols: int,
                       spacing_over_lambda: float, rician_k, n_grid: int = 513) -> TauBound:
    """Guaranteed bound ``tau_m >= ||Dg_m||`` over the **whole** set Xi_m (000 eqs. (38)-(43)).

    ``f(Dtheta, Dphi) = sum_n (eps_n + 2 sqrt(k) |sin(Delta psi_n / 2)|)^2`` is the exact max of
    ``||Dg||^2`` over the NLoS discs for that angle error (the NLoS phase can align with each LoS
    chord). We bound ``max f`` over the box ``|Dtheta| <= Theta, |Dphi| <= Phi`` by
    ``max_grid f + L (h_theta + h_phi) / 2`` on an ``n_grid x n_grid`` grid that includes the
    edges (spacing ``h = 2 Theta / (n_grid - 1)``), with a Lipschitz constant valid for both
    angles (derivation in ``docs/derivations/iu_uncertainty.md``):

    ``L = sum_n 2 sqrt(k) (eps_n + 2 sqrt(k) S_n) * 2 pi (d_f/lambda) r_n``,
    ``r_n = sqrt(n_r^2 + n_c^2)``, ``S_n = min(1, pi (d_f/lambda) r_n (Theta + Phi))``.

    Every point of the box is within ``h/2`` of a grid point in each angle, hence the bound is
    guaranteed for any error size (phase wrap-around, interior maxima included). The result is
    capped by the angle-free ceiling ``sum_n (eps_n + 2 sqrt(k))^2``. ``n_grid`` (static) trades
    cost against the margin, which shrinks as ``1/n_grid`` (about 1-2 % of ``tau^2`` at the
    default 513 for 1-degree errors and N <= 256).
    """
    if n_grid < 2:
        raise ValueError(f"n_grid must be >= 2 (grid includes both edges), got {n_grid}")
    rdt = _real_dtype(az_hat, pitch_hat, Theta, Phi, eps_mn)
    n = n_rows * n_cols
    eps = jnp.broadcast_to(jnp.asarray(eps_mn, rdt), (n,))
    s = spacing_over_lambda
    t = jnp.linspace(-1.0, 1.0, n_grid, dtype=rdt)
    th_grid = Theta * t
    ph_grid = Phi * t

    def f(dth, dph):
        dpsi = iu_signed_phase_error(az_hat, pitch_hat, dph, dth, n_rows, n_cols, s)
        return jnp.sum(iu_element_error_bound(dpsi, eps, rician_k) ** 2)

    row_max = jax.lax.map(lambda dth: jnp.max(jax.vmap(lambda dph: f(dth, dph))(ph_grid)),
                          th_grid)
    tau2_grid = jnp.max(row_max)

    nr, nc = _element_indices(n_rows, n_cols, rdt)
    r = jnp.sqrt(nr * nr + nc * nc)
    sk = jnp.sqrt(rician_k)
    s_n = jnp.minimum(1.0, jnp.pi * s * r * (Theta + Phi))
    lip = jnp.sum(2.0 * sk * (eps + 2.0 * sk * s_n) * 2.0 * jnp.pi * s * r)
    h_th = 2.0 * Theta / (n_grid - 1)
    h_ph = 2.0 * Phi / (n_grid - 1)
    margin = lip * (h_th + h_ph) / 2.0
    # |sin| <= 1 gives the angle-free ceiling sum_n (eps_n + 2 sqrt(k))^2 (large-error regime)
    ceiling = jnp.sum((eps + 2.0 * sk) ** 2)
    margin = jnp.minimum(margin, ceiling - tau2_grid)
    return TauBound(tau=jnp.sqrt(tau2_grid + margin), tau2_grid_max=tau2_grid, margin=margin,
                    lipschitz=lip)


def iu_tau_bound(az_hat, pitch_hat, Theta, Phi, eps_mn, n_rows: int, n_cols: int,
                 spacing_over_lambda: float, rician_k, n_grid: int = 513) -> Float[Array, ""]:
    """``tau_m`` with ``||Dg_m|| <= tau_m`` for every point of Xi_m (see
    :func:`iu_tau_bound_parts` for the method). Scalar; jit-able (``n_grid`` static)."""
    return iu_tau_bound_parts(az_hat, pitch_hat, Theta, Phi, eps_mn, n_rows, n_cols,
                              spacing_over_lambda, rician_k, n_grid).tau


def iu_path_gain_range(d_hat, D, wavelength):
    """``(xi(d_hat + D), xi(d_hat - D))``: the range of ``xi`` over ``|Dd| <= D``. The upper end
    (closest IU) is the worst case for secrecy (eavesdropping SNR grows with ``xi``)."""
    return path_loss_free_space(d_hat + D, wavelength), path_loss_free_space(d_hat - D, wavelength)


# ---------------------------------------------------------------------------------------------
# Gaussian IU error model (after eq. (43))


@functools.partial(jax.jit, static_argnames=("dof", "n_iter"))
def chi2_quantile(q, dof: int, n_iter: int = 200) -> Float[Array, "..."]:
    """Inverse CDF of chi-square with ``dof`` degrees of freedom (pure JAX bisection).

    Solves ``Q(dof/2, x/2) = 1 - q`` on ``[0, dof + 16 sqrt(dof) + 120]`` (regularised upper
    incomplete gamma, accurate in the upper tail) for ``q`` up to ``1 - 1e-12``; ``q`` may be an
    array. Not differentiable in ``q`` (design constant). Jitted (``dof`` static).
    """
    q = jax.lax.stop_gradient(jnp.asarray(q, _real_dtype(q)))
    a = 0.5 * dof
    p_upper = 1.0 - q
    lo = jnp.zeros_like(q)
    hi = jnp.full_like(q, 0.5 * (dof + 16.0 * np.sqrt(dof) + 120.0))

    def body(_, lohi):
        lo, hi = lohi
        mid = 0.5 * (lo + hi)
        too_small = jax.scipy.special.gammaincc(a, mid) > p_upper  # tail still too heavy
        return jnp.where(too_small, mid, lo), jnp.where(too_small, hi, mid)

    lo, hi = jax.lax.fori_loop(0, n_iter, body, (lo, hi))
    return lo + hi  # 2 * midpoint: x = 2 y


def iu_error_variance_quantile(tau, n: int, p_exceed) -> Float[Array, ""]:
    """``sigma_e^2`` with ``E_e = sigma_e^2 I_N`` such that ``Pr(||Dg|| > tau) = p_exceed``.

    For ``Dg ~ CN(0, sigma_e^2 I_N)``, ``||Dg||^2 = (sigma_e^2 / 2) chi^2_{2N}``, so
    ``sigma_e^2 = 2 tau^2 / F^{-1}_{chi^2_{2N}}(1 - p_exceed)``. This is the paper's
    compatibility rule (Sec. III-C: a bound large enough that the Gaussian exceeds it with small
    probability). Note it makes the Gaussian *less* spread than the worst case of the bounded
    set; :func:`iu_error_variance_moment` is the conservative alternative.
    """
    return 2.0 * jnp.asarray(tau) ** 2 / chi2_quantile(1.0 - jnp.asarray(p_exceed), 2 * n)


def iu_error_variance_moment(tau, n: int) -> Float[Array, ""]:
    """``sigma_e^2 = tau^2 / N``: ``E||Dg||^2 = tau^2``, the second moment of the worst-case
    (boundary) errors of the bounded set (moment matching; ``Pr(||Dg|| > tau) ~ 1/2``)."""
    return jnp.asarray(tau) ** 2 / n


def iu_gaussian_channel(key: PRNGKeyArray, g_hat: Complex[Array, " N"],
                        E_e_chol: Complex[Array, "N N"], scale) -> Complex[Array, " N"]:
    """IU channel under the Gaussian error model, 000 eq. (44) with ``Dg ~ CN(0, E_e)``.

    ``g = scale (g_hat + L z)``, ``z ~ CN(0, I_N)``, ``E_e = L L^H`` (``E_e_chol = L``, e.g.
    ``sqrt(sigma_e^2) I``), ``scale = iu_scale(d, wavelength, k)``.
    """
    cdt = _complex_of(jnp.result_type(g_hat, E_e_chol))
    z = _cn(key, g_hat.shape, cdt)
    return scale * (g_hat + E_e_chol @ z)


# ---------------------------------------------------------------------------------------------
# Radar sensing links, eqs. (11)-(13), (28), (32)


def radar_steering(azimuth, pitch, n_rows: int, n_cols: int, spacing_over_lambda: float
                   ) -> Complex[Array, " N"]:
    """Transmit steering ``a_m`` of 000 eq. (11) (= :func:`jisac.geometry.upa_steering`)."""
    return upa_steering(pitch, azimuth, n_rows, n_cols, spacing_over_lambda)


def radar_receive_gain(d, wavelength) -> Complex[Array, ""]:
    """Feed-antenna receive gain ``b_m = exp(-j 2 pi d_m / lambda)``, 000 eq. (12).

    ``d/lambda`` is ~1e4 at 30 GHz, so in float32 the phase carries ~1e-3 rad round-off; only
    ``|b|`` = 1 matters for the sensing gain (32), use float64 where the phase itself matters.
    """
    return jnp.exp(-2j * jnp.pi * jnp.asarray(d) / wavelength)


def radar_channel(d, azimuth, pitch, n_rows: int, n_cols: int, spacing_over_lambda: float,
                  wavelength) -> Complex[Array, " N"]:
    """Sensing channel ``c_m = b_m a_m^H``, 000 eq. (13).

    Shape convention: ``c_m`` is a **row** vector in the paper; it is returned as the 1-D array
    ``c = b_m conj(a_m)`` of shape ``(N,)`` to be used *without* conjugation: the echo of ``x`` is
    ``c @ x = b_m a_m^H x``, and ``c_m c_hat_m^H = c @ conj(c_hat)``. ``||c||^2 = N``.
    """
    a = radar_steering(azimuth, pitch, n_rows, n_cols, spacing_over_lambda)
    return radar_receive_gain(d, wavelength) * jnp.conj(a)


def rcs_reflection_variance(s_rcs, wavelength, d) -> Float[Array, ""]:
    """``sigma_alpha^2 = S_RCS lambda^2 / ((4 pi)^3 d^4)`` (000, after eq. (28)); S_RCS in m^2."""
    return s_rcs * wavelength**2 / ((4.0 * jnp.pi) ** 3 * jnp.asarray(d) ** 4)


def normalized_sensing_gain(c: Complex[Array, " N"], c_hat: Complex[Array, " N"], sigma_alpha2,
                            sigma_r2) -> Float[Array, ""]:
    """``varsigma_m = sigma_alpha^2 |c_m c_hat_m^H|^2 / (N^2 sigma_r^2)``, 000 eq. (32).

    ``c, c_hat`` in the row convention of :func:`radar_channel`; ``|c c_hat^H| = |a^H a_hat|``.
    """
    n = c.shape[-1]
    inner = jnp.sum(c * jnp.conj(c_hat))
    return sigma_alpha2 * (inner.real**2 + inner.imag**2) / (n**2 * sigma_r2)
