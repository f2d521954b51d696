"""The sensing-only design of paper 004: the benchmark behind the normaliser ``CRB_min`` of (24).

Sec. II-F normalises the CRB by "``CRB_min``, the CRB of the sensing-only design" without saying
which problem that design solves. Running L-BCD at ``alpha = 1`` (our first reading) keeps every
communication constraint -- robust SINR (23j), secrecy outage (23f), (23h) against a
communication SIM, Block E's training time -- although communication has zero weight; at the
Sec. V point those constraints stopped the run after one iteration (Block D moved the frame into
sensing, B's SDR then had no feasible communication power, two B failures ended it), and its CRB
was 1.35x the CRB of the ``alpha = 0.5`` design, so ``CRB_min / CRB_total`` exceeded 1
(docs/derivations/sim_lbcd.md, "Normalisers").

Definition used here (the relaxation of (23) onto the sensing variables)::

    min  CRB_total(Phi_sense, tau_s, p_s)                             (15), (28)
    s.t. tau_min <= tau_s <= min(tau_max, 1 - 2 t_sw / T_slot - 2 tau_min)   (23a), (23i)
         T_slot tau_s p_s <= E_max,   p_s <= P_max                    (23b), (23e)
         |[Phi_l^sense]_nn| = 1                                       (35e)

The frame keeps its structure (``tau_ce = tau_comm = tau_min``, both switching intervals) but the
communication phase radiates nothing and no communication constraint applies. The sensing part
``(Phi_sense, tau_s, p_s)`` of *every* feasible ISAC design is feasible here, so at the global
optimum ``CRB_min <= CRB_total`` of every design of every scheme and ``CRB_min / CRB_total``
lies in ``(0, 1]``. What we compute is a local optimum in ``Phi_sense`` (the problem is not convex
in the phases), reached by block-coordinate descent on the two blocks, each solved exactly or by
a descent method, so the CRB never increases:

* ``(tau_s, p_s)`` for fixed phases: ``CRB = (a + b / tau_s^2) / p_s`` exactly
  (``block_d.crb_time_power_coefficients``), minimised in closed form by
  ``block_d._sensing_closed_form`` with ``tau_c = tau_min``, ``p_c = 0``.
* ``Phi_sense`` for fixed ``(tau_s, p_s)``: Block A (Riemannian GD with Armijo steps) at
  ``alpha = 1`` with ``delta_Phi`` above its largest possible value ``4 N`` (the communication
  SIM is unused, so (23h) is vacuous) and the communication power zeroed (so Block A's
  closed-form sensing power equals the one above).

Stops when the CRB falls by less than ``tol`` (relative) over one round, or after ``max_rounds``.
No SDP is solved. Sec. V drop of docs/reproduction.md: 36 rounds, 17 s, CRB 2.0e5 (initial
design) -> 5.8e4 (its optimal time/power) -> 10.0 (vs 114-214 for the ISAC designs of Fig. 1:
with (23h) against the communication SIM the same descent stalls at 164).
"""

from __future__ import annotations

import time
from typing import Callable, Mapping

import jax.numpy as jnp
import numpy as np

from ...designs.sim import SimDesign
from ...scenarios import SimScenario
from ...systems.sim import SimSystem
from .block_d import _sensing_closed_form, crb_time_power_coefficients
from .objective import Normalizers, crb_total

__all__ = ["sensing_frame", "sensing_only_design"]


def sensing_frame(s: SimScenario) -> tuple[float, float, float]:
    """``(tau_lo, tau_hi, t_bar)``: the range of ``tau_s`` in the sensing-only frame and the time
    left to sensing and communication, ``t_bar = 1 - 2 t_sw / T_slot - tau_ce`` (``tau_ce =
    tau_min``); ``tau_hi = min(tau_max, t_bar - tau_min)`` keeps ``tau_comm = tau_min``."""
    t_bar = s.phase_time - s.tau_min
    return s.tau_min, min(s.tau_max, t_bar - s.tau_min), t_bar


