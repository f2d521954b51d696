"""Unit conversions at the edge of the library.

Inside jisac every quantity is SI and linear (W, m, s, Hz, rad). Configs and plots speak dB,
dBm and degrees; these named helpers are the only place the conversion happens.
"""

from __future__ import annotations

import jax.numpy as jnp

SPEED_OF_LIGHT = 299_792_458.0  # m/s


def db_to_linear(x_db):
    """Power ratio in dB -> linear."""
    return 10.0 ** (jnp.asarray(x_db) / 10.0)


def linear_to_db(x):
    """Linear power ratio -> dB."""
    return 10.0 * jnp.log10(jnp.asarray(x))


def dbm_to_watt(p_dbm):
    """Power in dBm -> W."""
    return 10.0 ** ((jnp.asarray(p_dbm) - 30.0) / 10.0)


def watt_to_dbm(p_w):
    """Power in W -> dBm."""
    return 10.0 * jnp.log10(jnp.asarray(p_w)) + 30.0


def deg_to_rad(x_deg):
    return jnp.deg2rad(jnp.asarray(x_deg))


def rad_to_deg(x_rad):
    return jnp.rad2deg(jnp.asarray(x_rad))


def wavelength(carrier_hz):
    """Carrier wavelength lambda_c = c / f in metres."""
    return SPEED_OF_LIGHT / carrier_hz
