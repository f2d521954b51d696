"""Paper-004 Sec.-V baselines, one drop each: TS, CF, SF, SL-RIS, NR-LBCD.

The paper only names them; our precise definitions (``docs/derivations/sim_lbcd.md``,
"Baselines"). All share the L-BCD normalisers ``R_max``/``CRB_min`` of the *SIM* system
(:func:`lbcd.compute_normalizers`, cached), so their utilities are on one scale.

* **TS** (time sharing): the sensing-only design (``sensing_only.sensing_only_design``) supplies
  ``theta_sense``; the communication-only design (alpha = 0) supplies ``theta_comm, theta_ce,
  W_RF, W_BB, R_AN``. No joint optimisation. Time: ``tau_ce = tau_min``, the free time
  ``F = 1 - 2 t_sw/T_slot - tau_min`` split ``tau_sense = clip(alpha F, tau_min, min(tau_max,
  F - tau_min))``, ``tau_comm = clip(F - tau_sense, tau_min, tau_max)``; one transmit power for both phases,
  ``P = min(P_max, E_max / (T_slot (tau_sense + tau_comm)))`` (energy shared in proportion to
  time); ``W_BB, R_AN`` rescaled to ``P``. The two designs were made independently, so (23h) is
  restored by pulling ``theta_sense`` onto the ``delta_Phi`` ball around ``theta_comm``
  (``block_c.restore_reconfiguration``). Then the discretisation phase.
* **CF** (communication-first): the communication-only design, then Blocks A and D only
  (sensing SIM, sensing power, time/power split) at the job's alpha with the communication
  variables' directions frozen ("sensing with what is left"). Discretised.
* **SF** (sensing-first): the sensing-only design's ``theta_sense``, frozen; the rest starts from
  Algorithm 1's initial design, with ``theta_comm`` pulled onto the ``delta_Phi`` ball around the
  sensing SIM so that (23h) holds (``lbcd.sensing_first_start``); then Blocks B, C, D, E at the
  job's alpha. Discretised. (L-BCD's ``sensing`` start is the same point with all five blocks.)
* **SL-RIS**: one layer of ``n_ris = ceil(sqrt(L N_l))^2`` elements (the scenario, hence the UPA
  layout, needs a square layer; 192 -> 196 = 14 x 14, i.e. the RIS gets >= as many elements as the
  SIM), same geometry otherwise, full L-BCD. :func:`sl_ris_scenario` builds it.
* **NR-LBCD**: :func:`lbcd.lbcd` with ``robust=False`` (same starting points as L-BCD).
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp

from ...designs.sim import SimDesign
from ...scenarios import SimScenario
from ...systems.sim import SimSystem, realize_sim_drops
from .lbcd import LbcdSettings, compute_normalizers, lbcd
from .objective import Normalizers, comm_power

__all__ = ["ts_time_power", "time_sharing", "comm_first", "sense_first", "sl_ris_scenario",
           "sl_ris_system", "sl_ris", "nr_lbcd"]


def _norm_only(system, s, norm, *, max_iter, tol, settings, blocks):
    """``norm`` if given (no solves), else the cached L-BCD normalisers."""
    if norm is not None:
        return Normalizers(float(norm.r_max), float(norm.crb_min)), {}
    nrm, _, _, info = compute_normalizers(system, s, robust=True, max_iter=max_iter, tol=tol,
                                          settings=settings, blocks=blocks)
    return nrm, info


def _norms(system, s, norm, *, max_iter, tol, settings, blocks):
    """Normalisers + the two single-objective designs (cached; robust=True so every scheme,
    NR-LBCD included, shares one scale)."""
    nrm, d_comm, d_sense, info = compute_normalizers(system, s, robust=True, max_iter=max_iter,
                                                     tol=tol, settings=settings, blocks=blocks)
    return (nrm if norm is None else Normalizers(float(norm.r_max), float(norm.crb_min)),
            d_comm, d_sense, info)


def ts_time_power(s: SimScenario, alpha: float):
    """TS resources: ``(tau (3,), P)`` as in the module docstring (floats)."""
    free = s.phase_time - s.tau_min
    tau_s = min(max(alpha * free, s.tau_min), s.tau_max, free - s.tau_min)   # leave tau_min for comm
    tau_c = min(max(free - tau_s, s.tau_min), s.tau_max)
    p = min(s.p_bs_max, s.energy_budget / (s.t_slot * (tau_s + tau_c)))
    return (s.tau_min, tau_s, tau_c), p


def _finish(system, s, design, *, alpha, norm, discretize, blocks, info):
    """Discretisation phase (31)-(32) of a baseline design (Alg. 1's last step), then the
    returned design's ``utility``, ``secrecy_throughput`` and ``crb_total`` (design model, as
    :func:`lbcd.lbcd` records them for the L-BCD family)."""
    from . import lbcd as _lbcd_mod

    info.setdefault("alpha", float(alpha))
    info.setdefault("design_continuous", design)
    if discretize:
        disc_fn = (_lbcd_mod.default_blocks() if blocks is None else blocks)["discretize"]
        try:
            new, dinfo = disc_fn(system, design, s, alpha=alpha, norm=norm, bits=s.phase_bits)
            info["discretization"] = {k: v for k, v in dict(dinfo).items()
                                      if isinstance(v, (str, int, float, bool)) or v is None}
            design = new
        except Exception as exc:
            info["discretization"] = {"status": f"error: {type(exc).__name__}: {exc}"[:300]}
            info["status"] = "discretize_failed"
    u, S, crb = _lbcd_mod._evaluate(system, design, s, float(alpha), norm)
    info.update(utility=u, secrecy_throughput=S, crb_total=crb)
    return design, info


def time_sharing(system: SimSystem, s: SimScenario, *, alpha, norm: Normalizers | None = None,
                 key=None, max_iter=None, tol=1e-3, discretize=True,
                 settings: LbcdSettings | None = None, blocks=None):
    """TS baseline (module docstring). ``key`` unused (the single-objective runs use the fixed
    normalisation keys)."""
    from .block_c import restore_reconfiguration

    norm, d_comm, d_sense, ninfo = _norms(system, s, norm, max_iter=max_iter, tol=tol,
                                          settings=settings, blocks=blocks)
    rdt = jnp.real(system.h1).dtype
    tau, p = ts_time_power(s, float(alpha))
    pc_old = comm_power(d_comm)
    scale = jnp.sqrt(jnp.where(pc_old > 0, p / jnp.where(pc_old > 0, pc_old, 1.0), 0.0))
    theta_sense = restore_reconfiguration(d_sense.theta_sense, d_comm.theta_comm, s.delta_phi)
    design = SimDesign(d_comm.theta_comm, theta_sense, d_comm.theta_ce, d_comm.W_RF,
                       d_comm.W_BB * scale, d_comm.R_AN * scale ** 2, jnp.asarray(tau, rdt),
                       jnp.asarray(p, rdt), jnp.asarray(p, rdt))
    info = {"status": "closed_form", "iterations": 0, "objective_history": [],
            "norm": {"r_max": norm.r_max, "crb_min": norm.crb_min, **ninfo}}
    return _finish(system, s, design, alpha=alpha, norm=norm, discretize=discretize,
                   blocks=blocks, info=info)


def _staged(system, s, start, active, *, alpha, norm, key, max_iter, tol, discretize, settings,
            blocks, robust=True):
    design, info = lbcd(system, s, alpha=alpha, norm=norm, robust=robust, key=key,
                        max_iter=max_iter, tol=tol, discretize=discretize, init=start,
                        settings=settings, blocks=blocks, active_blocks=active)
    return design, info


def comm_first(system: SimSystem, s: SimScenario, *, alpha, norm: Normalizers | None = None, key,
               max_iter=None, tol=1e-3, discretize=True, settings=None, blocks=None):
    """CF baseline: communication-only design, then Blocks A, D at ``alpha``."""
    norm, d_comm, _, ninfo = _norms(system, s, norm, max_iter=max_iter, tol=tol,
                                    settings=settings, blocks=blocks)
    design, info = _staged(system, s, d_comm, "AD", alpha=alpha, norm=norm, key=key,
                           max_iter=max_iter, tol=tol, discretize=discretize, settings=settings,
                           blocks=blocks)
    info["norm"].update(ninfo)
    return design, info


def sense_first(system: SimSystem, s: SimScenario, *, alpha, norm: Normalizers | None = None,
                key, max_iter=None, tol=1e-3, discretize=True, settings=None, blocks=None):
    """SF baseline: sensing-only design, then Blocks B, C, D, E at ``alpha``."""
    from .lbcd import initial_design, sensing_first_start

    norm, _, d_sense, ninfo = _norms(system, s, norm, max_iter=max_iter, tol=tol,
                                     settings=settings, blocks=blocks)
    st = settings or LbcdSettings()
    start = sensing_first_start(initial_design(system, s, coverage_deg=st.coverage_deg), d_sense, s)
    design, info = _staged(system, s, start, "BCDE", alpha=alpha, norm=norm, key=key,
                           max_iter=max_iter, tol=tol, discretize=discretize, settings=settings,
                           blocks=blocks)
    info["norm"].update(ninfo)
    return design, info


def sl_ris_scenario(s: SimScenario) -> SimScenario:
    """One layer of ``ceil(sqrt(L N_l))^2`` elements (square UPA), everything else unchanged."""
    n_tot = s.n_layers * s.n_per_layer
    side = math.isqrt(n_tot)
    side = side if side * side == n_tot else side + 1
    return dataclasses.replace(s, n_layers=1, n_per_layer=side * side)


def sl_ris_system(s: SimScenario, key, n_drops: int) -> tuple[SimScenario, SimSystem]:
    """The SL-RIS scenario and its realised drops (deterministic for one layer: no Rician draw)."""
    s_ris = sl_ris_scenario(s)
    return s_ris, realize_sim_drops(s_ris, key, n_drops)


def sl_ris(system: SimSystem, s: SimScenario, ris_system: SimSystem, *, alpha,
           norm: Normalizers | None = None, key, max_iter=None, tol=1e-3, discretize=True,
           settings=None, blocks=None):
    """SL-RIS baseline on ``ris_system`` (one drop of :func:`sl_ris_system`), normalised by the
    SIM drop ``system``'s ``R_max``/``CRB_min``. Returns ``(design on the RIS, info)``."""
    norm, ninfo = _norm_only(system, s, norm, max_iter=max_iter, tol=tol, settings=settings,
                             blocks=blocks)
    s_ris = sl_ris_scenario(s)
    design, info = lbcd(ris_system, s_ris, alpha=alpha, norm=norm, robust=True, key=key,
                        max_iter=max_iter, tol=tol, discretize=discretize, settings=settings,
                        blocks=blocks)
    info["norm"].update(ninfo)
    info["n_elements"] = s_ris.n_per_layer
    return design, info


def nr_lbcd(system: SimSystem, s: SimScenario, *, alpha, norm: Normalizers | None = None, key,
            max_iter=None, tol=1e-3, discretize=True, settings=None, blocks=None):
    """NR-LBCD: L-BCD with ``robust=False`` (normalised like the robust run)."""
    norm, ninfo = _norm_only(system, s, norm, max_iter=max_iter, tol=tol, settings=settings,
                             blocks=blocks)
    design, info = lbcd(system, s, alpha=alpha, norm=norm, robust=False, key=key,
                        max_iter=max_iter, tol=tol, discretize=discretize, settings=settings,
                        blocks=blocks)
    info["norm"].update(ninfo)
    return design, info
