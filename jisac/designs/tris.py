"""The paper-000 Design PyTree and closed-form reference designs.

``TrisDesign`` is what every TRIS-RSMA scheme returns: beamformers ``W (L, N, K+1)`` (column 0
the common stream w_c, columns 1..K the private streams, 000 eq. (14)), slot durations
``t (L,)`` in seconds (34e)-(34f) and the common-rate split ``C (L, K)`` in bps/Hz (21), (34g).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from ..metrics import rsma
from ..scenarios import TrisScenario
from ..schemes import MrtParams
from ..systems.tris import TrisSystem


class TrisDesign(eqx.Module):
    W: Complex[Array, "L N K+1"]
    t: Float[Array, " L"]
    C: Float[Array, "L K"]


def _unit_phase(z):
    # e^{j arg z}, with 1 where z == 0 (NaN-safe)
    mag = jnp.abs(z)
    safe = jnp.where(mag > 0, mag, 1.0)
    return jnp.where(mag > 0, z / safe, 1.0 + 0j)


def mrt_slot(H_hat: Complex[Array, "K N"], p_t, common_fraction) -> Complex[Array, "N K+1"]:
    """Per-element-power-scaled MRT with a common stream (one slot).

    Private beam k: ``w_k = sqrt((1-f) P_t / K) e^{j arg h_hat_k}`` (phase-matched to LU k);
    common beam: ``w_c = sqrt(f P_t) e^{j arg sum_k h_hat_k / ||h_hat_k||}``. Every row of W then
    carries exactly ``P_t``: the TMA per-element constraint (000 eq. (1), (34d)) holds with
    equality, which is the most power a TRIS can radiate.
    """
    K = H_hat.shape[0]
    priv = jnp.sqrt((1.0 - common_fraction) * p_t / K) * _unit_phase(H_hat).T       # (N, K)
    hn = H_hat / jnp.linalg.norm(H_hat, axis=1, keepdims=True)
    common = jnp.sqrt(common_fraction * p_t) * _unit_phase(jnp.sum(hn, axis=0))      # (N,)
    return jnp.concatenate([common[:, None], priv], axis=1)


def design_mrt(system: TrisSystem, s: TrisScenario, params: MrtParams) -> TrisDesign:
    """MRT in every slot, equal slot durations T/L, equal split of the common rate at the
    estimated channels (so (34g) holds at the estimates)."""
    L = s.n_slots
    w = mrt_slot(system.H_hat, s.p_t, params.common_fraction)
    W = jnp.broadcast_to(w, (L,) + w.shape)
    t_eq = min(max(s.t_total / L, s.t_min), s.t_max)
    t = jnp.full((L,), t_eq, dtype=jnp.real(w).dtype)
    r_c = rsma.common_rate(w, system.H_hat, s.noise_lu)
    C = jnp.broadcast_to(rsma.common_rate_split(r_c, s.n_lu), (L, s.n_lu))
    return TrisDesign(W, t, C)


def design(system: TrisSystem, s: TrisScenario, params: MrtParams, key=None):
    """Scheme entry point (``scheme=mrt``): vmapped over drops when ``system`` is batched."""
    batched = system.H_hat.ndim == 3
    fn = jax.jit(lambda sys: design_mrt(sys, s, params))
    d = jax.vmap(fn)(system) if batched else fn(system)
    return d, {"status": "closed_form", "iterations": 0, "objective_history": []}
