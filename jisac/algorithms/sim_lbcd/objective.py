"""The scalarised L-BCD utility of paper 004, eq. (24), with the secrecy *throughput* fix.

Model (one drop, pure JAX, jit/grad-able w.r.t. the SIM phases and the powers)::

    U(alpha) = (1 - alpha) S / R_max - alpha CRB_total / CRB_min                  (24)
    S        = tau_comm * sum_k R_k^sec(G_SIM(theta_comm), W, R_AN)               (22), fixed (24)
    CRB_total = sum_i tr(J_LB,i^{-1})  through G_SIM(theta_sense), probing power p_sense,
               T_s snapshots spanning tau_sense * T_slot                            (15), (28)

``S`` weights the bare sum secrecy rate of (24) by ``tau_comm`` (bits/s/Hz x fraction of the
slot); without it ``tau_comm`` enters no objective term (see ``docs/derivations/sim_lbcd.md``,
section "Objective"). ``CRB_total`` is exactly the quantity ``jisac.evaluation.sim.evaluate_sim``
reports (same probing, sampling period and path-loss model), evaluated on the chosen inter-layer
model: ``model="design"`` -> LoS ``h_inter`` (eq. (9), used for optimisation), ``"eval"`` ->
Rician ``h_inter_eval`` (eq. (10), used for reporting).

The ``*_theta`` helpers expose the same quantities as functions of the phases alone, for the
blocks to differentiate.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Float

from ...designs.sim import SimDesign
from ...hardware.sim import sim_cascade
from ...metrics import sim_secrecy
from ...metrics.crb import orthogonal_probing, sim_crb_total
from ...scenarios import SimScenario
from ...systems.sim import SimSystem, sensing_model_kw

__all__ = [
    "Normalizers",
    "inter_layer",
    "comm_power",
    "secrecy_throughput_theta",
    "crb_total_theta",
    "secrecy_throughput",
    "crb_total",
    "utility",
]

_MODELS = ("design", "eval")


class Normalizers(NamedTuple):
    r_max: float    # S of the communication-only design (alpha = 0)
    crb_min: float  # CRB_total of the sensing-only design (sensing_only.py)


def inter_layer(system: SimSystem, model: str):
    """``h_inter`` (LoS design model, eq. (9)) or ``h_inter_eval`` (Rician, eq. (10))."""
    if model == "design":
        return system.h_inter
    if model == "eval":
        return system.h_inter_eval
    raise ValueError(f"model must be one of {_MODELS}, got {model!r}")


def comm_power(design: SimDesign) -> Float[Array, ""]:
    """Radiated communication power ``sum_k ||w_k||^2 + tr(R_AN)`` (004 eq. (23d))."""
    W = design.W
    return (jnp.sum(jnp.real(W) ** 2 + jnp.imag(W) ** 2) + jnp.real(jnp.trace(design.R_AN)))


def _eff(H, G):
    """Rows ``h_eff = G^H h`` (004 eqs. (17)-(18)) for receivers ``H (J, N)``."""
    return H @ jnp.conj(G)


def secrecy_throughput_theta(theta_comm: Float[Array, "L N"], system: SimSystem, design: SimDesign,
                             s: SimScenario, model: str = "design") -> Float[Array, ""]:
    """``S = tau_comm sum_k R_k^sec`` (eq. (22) through the cascade (2), (17)-(18)) as a function of
    the communication phases; W, R_AN, tau from ``design``."""
    G = sim_cascade(theta_comm, system.h1, inter_layer(system, model))
    sec = sim_secrecy.secrecy_rates(_eff(system.H_users, G), _eff(system.H_eves, G), design.W,
                                    design.R_AN, s.noise, s.noise_eve)
    return design.tau[2] * jnp.sum(sec)


def crb_total_theta(theta_sense: Float[Array, "L N"], p_sense, system: SimSystem, design: SimDesign,
                    s: SimScenario, model: str = "design") -> Float[Array, ""]:
    """``CRB_total`` (eqs. (15), (28)) through ``G_SIM(theta_sense)`` with orthogonal probing of
    power ``p_sense`` over ``T_s = s.sensing_snapshots`` samples spanning ``tau_sense T_slot``.

    The FIM is linear in ``p_sense`` (``X X^H`` scales with it), so this is ``c(theta) / p_sense``.
    """
    G = sim_cascade(theta_sense, system.h1, inter_layer(system, model))
    n_s = s.sensing_snapshots
    X = orthogonal_probing(system.h1.shape[1], n_s, p_sense, dtype=G.dtype)
    dt_sample = design.tau[1] * s.t_slot / n_s
    return sim_crb_total(system.targets, G, X, system.positions, s.wavelength, dt_sample, s.noise,
                         **sensing_model_kw(s))


def secrecy_throughput(system: SimSystem, design: SimDesign, s: SimScenario, model: str = "design"
                       ) -> Float[Array, ""]:
    """``S = tau_comm sum_k R_k^sec`` of ``design`` (bit/s/Hz per slot fraction)."""
    return secrecy_throughput_theta(design.theta_comm, system, design, s, model)


def crb_total(system: SimSystem, design: SimDesign, s: SimScenario, model: str = "design"
              ) -> Float[Array, ""]:
    """``CRB_total`` of ``design`` (same definition as ``evaluate_sim``'s ``crb_total``)."""
    return crb_total_theta(design.theta_sense, design.p_sense, system, design, s, model)


def utility(system: SimSystem, design: SimDesign, s: SimScenario, alpha, norm: Normalizers,
            model: str = "design") -> Float[Array, ""]:
    """``U(alpha) = (1 - alpha) S / R_max - alpha CRB_total / CRB_min`` (004 eq. (24), S = tau_comm
    sum_k R_k^sec). Larger is better."""
    S = secrecy_throughput(system, design, s, model)
    crb = crb_total(system, design, s, model)
    return (1.0 - alpha) * S / norm.r_max - alpha * crb / norm.crb_min
