"""Benchmark: paper-004 L-BCD (Algorithm 1) at the Sec.-V size.

Scenario: ``SimScenario()`` defaults = 004 Sec. V (28 GHz, M = 32 BS antennas, R_RF = 8, L = 3
layers of N_l = 64 elements, K = 4 users, E = 2 eavesdroppers, 2 targets), one drop, float64,
alpha = 0.5, the real blocks A-E and the discretisation.

Measured (wall clock, ``time.perf_counter``):

* ``first_iteration_s``: ``lbcd(max_iter=1)`` on a fresh process -- JIT compilation of every
  block, cvxpy problem construction, plus one iteration;
* ``iteration_s``: mean iteration of the full solve below (steady state: everything compiled and
  cached; includes the driver's bookkeeping);
* ``compile_s = first_iteration_s - iteration_s``;
* ``full_solve_s`` / ``iterations`` / ``status``: ``lbcd`` to its stopping rules (at most
  ``scenario.max_iterations = 20``) with the normalisers *given* (bootstrap values
  ``S(init)``, ``CRB(init)``); the default ``norm=None`` path adds the alpha = 0 and alpha = 1
  runs (two more solves of the same kind), reported as ``normalisers_s`` only when
  ``with_normalisers=True``.

``python -m benchmarks.lbcd`` prints one JSON line; it runs with one BLAS thread, as
``experiments.sweep`` does (``jisac.runtime``), and without the compilation cache.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

import jax


def run(max_iter: int | None = None, with_normalisers: bool = False, seed: int = 0) -> dict:
    jax.config.update("jax_enable_x64", True)
    from jisac.algorithms.sim_lbcd import lbcd as L
    from jisac.algorithms.sim_lbcd.objective import Normalizers
    from jisac.scenarios import SimScenario
    from jisac.systems.sim import realize_sim_drops

    s = SimScenario()
    sy = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(seed), 1))
    init = L.initial_design(sy, s)
    _, S0, crb0 = L._evaluate(sy, init, s, 0.5, Normalizers(1.0, 1.0))
    norm = Normalizers(S0, crb0)
    key = jax.random.PRNGKey(seed + 1)
    out = {"benchmark": "lbcd", "M": s.n_bs_antennas, "R_RF": s.n_rf_chains, "L": s.n_layers,
           "N_l": s.n_per_layer, "K": s.n_users, "E": s.n_eves, "T": s.n_targets,
           "alpha": 0.5, "dtype": "float64", "backend": jax.default_backend(),
           "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine()}
    try:
        out["load_average"] = os.getloadavg()[0]
    except OSError:
        pass

    t = time.perf_counter()
    L.lbcd(sy, s, alpha=0.5, norm=norm, key=key, max_iter=1, init=init)
    out["first_iteration_s"] = time.perf_counter() - t
    print(f"first iteration {out['first_iteration_s']:.1f} s", file=sys.stderr, flush=True)

    # the full solve re-uses every compiled kernel / cached layer: its mean iteration is the
    # steady-state iteration, and first iteration - steady iteration is the compile time
    t = time.perf_counter()
    _, info = L.lbcd(sy, s, alpha=0.5, norm=norm, key=key, max_iter=max_iter, init=init)
    out["full_solve_s"] = time.perf_counter() - t
    out["iterations"] = info["iterations"]
    out["iteration_s"] = out["full_solve_s"] / max(info["iterations"], 1)
    out["compile_s"] = out["first_iteration_s"] - out["iteration_s"]
    per, acc = {}, {}
    for e in info["block_log"]:
        per.setdefault(e["block"], []).append(e["time_s"])
        acc.setdefault(e["block"], []).append(bool(e.get("accepted")))
    out["per_block_s"] = {k: sum(v) / len(v) for k, v in per.items()}
    out["per_block_accepted"] = {k: f"{sum(v)}/{len(v)}" for k, v in acc.items()}
    out["status"] = info["status"]
    out["stop_reason"] = info["stop_reason"]
    out["utility_initial"] = info["initial_utility"]
    out["utility_final"] = info["utility"]
    out["objective_history"] = info["objective_history"]
    if with_normalisers:
        t = time.perf_counter()
        L.compute_normalizers(sy, s, max_iter=max_iter, use_cache=False)
        out["normalisers_s"] = time.perf_counter() - t
    return out


if __name__ == "__main__":
    from jisac import runtime

    # the sweep's process settings (one BLAS thread), but no compilation cache: compile_s must
    # be the cold cost
    runtime.configure(cache=False)
    print(json.dumps(run()))
