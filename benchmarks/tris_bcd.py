"""Benchmark: Algorithm 1 of paper 000 (TRIS-RSMA BCD) with CvxpyLayers vs plain cvxpy rebuilt.

    python -m benchmarks.tris_bcd                   # N = 4 (2x2), quick
    python -m benchmarks.tris_bcd --n 16 --n 36     # Table-I size and the 6x6 TRIS (long)

For every N (square UPA, K=3 LUs and M=2 IUs of Table I unless --small, L=5 slots of the
scenario; detection (62) off by default because its power floor exceeds N P_t for N <= 9
(docs/derivations/scenarios.md); `--detection` keeps it, feasible at N >= 16): one full solve with the cached layers
and the L slots batched (build time reported separately), one with the cached layers solving the
slots one by one (`layer_serial`), and one with plain cvxpy problems rebuilt at every block call
(the same algorithm, the same solver: Clarabel). Reported: wall time of the layer build, of one BCD
iteration (mean over iterations) and of the full solve, per variant, and the ratios
reference / layer (per iteration and full solve). One JSON line on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time


def _scenario(n: int, small: bool):
    from jisac.scenarios import TrisScenario

    r = int(round(math.sqrt(n)))
    if r * r != n:
        raise SystemExit(f"--n must be a square (UPA r x r), got {n}")
    kw = dict(n_rows=r, n_cols=r, n_elements=n)
    if small:
        kw |= dict(n_slots=2, t_total_ms=4.0, lu_positions=((50.0, 22.5, 10.0), (70.0, 45.0, 20.0)),
                   iu_positions=((65.0, 35.0, 25.0),))
    return TrisScenario(**kw)


def _one(n: int, small: bool, max_iterations: int, detection: bool = False,
         backends=("layer", "layer_serial", "plain_rebuild")) -> dict:
    import jax

    from jisac.algorithms import tris_rsma as alg
    from jisac.systems.tris import realize_tris_drops

    s = _scenario(n, small)
    sysb = realize_tris_drops(s, jax.random.PRNGKey(0), 1)
    sys1 = jax.tree_util.tree_map(lambda x: x[0], sysb)
    out = {"n": n, "k": s.n_lu, "m": len(s.iu_positions), "l": s.n_slots}
    for backend in backends:
        alg._CACHE.clear()
        opt = alg.BcdOptions(detection=detection, max_iterations=max_iterations,
                             backend="plain_rebuild" if backend == "plain_rebuild" else "layer",
                             batch_slots=backend == "layer")
        t0 = time.perf_counter()
        _, info = alg.solve_drop(sys1, s, opt)
        total = time.perf_counter() - t0
        it = info.get("iteration_times_s", [])
        out[backend] = {
            "status": info["status"], "iterations": info["iterations"],
            "build_s": round(info["build_time_s"], 2),
            "bcd_s": round(info.get("bcd_time_s", float("nan")), 2),
            "iteration_mean_s": round(sum(it) / len(it), 2) if it else None,
            "full_solve_s": round(total, 2),
            "objective": info["objective_history"][-1] if info["objective_history"] else None,
            "objective_rank_one": info.get("objective_rank_one"),
        }
        # each variant as soon as it is known (a long run that is stopped keeps its numbers)
        print(json.dumps({"n": n, backend: out[backend]}), file=sys.stderr, flush=True)
    for ref in ("plain_rebuild", "layer_serial"):
        if ref not in out or "layer" not in out:
            continue
        out[f"ratio_full_{ref}_over_layer"] = round(out[ref]["full_solve_s"]
                                                    / out["layer"]["full_solve_s"], 3)
        if out["layer"]["iteration_mean_s"] and out[ref]["iteration_mean_s"]:
            out[f"ratio_iteration_{ref}_over_layer"] = round(
                out[ref]["iteration_mean_s"] / out["layer"]["iteration_mean_s"], 3)
    return out


def run(ns=(4,), small: bool = True, max_iterations: int = 20, detection: bool = False,
        backends=("layer", "layer_serial", "plain_rebuild")) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    return {"benchmark": "tris_bcd", "solver": "Clarabel",
            "detection": detection,
            "results": [_one(n, small, max_iterations, detection, backends) for n in ns]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, action="append", help="number of TRIS elements (square)")
    p.add_argument("--small", action="store_true", help="K=2, M=1, L=2 instead of Table I")
    p.add_argument("--max-iterations", type=int, default=20)
    p.add_argument("--detection", action="store_true",
                   help="keep the detection constraint (62) (feasible at N >= 16 with Table I)")
    p.add_argument("--backend", action="append", choices=("layer", "layer_serial", "plain_rebuild"),
                   help="which variants to run (default: all three)")
    a = p.parse_args(argv)
    print(json.dumps(run(tuple(a.n or (4,)), a.small, a.max_iterations, a.detection,
                         tuple(a.backend or ("layer", "layer_serial", "plain_rebuild")))))


if __name__ == "__main__":
    main()
