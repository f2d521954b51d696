"""Scheme entry points of the paper-000 AN baselines (``scheme=zf_an|sdp_an|sdma_an|noma_an``).

Signature (``jisac.schemes``): ``design(system_batched, s, params, key) -> (TrisAnDesign_batched,
info)``. The convex blocks run through cvxpylayers outside jit, so drops are designed one by one
and stacked along the leading drop axis. ``info``: ``status`` (worst over drops),
``solver_status`` (per drop: per slot, per SCA block), ``iterations`` (per drop),
``objective_history`` (per drop), ``objective`` (per drop: time-weighted secrecy sum-rate (35)
of the returned design at the estimates, bps/Hz), ``details`` (the full per-drop info).

Evaluate / certify these designs with ``jisac.algorithms.tris_baselines.evaluate_an`` /
``certify_an`` (not ``evaluate_tris``: an AN covariance is not a column of ``W``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ..algorithms.tris_baselines import noma_an, sdma_an, sdp_an, zf_an
from ..progress import scope

__all__ = ["design_zf_an", "design_sdp_an", "design_sdma_an", "design_noma_an", "STATUS_RANK"]

# worst first; anything not listed ranks as worst
STATUS_RANK = ("infeasible", "solver_error", "optimal_inaccurate", "max_iterations", "converged")


def _drop(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _worst(statuses):
    rank = {s: i for i, s in enumerate(STATUS_RANK)}
    return min(statuses, key=lambda s: rank.get(s, -1))


def _run(fn, system, s, params, key):
    batched = system.H_hat.ndim == 3
    n = system.H_hat.shape[0] if batched else 1
    keys = jax.random.split(key, n)
    designs, infos = [], []
    for i in range(n):
        sy = _drop(system, i) if batched else system
        with scope(f"drop {i}"):
            d, inf = fn(sy, s, keys[i], max_iter=params.max_iterations, tol=params.tol,
                        n_rand=params.n_randomizations, detection_cap=params.detection_cap,
                        detection_unreachable=params.detection_unreachable)
        designs.append(d)
        infos.append(inf)
    if batched:
        design = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *designs)
    else:
        design = designs[0]
    info = {
        "status": _worst([inf["status"] for inf in infos]),
        "solver_status": [inf["solver_status"] for inf in infos],
        "iterations": [inf["iterations"] for inf in infos],
        "objective_history": [inf["objective_history"] for inf in infos],
        "objective": [inf["objective"] for inf in infos],
        "details": infos,
    }
    return design, info


def design_zf_an(system, s, params, key):
    """``scheme=zf_an`` (paper 000 Sec. V baseline 2)."""
    return _run(zf_an, system, s, params, key)


def design_sdp_an(system, s, params, key):
    """``scheme=sdp_an`` (baseline 3, non-robust)."""
    return _run(sdp_an, system, s, params, key)


def design_sdma_an(system, s, params, key):
    """``scheme=sdma_an`` (baseline 4)."""
    return _run(sdma_an, system, s, params, key)


def design_noma_an(system, s, params, key):
    """``scheme=noma_an`` (baseline 5)."""
    return _run(noma_an, system, s, params, key)
