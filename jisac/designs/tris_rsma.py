"""Scheme entry points for paper 000's proposed design (``scheme=rsma|trsma|perfect_csi``).

Signature (``jisac.schemes``): ``design(system_batched, s, params, key) -> (TrisDesign_batched,
info)``. The convex blocks run through cvxpylayers outside jit, so the drops are designed one
by one (Algorithm 1, ``jisac.algorithms.tris_rsma.solve_drop``) and stacked.

* ``rsma``: TRIS transceiver, per-element power (34d), robust (bounded + Gaussian CSI errors).
* ``trsma``: traditional transceiver, total power sum_i tr W_i <= N P_t instead of (34d).
* ``perfect_csi``: the same algorithm with every error set shrunk to zero (the design trusts
  the estimates; the job's certificate evaluates it under the true error models).

``info``: ``status`` (worst over drops), ``solver_status`` (per drop: list of solver attempts),
``iterations`` (per drop), ``objective_history`` (per drop), ``objective_rank_one``,
``rank_one_gap``, ``rank_one_repair`` (per drop, the per-slot power-repair statuses), ``drops``
(per-drop summaries).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..algorithms.tris_rsma import BcdOptions, solve_drop
from ..progress import report, reporter_active
from .tris import TrisDesign

__all__ = ["design", "options_from_params", "worst_status"]

# best -> worst; anything unknown ranks worst
_STATUS_RANK = ("converged", "max_iterations", "rank_one_infeasible", "solver_error", "infeasible")


def worst_status(statuses) -> str:
    rank = lambda st: _STATUS_RANK.index(st) if st in _STATUS_RANK else len(_STATUS_RANK)
    return max(statuses, key=rank)


def options_from_params(s, params) -> BcdOptions:
    return BcdOptions(
        robust=params.robust, detection=params.detection, power=params.power,
        max_iterations=s.max_iterations if params.max_iterations is None else params.max_iterations,
        tol=s.convergence_eps if params.tol is None else params.tol,
        solver=params.solver, n_random=params.n_random,
        rank_one_repair=params.rank_one_repair)


def design(system, s, params, key=None, log=None):
    """Algorithm 1 for every drop of the batched ``system`` (leading drop axis)."""
    import sys

    opt = options_from_params(s, params)
    n = jax.tree_util.tree_leaves(system)[0].shape[0]
    seeds = np.asarray(jax.random.randint(key, (n,), 0, 2**31 - 1)) if key is not None else np.arange(n)
    Ws, ts, Cs, infos = [], [], [], []
    for i in range(n):
        sys_i = jax.tree_util.tree_map(lambda x: x[i], system)
        if log is not None:
            say = log
        elif reporter_active():             # a job: its log.txt (jisac.progress)
            say = lambda m, i=i: report(f"drop {i}: {m}")
        else:
            say = lambda m, i=i: print(f"[{params.name} drop {i}] {m}", file=sys.stderr,
                                       flush=True)
        arr, info = solve_drop(sys_i, s, BcdOptions(**{**opt.__dict__, "seed": int(seeds[i])}),
                               log=say)
        Ws.append(arr["W"])
        ts.append(arr["t"])
        Cs.append(arr["C"])
        infos.append(info)
    d = TrisDesign(W=jnp.asarray(np.stack(Ws)), t=jnp.asarray(np.stack(ts)),
                   C=jnp.asarray(np.stack(Cs)))
    out = {
        "status": worst_status([inf["status"] for inf in infos]),
        "solver_status": [inf["solver_status"] for inf in infos],
        "iterations": [inf["iterations"] for inf in infos],
        "objective_history": [inf["objective_history"] for inf in infos],
        "objective_rank_one": [inf.get("objective_rank_one") for inf in infos],
        "rank_one_gap": [inf.get("rank_one_gap") for inf in infos],
        "rank_one_repair": [inf.get("rank_one_repair") for inf in infos],
        "drops": [{k: v for k, v in inf.items() if k != "solver_status"} for inf in infos],
    }
    return d, out
