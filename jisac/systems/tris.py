"""Realise a paper-000 (TRIS-RSMA) scenario into a System: channel estimates and uncertainty.

``realize_tris(scenario, key) -> TrisSystem`` is a pure function of the key; ``n_drops``
realisations are ``jax.vmap(realize_tris, in_axes=(None, 0))`` over split keys.

What is realised (shapes with K LUs, M IUs, N elements, L slots):

* LU estimates ``H_hat (K, N)``: one Rician draw of 000 eq. (4) per LU -- the paper's
  "h_hat_k can be characterised by eq. (4)". The true channel is ``H_hat + dH``.
* LU error, 000 eq. (6): bounded radius ``lu_eps (K,)`` and Gaussian variance ``lu_sigma2 (K,)``.
  The configured ``eps_lu`` is relative to the path-loss-normalised channel (entries of unit
  order, as the captions' ``eps_k = sqrt(0.01)`` imply): ``lu_eps = eps_lu * xi_k``. The Gaussian
  variance follows the paper's compatibility rule (Sec. III-C): ``Pr(||dh|| > lu_eps) =
  error_exceed_prob`` (``sigma^2 = 2 eps^2 / F^{-1}_{chi2_2N}(1 - p)``).
* IU estimates, 000 eq. (44): normalised ``G_hat (M, N)`` with scale ``g_scale (M,)`` at the
  estimated distance, the guaranteed bound ``tau (M,)`` on ``||dg||`` over the set Xi_m (eqs.
  (38)-(43), see ``docs/derivations/iu_uncertainty.md``) and the Gaussian variance ``iu_sigma2``
  by the same compatibility rule.
* Sensing: worst-distance normalised sensing gain ``zeta_worst (M,)`` of eq. (62) -- in the
  echo-SNR normalisation consistent with eq. (28) (eq. (32) as printed is N times smaller,
  ``docs/derivations/detection.md``) -- and the
  desired scanning covariances ``R_scan (L, N, N)`` of eq. (33): slot ``l`` beams towards the
  ``l``-th of ``L`` azimuths evenly spread over ``scan_sector_deg`` at ``scan_pitch_deg``.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from ..channels import tris_links as tl
from ..geometry import upa_steering
from ..metrics import detection
from ..scenarios import TrisScenario


class TrisSystem(eqx.Module):
    H_hat: Complex[Array, "K N"]
    lu_eps: Float[Array, " K"]
    lu_sigma2: Float[Array, " K"]
    G_hat: Complex[Array, "M N"]
    g_scale: Float[Array, " M"]
    tau: Float[Array, " M"]
    iu_sigma2: Float[Array, " M"]
    zeta_worst: Float[Array, " M"]
    R_scan: Complex[Array, "L N N"]
    scan_azimuth: Float[Array, " L"]
    lu_polar: Float[Array, "K 3"]   # (d m, azimuth rad, pitch rad)
    iu_polar: Float[Array, "M 3"]


def _polar_rad(points) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    return np.stack([p[:, 0], np.deg2rad(p[:, 1]), np.deg2rad(p[:, 2])], axis=1)


def scan_azimuths(s: TrisScenario) -> np.ndarray:
    lo, hi = s.scan_sector_deg
    return np.deg2rad(np.linspace(lo, hi, s.n_slots)) if s.n_slots > 1 else np.deg2rad([(lo + hi) / 2])


def _lu_estimates(s: TrisScenario, key, lu) -> Complex[Array, "K N"]:
    geo = (s.n_rows, s.n_cols, s.spacing_over_lambda)
    keys = jax.random.split(key, s.n_lu)
    return jax.vmap(lambda k, p: tl.lu_channel(k, p[0], p[1], p[2], *geo, s.wavelength,
                                               s.rician_k))(keys, lu)


def realize_tris(s: TrisScenario, key) -> TrisSystem:
    """One realisation of the paper-000 system (pure in ``key``)."""
    return realize_tris_drops(s, key[None] if key.ndim == 1 else key, None)


def realize_tris_drops(s: TrisScenario, key, n_drops: int | None) -> TrisSystem:
    """``n_drops`` independent realisations stacked on a leading axis.

    Only the LU small-scale fading is random; the geometry-determined parts (IU bounds, sensing
    gains, scanning covariances) are computed once and broadcast, since the tau bound's grid
    search is the expensive step. ``n_drops=None`` with a single key returns one unbatched
    realisation.
    """
    dt = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32
    lam, k_ric, n = s.wavelength, s.rician_k, s.n_elements
    geo = (s.n_rows, s.n_cols, s.spacing_over_lambda)
    lu = jnp.asarray(_polar_rad(s.lu_positions), dt)
    iu = jnp.asarray(_polar_rad(s.iu_positions), dt)

    xi = tl.path_loss_free_space(lu[:, 0], lam)
    lu_eps = s.eps_lu * xi
    chi2_q = tl.chi2_quantile(jnp.asarray(1.0 - s.error_exceed_prob, dt), 2 * n)
    lu_sigma2 = 2.0 * lu_eps**2 / chi2_q

    G_hat = jax.vmap(lambda p: tl.iu_channel_estimate(p[1], p[2], *geo, k_ric))(iu)
    g_scale = tl.iu_scale(iu[:, 0], lam, k_ric)
    eps_mn = s.eps_iu_factor * np.sqrt(k_ric)
    th, ph = np.deg2rad(s.iu_pitch_error_deg), np.deg2rad(s.iu_azimuth_error_deg)
    tau = jax.jit(jax.vmap(lambda p: tl.iu_tau_bound(p[1], p[2], th, ph, eps_mn, *geo, k_ric)))(iu)
    iu_sigma2 = 2.0 * tau**2 / chi2_q

    a_hat = jax.vmap(lambda p: upa_steering(p[2], p[1], *geo))(iu)
    zeta_worst = jax.vmap(
        lambda p, a: detection.sensing_gain_worst_distance(
            s.rcs_m2, lam, p[0], s.iu_distance_error_m, a, a, s.radar_noise,
            normalization="echo_snr"))(iu, a_hat)

    az = jnp.asarray(scan_azimuths(s), dt)
    pitch = jnp.full_like(az, np.deg2rad(s.scan_pitch_deg))
    R_scan = detection.scanning_covariances(pitch, az, *geo, s.p_t)
    fixed = TrisSystem(None, lu_eps, lu_sigma2, G_hat, g_scale, tau, iu_sigma2, zeta_worst,
                       R_scan, az, lu, iu)
    if n_drops is None:
        return eqx.tree_at(lambda t: t.H_hat, fixed, _lu_estimates(s, key[0], lu),
                           is_leaf=lambda x: x is None)
    H = jax.vmap(lambda k: _lu_estimates(s, k, lu))(jax.random.split(key, n_drops))
    batched = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (n_drops,) + x.shape), fixed)
    return eqx.tree_at(lambda t: t.H_hat, batched, H, is_leaf=lambda x: x is None)
