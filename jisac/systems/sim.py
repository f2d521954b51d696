"""Realise a paper-004 (SIM-ISAC) scenario into a System.

Shapes: M BS antennas, L layers of N elements, K users, E eavesdroppers, T targets.

* ``h1 (N, M)``: near-field BS -> first layer (004 eqs. (5)-(6), consistent form, see
  ``docs/derivations/sim_channels.md``); deterministic geometry.
* ``h_inter (L-1, N, N)``: Rayleigh-Sommerfeld LoS coupling (eq. (9)) -- the *design* model.
* ``h_inter_eval (L-1, N, N)``: one Rician draw of eq. (10) per drop -- the *evaluation* model.
* ``H_users (K, N)``, ``H_eves (E, N)``: far-field last layer -> receivers, eq. (8), with
  ``rho = (d/d0)^n / g0`` (``g0`` = ``reference_gain_db``).
* ``targets (T, 5)``: ``[theta, r, v, rcs, phi]`` of each target in the SIM sensing model
  (``jisac.metrics.crb.sim_echo_mean``); targets at azimuth 180 deg are mapped to azimuth 0 with
  negative pitch (the same direction), so one azimuth plane serves all targets.
* ``positions (N, 3)``: centred element positions of the output layer (sensing geometry).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from ..channels import sim_coupling, sim_links
from ..scenarios import SimScenario


class SimSystem(eqx.Module):
    h1: Complex[Array, "N M"]
    h_inter: Complex[Array, "Lm1 N N"]
    h_inter_eval: Complex[Array, "Lm1 N N"]
    H_users: Complex[Array, "K N"]
    H_eves: Complex[Array, "E N"]
    targets: Float[Array, "T 5"]
    positions: Float[Array, "N 3"]


def _side(p):
    """(d, azimuth deg, pitch deg) -> (d, pitch rad signed in the azimuth-0 plane, azimuth rad)."""
    p = np.asarray(p, np.float64)
    return p[:, 0], np.deg2rad(p[:, 2]), np.deg2rad(p[:, 1])


def sensing_model_kw(s: SimScenario) -> dict:
    """Keyword arguments of ``jisac.metrics.crb.sim_echo_mean`` for this scenario: the azimuth-0
    plane of ``targets``, the path-loss model of eq. (8) and the probing subcarriers."""
    return {"azimuth": 0.0, "d0": s.reference_distance_m, "pathloss_exp": s.pathloss_exponent,
            "subcarriers": s.subcarrier_offsets}


def sim_layout(s: SimScenario):
    lam = s.wavelength
    side = int(round(np.sqrt(s.n_per_layer)))
    return sim_links.sim_geometry(
        lam, n_layers=s.n_layers, n_rows=side, n_cols=side, bs_rows=s.bs_rows,
        bs_cols=s.n_bs_antennas // s.bs_rows, element_spacing=s.element_spacing_over_lambda * lam,
        layer_spacing=s.layer_spacing_over_lambda * lam, bs_distance=s.bs_sim_distance_over_lambda * lam)


def realize_sim_drops(s: SimScenario, key, n_drops: int) -> SimSystem:
    """``n_drops`` realisations (leading axis); only the Rician inter-layer draw is random."""
    dt = jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32
    lam = s.wavelength
    geo = sim_layout(s)
    side = int(round(np.sqrt(s.n_per_layer)))
    h1 = sim_links.bs_to_sim_channel(geo.layers[0], geo.bs, lam)
    h_inter = sim_coupling.inter_layer_los(geo.layers, lam)
    g0 = 10.0 ** (s.reference_gain_db / 10.0)

    def rx(points):
        d, pitch, az = _side(points)
        return sim_links.sim_to_users_channels(
            jnp.asarray(d, dt), jnp.asarray(pitch, dt), jnp.asarray(az, dt), side, side,
            s.element_spacing_over_lambda, s.pathloss_exponent, s.reference_distance_m, g0)

    H_users, H_eves = rx(s.user_positions), rx(s.eve_positions)
    tp = np.asarray(s.target_positions, np.float64)
    signed_pitch = np.where(np.isclose(np.abs(tp[:, 1]), 180.0), -1.0, 1.0) * np.deg2rad(tp[:, 2])
    targets = jnp.asarray(np.stack([signed_pitch, tp[:, 0], np.asarray(s.target_velocities_mps),
                                    np.asarray(s.target_rcs_m2), np.zeros(len(tp))], axis=1), dt)
    last = geo.layers[-1]
    positions = last - jnp.mean(last, axis=0, keepdims=True)
    kappa = s.interlayer_rician_k / (1.0 + s.interlayer_rician_k)  # K-factor -> eq. (10) weight

    def one(k):
        ev = sim_coupling.rician_coupling(k, h_inter, kappa) if s.n_layers > 1 else h_inter
        return SimSystem(h1, h_inter, ev, H_users, H_eves, targets, positions)

    return jax.vmap(one)(jax.random.split(key, n_drops))
