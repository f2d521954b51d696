"""Sensing metrics of paper 000 Sec. III-B: chi-square LRT detection and beampattern matching.

Detection model (000 eq. (28)). The detector statistic ``T`` is exponential (``sigma^2/2`` times a
chi-square with 2 degrees of freedom), i.e. the energy ``|y|^2`` of one complex Gaussian sample:

    H0: T ~ (sigma_r^2 / 2) chi2_2,
    H1: T ~ (sigma_r^2 / 2) (1 + p * varsigma) chi2_2,

``p = tr(sum_i W_i)`` the slot's transmit power and ``varsigma`` the normalised sensing channel
gain. ``chi2_2`` has the closed-form CDF ``F(x) = 1 - exp(-x/2)``, used throughout (no scipy), so

    delta = (sigma_r^2/2) F^{-1}(1 - P_FA) = -sigma_r^2 ln(P_FA)          (30)
    P_D   = 1 - F((2 delta / sigma_r^2) / (1 + p varsigma))                (31)
          = P_FA ** (1 / (1 + p varsigma)).

Inverting (31) gives the threshold of (61): ``P_D >= P_D^target  <=>  p varsigma >= I`` with
``I = ln(P_FA) / ln(P_D^target) - 1``.

Erratum (see ``docs/derivations/detection.md``): (28) puts ``sigma_alpha^2 p ||c_m||^2 / sigma_r^2
= sigma_alpha^2 p N / sigma_r^2`` in place of ``p varsigma``, whereas (32) with a perfect estimate
gives ``varsigma = sigma_alpha^2 / sigma_r^2`` -- a factor ``N`` smaller. :func:`sensing_gain`
implements (32) as written (``normalization="paper"``, the form used by the paper's constraint
(62)) and, with ``normalization="echo_snr"``, the form consistent with (28) (echo SNR when the
whole power is beamed at the estimated direction).

Beampattern (000 eq. (33)): ``P(theta, phi) = a^H R a`` with ``a`` the UPA steering vector of
:func:`jisac.geometry.upa_steering`; the design error is ``||sum_i W_i - R||_F^2``. The desired
scanning covariance is designed by :func:`scan_covariance` (see ``docs/derivations/beampattern.md``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from ..geometry import upa_steering

# --------------------------------------------------------------------------------------------
# chi-square with 2 degrees of freedom (closed form)
# --------------------------------------------------------------------------------------------


def chi2_2_cdf(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """CDF of chi-square with 2 dof: ``F(x) = 1 - exp(-x/2)`` for ``x >= 0``, 0 below."""
    return -jnp.expm1(-jnp.maximum(x, 0.0) / 2.0)


def chi2_2_sf(x: Float[Array, "..."]) -> Float[Array, "..."]:
    """Survival function ``1 - F(x) = exp(-x/2)`` (``x >= 0``), 1 below; exact in the tail."""
    return jnp.exp(-jnp.maximum(x, 0.0) / 2.0)


def chi2_2_icdf(q: Float[Array, "..."]) -> Float[Array, "..."]:
    """Inverse CDF ``F^{-1}(q) = -2 ln(1 - q)``, ``0 <= q < 1``."""
    return -2.0 * jnp.log1p(-q)


# --------------------------------------------------------------------------------------------
# LRT threshold, false alarm and detection probability
# --------------------------------------------------------------------------------------------


def detection_threshold(p_fa, sigma_r2) -> Float[Array, ""]:
    """Threshold ``delta = (sigma_r^2/2) F^{-1}(1 - P_FA) = -sigma_r^2 ln P_FA``, eq. (30)."""
    # F^{-1}(1 - P_FA) = -2 ln(P_FA): written with log directly to stay exact for tiny P_FA.
    return -sigma_r2 * jnp.log(p_fa)


def false_alarm_probability(delta, sigma_r2) -> Float[Array, ""]:
    """``P_FA = Pr(chi2_2 > 2 delta / sigma_r^2)``, eq. (29)."""
    return chi2_2_sf(2.0 * delta / sigma_r2)


def detection_probability(p, varsigma, delta, sigma_r2) -> Float[Array, "..."]:
    """Detection probability, eq. (31): ``P_D = 1 - F((2 delta/sigma_r^2) / (1 + p varsigma))``.

    ``p``: transmit power ``tr(sum_i W_i)`` (W); ``varsigma``: normalised sensing gain (1/W),
    eq. (32) (see :func:`sensing_gain`); ``delta``: threshold of eq. (30); ``sigma_r2``:
    processing-noise power. Smooth in ``p`` (``P_D = P_FA^{1/(1+p varsigma)}``).
    """
    return chi2_2_sf((2.0 * delta / sigma_r2) / (1.0 + p * varsigma))


def detection_probability_from_pfa(p, varsigma, p_fa) -> Float[Array, "..."]:
    """Eq. (31) with ``delta`` from eq. (30) substituted: ``P_D = P_FA ** (1 / (1 + p varsigma))``."""
    return jnp.exp(jnp.log(p_fa) / (1.0 + p * varsigma))


def detection_snr_threshold(target_pd, p_fa) -> Float[Array, ""]:
    """Threshold ``I_m`` of eq. (61): ``P_D >= target_pd  <=>  p varsigma >= I_m`` with
    ``I_m = ln(P_FA) / ln(target_pd) - 1`` (closed-form inverse of (31)); requires
    ``0 < p_fa < target_pd < 1``."""
    return jnp.log(p_fa) / jnp.log(target_pd) - 1.0


# --------------------------------------------------------------------------------------------
# Sensing gain, eqs. (28), (32), (62)
# --------------------------------------------------------------------------------------------


def rcs_variance(s_rcs, wavelength, distance) -> Float[Array, "..."]:
    """Variance of the reflection coefficient, after eq. (28):
    ``sigma_alpha^2 = S_RCS lambda^2 / ((4 pi)^3 d^4)``."""
    return s_rcs * wavelength**2 / ((4.0 * jnp.pi) ** 3 * distance**4)


def sensing_gain(sigma_alpha2, a_true: Complex[Array, " N"], a_est: Complex[Array, " N"],
                 sigma_r2, normalization: str = "paper") -> Float[Array, ""]:
    """Normalised sensing channel gain ``varsigma`` (1/W).

    ``normalization="paper"``: eq. (32), ``sigma_alpha^2 |c c_hat^H|^2 / (N^2 sigma_r^2)`` with
    ``c = b a^H`` and ``|b| = 1`` (eq. (12)), i.e. ``sigma_alpha^2 |a^H a_hat|^2 / (N^2 sigma_r^2)``.

    ``normalization="echo_snr"``: ``sigma_alpha^2 |a^H a_hat|^2 / (N sigma_r^2)`` -- the echo SNR
    per unit power when the power is beamed at ``a_hat``; equals ``sigma_alpha^2 ||c||^2 /
    sigma_r^2`` of eq. (28) when ``a_hat = a`` (module erratum: (32) is ``N`` times smaller).
    """
    n = a_true.shape[0]
    z = jnp.vdot(a_true, a_est)
    g = jnp.real(z) ** 2 + jnp.imag(z) ** 2
    if normalization == "paper":
        return sigma_alpha2 * g / (n**2 * sigma_r2)
    if normalization == "echo_snr":
        return sigma_alpha2 * g / (n * sigma_r2)
    raise ValueError(f"normalization must be 'paper' or 'echo_snr', got {normalization!r}")


def echo_snr(Rx: Complex[Array, "N N"], a_true: Complex[Array, " N"], sigma_alpha2, sigma_r2
             ) -> Float[Array, ""]:
    """Beam-aware echo SNR ``sigma_alpha^2 a^H R_x a / sigma_r^2`` of a target at steering ``a``
    for transmit covariance ``R_x = sum_i W_i`` (not a paper equation; see module erratum).

    Use in place of ``p * varsigma`` in (31): ``P_D = P_FA ** (1 / (1 + echo_snr))``. It equals
    ``p * sensing_gain(..., normalization="echo_snr")`` when ``R_x = (p/N) a_hat a_hat^H``.
    """
    return sigma_alpha2 * jnp.real(jnp.vdot(a_true, Rx @ a_true)) / sigma_r2


def sensing_gain_worst_distance(s_rcs, wavelength, d_hat, d_err_bound,
                                a_true: Complex[Array, " N"], a_est: Complex[Array, " N"],
                                sigma_r2, normalization: str = "paper") -> Float[Array, ""]:
    """Worst case of ``varsigma`` over ``|Delta d| <= D``, eq. (62): ``sigma_alpha^2`` is decreasing
    in ``d``, so the worst distance is ``d_hat + D``. The constraint (62) reads
    ``p * sensing_gain_worst_distance(...) >= detection_snr_threshold(...)``."""
    sa2 = rcs_variance(s_rcs, wavelength, d_hat + d_err_bound)
    return sensing_gain(sa2, a_true, a_est, sigma_r2, normalization)


# --------------------------------------------------------------------------------------------
# Beampattern, eq. (33), and the desired scanning covariance
# --------------------------------------------------------------------------------------------


def beampattern(Rcov: Complex[Array, "N N"], pitch: Float[Array, "*grid"],
                azimuth: Float[Array, "*grid"], n_rows: int, n_cols: int,
                spacing_over_lambda: float) -> Float[Array, "*grid"]:
    """Transmit beampattern ``P(theta, phi) = a(theta, phi)^H R a(theta, phi)`` (W).

    ``pitch`` and ``azimuth`` have the same (any) shape -- e.g. the outputs of ``jnp.meshgrid``
    for a 2-D grid; output has that shape. ``a`` from :func:`jisac.geometry.upa_steering`.
    """
    pitch, azimuth = jnp.asarray(pitch), jnp.asarray(azimuth)
    if pitch.shape != azimuth.shape:
        raise ValueError(f"pitch {pitch.shape} and azimuth {azimuth.shape} must have one shape")

    def one(th, ph):
        a = upa_steering(th, ph, n_rows, n_cols, spacing_over_lambda)
        return jnp.real(jnp.vdot(a, Rcov @ a))

    return jax.vmap(one)(pitch.reshape(-1), azimuth.reshape(-1)).reshape(pitch.shape)


def _fro2(X):
    return jnp.sum(jnp.real(X) ** 2 + jnp.imag(X) ** 2)


def beampattern_matching_error(Wmats: Complex[Array, "S N N"], R: Complex[Array, "N N"]
                               ) -> Float[Array, ""]:
    """``||sum_i W_i - R||_F^2``, eq. (33) (SDR form, ``Wmats`` = (K+1, N, N) or any stack)."""
    return _fro2(jnp.sum(Wmats, axis=0) - R)


def beampattern_matching_error_vec(W: Complex[Array, "N S"], R: Complex[Array, "N N"]
                                   ) -> Float[Array, ""]:
    """Eq. (33) in vector form: ``sum_i w_i w_i^H = W W^H``."""
    return _fro2(W @ jnp.conj(W.T) - R)


def scan_covariance(pitch: Float[Array, " D"], azimuth: Float[Array, " D"], n_rows: int,
                    n_cols: int, spacing_over_lambda: float, p_element) -> Complex[Array, "N N"]:
    """Desired covariance ``R`` of one scanning slot (the ``R[l]`` of eq. (33)).

    ``R = (P_t / D) sum_{d=1}^D a_d a_d^H`` over the slot's ``D`` scan directions
    ``(pitch[d], azimuth[d])``. Steering entries have unit modulus, so ``diag(R) = P_t`` exactly:
    the per-element power constraint (34d) is met with equality (total power ``N P_t``) and the
    beampattern peaks at every scan direction. Design notes in ``docs/derivations/beampattern.md``.
    """
    pitch, azimuth = jnp.atleast_1d(pitch), jnp.atleast_1d(azimuth)
    A = jax.vmap(lambda th, ph: upa_steering(th, ph, n_rows, n_cols, spacing_over_lambda)
                 )(pitch, azimuth)  # (D, N)
    return (p_element / pitch.shape[0]) * (A.T @ jnp.conj(A))


def scan_grid(pitch_range: tuple[float, float], azimuth_range: tuple[float, float],
              n_pitch: int, n_azimuth: int) -> tuple[Float[Array, " L"], Float[Array, " L"]]:
    """``L = n_pitch * n_azimuth`` scan directions evenly spaced (end points included) over the
    sector ``pitch_range x azimuth_range`` (rad), raster order (azimuth fastest). Slot ``l`` scans
    direction ``l``. ``n_pitch = 1`` gives an azimuth sweep at the sector's mid pitch."""
    def lin(r, n):
        return jnp.linspace(r[0], r[1], n) if n > 1 else jnp.asarray([(r[0] + r[1]) / 2.0])

    th, ph = jnp.meshgrid(lin(pitch_range, n_pitch), lin(azimuth_range, n_azimuth), indexing="ij")
    return th.reshape(-1), ph.reshape(-1)


def scanning_covariances(pitch: Float[Array, " L"], azimuth: Float[Array, " L"], n_rows: int,
                         n_cols: int, spacing_over_lambda: float, p_element
                         ) -> Complex[Array, "L N N"]:
    """One desired covariance per slot, ``R[l] = P_t a_l a_l^H`` (slot ``l`` scans direction ``l``;
    :func:`scan_covariance` with one direction). Use with :func:`scan_grid`."""
    return jax.vmap(lambda th, ph: scan_covariance(th[None], ph[None], n_rows, n_cols,
                                                   spacing_over_lambda, p_element))(pitch, azimuth)
