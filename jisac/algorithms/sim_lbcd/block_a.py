"""L-BCD Block A: sensing SIM phases and sensing power (paper 004 eqs. (35a)-(35f)).

Sub-problem (one drop; W, R_AN, theta_comm, tau fixed). The part of ``-U`` that depends on
``(theta_sense, P_sense)`` is ``alpha CRB_total / CRB_min`` (the secrecy term does not involve
them; (35a)'s ``-(1 - alpha) tau_comm / T_slot`` proxy is constant here because ``tau`` is
Block D's variable)::

    min  alpha CRB(theta_sense, P_sense) / CRB_min
    s.t. T_slot (tau_sense P_sense + tau_comm P_comm) <= E_max            (23b), (35c)
         P_sense <= P_max                                                  (23e), (35f)
         |[Phi_l^sense]_nn| = 1                                            (35e)
         ||Phi_l^comm - Phi_l^sense||_F^2 <= delta_Phi  for all l          (23h)

Power (closed form, = the dual solution). The FIM is linear in the probing power (``X X^H``
scales with ``P_sense``), so ``CRB(theta, P) = c(theta) / P`` with ``c > 0``: the objective is
strictly decreasing in ``P`` and separable from ``theta``. With multipliers ``mu`` for (23b) and
``nu`` for (23e), stationarity ``-alpha c / (CRB_min P^2) + mu T_slot tau_sense + nu = 0`` cannot
hold with ``mu = nu = 0``, so one of the two constraints binds:
``P_sense* = min(P_max, (E_max / T_slot - tau_comm P_comm) / tau_sense)`` with
``P_comm = sum_k ||w_k||^2 + tr(R_AN)`` (23d) and
``mu* = alpha c / (CRB_min T_slot tau_sense P*^2)`` when the energy constraint is the active one
(``nu* = alpha c / (CRB_min P_max^2) - mu* T_slot tau_sense`` otherwise). If the communication
energy alone exceeds the budget, no ``P_sense >= 0`` is feasible: ``P_sense`` is left unchanged and
``status = "energy_infeasible"`` (Block D restores (23b)).

Phases: projected (Riemannian) gradient descent with Armijo backtracking on the circle manifold
(``jisac.manifold.riemannian_gd``, jitted ``minimize``), objective
``alpha CRB / CRB_min + lambda_Phi sum_l [||Phi_l^comm - Phi_l^sense||^2 - delta_Phi]_+`` -- the same
reconfiguration penalty and ``lambda_Phi`` schedule as Block C
(:func:`jisac.algorithms.sim_lbcd.block_c.penalized_layer_descent`), so the sensing update
cannot silently break (23h). The residual is reported in ``info``. Details:
``docs/derivations/sim_lbcd.md`` ("Block A").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ... import manifold as mf
from ...designs.sim import SimDesign
from ...scenarios import SimScenario
from ...systems.sim import SimSystem
from .block_c import penalized_layer_descent, reconfiguration_residual, restore_reconfiguration
from .objective import Normalizers, comm_power, crb_total_theta

__all__ = ["optimal_sensing_power", "sensing_block"]

_crb = jax.jit(crb_total_theta, static_argnames=("s", "model"))


def optimal_sensing_power(design: SimDesign, s: SimScenario):
    """``(P_sense*, energy_feasible)``: ``min(P_max, (E_max/T_slot - tau_comm P_comm)/tau_sense)``
    (the KKT point of (35) in ``P_sense``, see the module docstring); if the communication energy
    alone breaks (23b) the current ``P_sense`` is returned with ``energy_feasible = False``."""
    tau_s, tau_c = design.tau[1], design.tau[2]
    e_rem = s.energy_budget / s.t_slot - tau_c * comm_power(design)      # W x slot fraction
    feasible = e_rem > 0
    p = jnp.minimum(s.p_bs_max, jnp.where(feasible, e_rem, 1.0) / tau_s)
    return jnp.where(feasible, p, design.p_sense), feasible


@functools.lru_cache(maxsize=None)
def _crb_objective(s: SimScenario, model: str):
    def f(z, system, design, p_sense, alpha, crb_min):
        crb = crb_total_theta(mf.circle_to_phases(z), p_sense, system, design, s, model)
        return alpha * crb / crb_min
    return f


def sensing_block(system: SimSystem, design: SimDesign, s: SimScenario, *, alpha,
                  norm: Normalizers, n_steps: int = 30, lambda_phi: float = 1.0,
                  delta_phi: float | None = None, kappa: float = 5.0, max_rounds: int = 6,
                  lambda_max: float = 1e6, margin: float = 0.01, restore: bool = True,
                  lr: float = 0.5, max_backtracks: int = 40, model: str = "design"
                  ) -> tuple[SimDesign, dict]:
    """Block A: ``P_sense`` in closed form, then ``n_steps`` Armijo Riemannian-GD steps on
    ``theta_sense`` per penalty round (``alpha CRB/CRB_min`` + reconfiguration penalty).

    ``info``: ``status`` (``"ok"`` | ``"restored"`` | ``"infeasible"`` | ``"energy_infeasible"``),
    ``p_sense`` (new), ``energy_dual`` (``mu*`` of (23b), 0 when (23e) binds instead),
    ``crb_before`` / ``crb_after`` (``CRB_total`` at the old and new point, design model),
    ``lambda_phi`` (final), ``residual`` (reconfiguration residual of the returned point),
    ``rounds``, ``history`` (penalised objective per round).
    """
    delta = float(s.delta_phi if delta_phi is None else delta_phi)
    rdt = jnp.real(design.p_sense).dtype
    crb_before = _crb(design.theta_sense, design.p_sense, system, design, s, model)
    p_new, e_ok = optimal_sensing_power(design, s)
    f = _crb_objective(s, model)
    data = (system, design, p_new, jnp.asarray(alpha, rdt), jnp.asarray(norm.crb_min, rdt))
    z_ref = mf.phases_to_circle(design.theta_comm)
    z, lam, rounds = penalized_layer_descent(
        f, mf.phases_to_circle(design.theta_sense), z_ref, delta, float(lambda_phi), data,
        n_steps=n_steps, n_sweeps=1, layerwise=False, kind="gd", lr=lr,
        max_backtracks=max_backtracks, kappa=kappa, max_rounds=max_rounds, lambda_max=lambda_max,
        margin=margin)
    theta = mf.circle_to_phases(z)
    res = float(reconfiguration_residual(design.theta_comm, theta, delta))
    status = "ok"
    if res > 0.0:
        if restore:
            theta = restore_reconfiguration(theta, design.theta_comm, delta)
            res = float(reconfiguration_residual(design.theta_comm, theta, delta))
            status = "restored"
        else:
            status = "infeasible"
    if not bool(e_ok):
        status = "energy_infeasible"
    new = SimDesign(design.theta_comm, theta, design.theta_ce, design.W_RF, design.W_BB,
                    design.R_AN, design.tau, p_new, design.p_comm)
    crb_after = _crb(theta, p_new, system, design, s, model)
    # CRB = c(theta) / P and the penalised objective is alpha CRB / CRB_min + lambda * pen
    c_after = float(crb_after) * float(p_new)
    energy_binds = bool(e_ok) and float(p_new) < s.p_bs_max
    mu = (float(alpha) * c_after / (norm.crb_min * s.t_slot * float(design.tau[1]) * float(p_new) ** 2)
          if energy_binds else 0.0)
    info = {
        "status": status,
        "p_sense": float(p_new),
        "energy_dual": mu,
        "crb_before": float(crb_before),
        "crb_after": float(crb_after),
        "lambda_phi": lam,
        "residual": res,
        "rounds": len(rounds),
        "history": [np.concatenate(r["history"]) for r in rounds],
    }
    return new, info
