"""Scheme entry points for paper-004 L-BCD and its baselines (``scheme=lbcd|nr_lbcd|ts|cf|sf|sl_ris``).

Signature (``jisac.schemes``): ``design(system_batched, s, params, key) -> (SimDesign_batched,
info)``. The convex blocks run through cvxpy outside jit, so drops are designed one by one in
Python (no ``vmap``), then stacked along the leading drop axis.

``info``: ``status`` (worst over drops, order ``jisac.algorithms.sim_lbcd.lbcd.STATUS_RANK``),
``solver_status`` (per drop), ``iterations`` (per drop), ``objective_history`` (per drop: merit
of the best iterate after each iteration), ``utility`` (per drop, design model, after
discretisation), ``drops`` (per-drop summaries: stop reason, rules, normalisers with the
alpha = 0 run's trajectory, constraint violations, timings, the chosen ``start`` and every
start's result ``starts``, the per-iteration ``trajectory`` (U, S, CRB, f_aug, penalty, rule
values) and the per-block-call ``block_log`` (status, accepted, reason, f before/after, time)),
``details`` (the full per-drop ``lbcd`` info). ``scheme=sl_ris``
designs on a different system: its ``info`` also carries ``system`` (the batched single-layer
``SimSystem``) and ``scenario`` (its ``SimScenario``), which the job must evaluate against.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..algorithms.sim_lbcd import baselines
from ..algorithms.sim_lbcd.lbcd import LbcdSettings, lbcd, worst_status
from ..algorithms.sim_lbcd.objective import Normalizers
from ..progress import scope
from ..scenarios import SimScenario
from ..systems.sim import SimSystem

__all__ = ["design_lbcd", "design_ts", "design_cf", "design_sf", "design_sl_ris", "run_drops"]

_SUMMARY_KEYS = ("status", "stop_reason", "iterations", "best_iteration", "utility",
                 "utility_continuous", "initial_utility", "secrecy_throughput", "crb_total",
                 "rules", "norm", "constraints", "discretization", "outage_polish", "lambda_phi",
                 "time_s", "n_elements", "alpha", "robust", "ce_requirement", "start", "starts",
                 "trajectory", "block_log", "continuous_cached", "continuous_time_s")


def _drop(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _common(s: SimScenario, params):
    alpha = s.alpha if params.alpha is None else float(params.alpha)
    norm = None if params.r_max is None else Normalizers(float(params.r_max), float(params.crb_min))
    kw = dict(alpha=alpha, norm=norm, max_iter=params.max_iterations, tol=params.tol,
              discretize=params.discretize,
              settings=LbcdSettings(order=params.order, starts=params.starts,
                                    polish_rounds=params.polish_rounds,
                                    polish_screen=params.polish_screen,
                                    outage_couplings=params.outage_couplings,
                                    sinr_floor=params.sinr_floor,
                                    ce_time=params.ce_time,
                                    norm_starts=params.norm_starts))
    return kw


def run_drops(system: SimSystem, key, one, shared: bool = False):
    """``one(system_i, key_i, i) -> (design, info)`` for every drop; stack and summarise.

    ``shared`` (``scheme.shared_design``): design drop 0 only and give every drop that design.
    Paper-004 drops differ only in the Rician evaluation coupling (10), which no design reads
    (the design model (9) is deterministic), so this is the same design problem; what the
    ``n_drops`` drops then average is the design's performance over coupling realisations, not
    the spread of the solver's random choices (starts, randomisation) between drops. Drop 0 gets
    the key it gets in the per-drop mode. ``info["drops"]`` (``metrics.json`` ``lbcd``) then
    holds the full summary once and ``{"design_of_drop": 0}`` for the others.
    """
    n = jax.tree_util.tree_leaves(system)[0].shape[0]
    keys = jax.random.split(key, n)
    designs, infos = [], []
    for i in range(1 if shared else n):
        with scope(f"drop {i}" + (" (design shared by all drops)" if shared else "")):
            d, inf = one(_drop(system, i), keys[i], i)
        designs.append(d)
        infos.append(inf)
    summaries = [{k: inf[k] for k in _SUMMARY_KEYS if k in inf} for inf in infos]
    if shared:
        designs, infos = designs * n, infos * n
        summaries += [{"design_of_drop": 0}] * (n - 1)
    stacked = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *designs)
    statuses = [str(inf.get("status", "unknown")) for inf in infos]
    info = {
        "status": worst_status(statuses),
        "solver_status": statuses,
        "iterations": [int(inf.get("iterations", 0)) for inf in infos],
        "objective_history": [list(inf.get("objective_history", [])) for inf in infos],
        "utility": [inf.get("utility") for inf in infos],
        "drops": summaries,
        "details": infos,
        "shared_design": bool(shared),
    }
    return stacked, info


def design_lbcd(system: SimSystem, s: SimScenario, params, key):
    """``scheme=lbcd`` (robust) and ``scheme=nr_lbcd`` (``params.robust = False``)."""
    kw = _common(s, params)
    if params.robust:
        return run_drops(system, key, lambda sy, k, i: lbcd(sy, s, robust=True, key=k, **kw),
                         shared=params.shared_design)
    return run_drops(system, key, lambda sy, k, i: baselines.nr_lbcd(sy, s, key=k, **kw),
                     shared=params.shared_design)


def design_ts(system: SimSystem, s: SimScenario, params, key):
    kw = _common(s, params)
    return run_drops(system, key, lambda sy, k, i: baselines.time_sharing(sy, s, key=k, **kw),
                     shared=params.shared_design)


def design_cf(system: SimSystem, s: SimScenario, params, key):
    kw = _common(s, params)
    return run_drops(system, key, lambda sy, k, i: baselines.comm_first(sy, s, key=k, **kw),
                     shared=params.shared_design)


def design_sf(system: SimSystem, s: SimScenario, params, key):
    kw = _common(s, params)
    return run_drops(system, key, lambda sy, k, i: baselines.sense_first(sy, s, key=k, **kw),
                     shared=params.shared_design)


def design_sl_ris(system: SimSystem, s: SimScenario, params, key):
    """Designs on the single-layer RIS system; ``info["system"]``, ``info["scenario"]`` say which."""
    kw = _common(s, params)
    n = jax.tree_util.tree_leaves(system)[0].shape[0]
    k_sys, k_des = jax.random.split(key)
    s_ris, ris = baselines.sl_ris_system(s, k_sys, n)
    design, info = run_drops(system, k_des, lambda sy, k, i: baselines.sl_ris(
        sy, s, _drop(ris, i), key=k, **kw), shared=params.shared_design)
    info["system"] = ris
    info["scenario"] = s_ris
    return design, info