def _time_power(system, design, s):
    """Closed-form ``(tau_s, p_s)`` for the phases of ``design`` (module docstring)."""
    a, b = crb_time_power_coefficients(system, design, s)
    lo, hi, t_bar = sensing_frame(s)
    ts, ps, crb = _sensing_closed_form(
        np.asarray(lo), np.asarray(0.0), a=a, b=b, e_bar=s.energy_budget / s.t_slot,
        p_max=s.p_bs_max, tau_min=lo, tau_max=s.tau_max, t_bar=t_bar)
    return float(ts), float(ps), float(crb)


def _with(design: SimDesign, *, theta_sense=None, tau_s=None, p_s=None) -> SimDesign:
    """``design`` with new sensing phases / time / power; the unused communication SIM follows
    the sensing SIM so that (23h) holds trivially."""
    rdt = design.tau.dtype
    theta = design.theta_sense if theta_sense is None else theta_sense
    tau = design.tau if tau_s is None else jnp.asarray([design.tau[0], tau_s, design.tau[2]], rdt)
    p = design.p_sense if p_s is None else jnp.asarray(p_s, rdt)
    return SimDesign(theta, theta, design.theta_ce, design.W_RF, design.W_BB, design.R_AN, tau,
                     p, design.p_comm)


def sensing_only_design(system: SimSystem, s: SimScenario, init: SimDesign, *,
                        max_rounds: int = 100, tol: float = 1e-3,
                        block_a: Callable | None = None,
                        block_kwargs: Mapping | None = None) -> tuple[SimDesign, dict]:
    """Solve the sensing-only problem (module docstring) from ``init``'s sensing phases.

    ``block_a``: the Block-A function (default ``block_a.sensing_block``; tests pass stubs),
    called as ``block_a(system, design, s, alpha=1, norm=..., delta_phi=4N+1, **block_kwargs)``.

    Returns ``(design, info)``. ``design``: the sensing-only design -- ``theta_sense`` optimised,
    ``theta_comm = theta_sense`` (unused), ``W_BB = 0``, ``R_AN = 0``, ``p_comm = 0``,
    ``tau = [tau_min, tau_s, tau_min]``, ``p_sense``. ``info``: ``status`` (``converged`` |
    ``max_iterations``), ``iterations``, ``crb_history`` (CRB after each round, round 0 = the
    initial phases at their optimal time and power; non-increasing), ``crb_init`` (``init`` as
    given), ``tau_sense``, ``p_sense``, ``block_status`` (Block A's status per round),
    ``time_s``.
    """
    if block_a is None:
        from .block_a import sensing_block as block_a
    t0 = time.perf_counter()
    rdt = init.tau.dtype
    lo, _, _ = sensing_frame(s)
    n = init.theta_sense.shape[-1]
    d = SimDesign(init.theta_sense, init.theta_sense, init.theta_ce, init.W_RF,
                  jnp.zeros_like(init.W_BB), jnp.zeros_like(init.R_AN),
                  jnp.asarray([lo, init.tau[1], lo], rdt), init.p_sense, jnp.asarray(0.0, rdt))
    crb_init = float(crb_total(system, init, s))
    ts, ps, crb = _time_power(system, d, s)
    d = _with(d, tau_s=ts, p_s=ps)
    crb = float(crb_total(system, d, s))
    history, block_status, status = [crb], [], "max_iterations"
    kw = dict(block_kwargs or {})
    kw.setdefault("delta_phi", 4.0 * n + 1.0)
    for _ in range(max_rounds):
        new, binfo = block_a(system, d, s, alpha=1.0, norm=Normalizers(1.0, crb), **kw)
        block_status.append(str(dict(binfo).get("status", "ok")))
        cand = _with(d, theta_sense=new.theta_sense)
        ts, ps, _ = _time_power(system, cand, s)
        cand = _with(cand, tau_s=ts, p_s=ps)
        c_new = float(crb_total(system, cand, s))
        # Block A's Armijo steps and the exact (tau_s, p_s) step cannot raise the CRB: no
        # decrease (or NaN) means a stationary point
        if not c_new < crb:
            status = "converged"
            break
        rel = (crb - c_new) / crb
        d, crb = cand, c_new
        history.append(crb)
        if rel <= tol:
            status = "converged"
            break
    info = {"status": status, "iterations": len(history) - 1, "crb_history": history,
            "crb_init": crb_init, "tau_sense": float(d.tau[1]), "p_sense": float(d.p_sense),
            "block_status": block_status, "time_s": time.perf_counter() - t0}
    return d, info
