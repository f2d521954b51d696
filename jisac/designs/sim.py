"""The paper-004 Design PyTree and the closed-form reference design (``scheme=mrt``).

``SimDesign`` holds everything (23) optimises: SIM phases per phase and layer
``theta_comm, theta_sense, theta_ce (L, N)``, the hybrid precoder ``W_RF (M, R_RF)`` and
``W_BB (R_RF, K)``, the AN covariance ``R_AN (M, M)``, the time fractions
``tau = [tau_ce, tau_sense, tau_comm]`` and the powers ``P_sense``, ``P_comm`` (W).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from ..hardware.hybrid import alternating_minimization, hybrid_precoder
from ..hardware.sim import sim_effective_channels
from ..metrics.multiple_access import an_null_space_projector
from ..scenarios import SimScenario
from ..schemes import MrtParams
from ..systems.sim import SimSystem


class SimDesign(eqx.Module):
    theta_comm: Float[Array, "L N"]
    theta_sense: Float[Array, "L N"]
    theta_ce: Float[Array, "L N"]
    W_RF: Complex[Array, "M R"]
    W_BB: Complex[Array, "R K"]
    R_AN: Complex[Array, "M M"]
    tau: Float[Array, " 3"]      # [tau_ce, tau_sense, tau_comm]
    p_sense: Float[Array, ""]
    p_comm: Float[Array, ""]

    @property
    def W(self):
        return hybrid_precoder(self.W_RF, self.W_BB)


def default_time_power(s: SimScenario, dtype):
    """tau_ce at its minimum, the rest split evenly between sensing and communication (23a),
    then both powers at the largest value the energy budget (23b) and P_max (23c, e) allow."""
    free = s.phase_time - s.tau_min
    tau_s = tau_c = min(max(free / 2.0, s.tau_min), s.tau_max)
    p = min(s.p_bs_max, s.energy_budget / (s.t_slot * (tau_s + tau_c)))
    return jnp.asarray([s.tau_min, tau_s, tau_c], dtype), jnp.asarray(p, dtype), jnp.asarray(p, dtype)


def design_mrt(system: SimSystem, s: SimScenario, params: MrtParams) -> SimDesign:
    """All SIM phases zero; MRT on the effective channels (17), hybrid-decomposed by AM (37)-(38);
    AN isotropic in the null space of the users' effective channels with share ``an_fraction``."""
    rdt = jnp.real(system.h1).dtype
    L, N = s.n_layers, s.n_per_layer
    theta = jnp.zeros((L, N), rdt)
    tau, p_sense, p_comm = default_time_power(s, rdt)
    h_eff = sim_effective_channels(system.H_users, theta, system.h1, system.h_inter)   # (K, M)
    w_opt = jnp.conj(h_eff.T) / jnp.linalg.norm(h_eff, axis=1)[None, :]
    w_opt = w_opt * jnp.sqrt((1.0 - params.an_fraction) * p_comm / s.n_users)
    hyb = alternating_minimization(w_opt, s.n_rf_chains, n_iter=50,
                                   power=(1.0 - params.an_fraction) * p_comm)
    proj = an_null_space_projector(h_eff)
    dof = jnp.maximum(jnp.real(jnp.trace(proj)), 1.0)
    R_AN = params.an_fraction * p_comm * proj / dof
    return SimDesign(theta, theta, theta, hyb.w_rf, hyb.w_bb, R_AN, tau, p_sense, p_comm)


def design(system: SimSystem, s: SimScenario, params: MrtParams, key=None):
    """Scheme entry point (``scheme=mrt``): vmapped over the drop axis of ``system``."""
    d = jax.jit(jax.vmap(lambda sys: design_mrt(sys, s, params)))(system)
    return d, {"status": "closed_form", "iterations": 0, "objective_history": []}
