"""Benchmark: one call of paper-004 L-BCD block B (``beamforming_block``) at the Sec.-V size.

Scenario: ``SimScenario()`` defaults = 004 Sec. V (M = 32 BS antennas, R_RF = 8, L = 3 layers
of N_l = 64 elements, K = 4 users, E = 2 eavesdroppers), one drop, float64; the input design is
the L-BCD initialisation (``lbcd.initial_design``) and the CSI radii are the driver's
``nominal_eps_csi`` -- i.e. the first block-B call of ``lbcd`` when block A is skipped. Default
block parameters (robust, ``n_rand = 64``, ``n_mc = 256``, ``n_hybrid_iter = 100``, subspace
r = 2K + E + 4 = 14, Clarabel).

Measured (wall clock, ``time.perf_counter``): ``beamforming_block`` is called ``--calls`` times
(default 3) on the *same* input and key in one process. Call 1 includes every JIT compilation
and the cvxpy(layers) problem construction; later calls are steady state. Per call: ``time_s``
(the whole call), ``solver_s`` (``info["attempts"]``, the convex solve), and ``phase_s``, the
block's own per-phase split (``info["phase_s"]``: eavesdropper samples, outage linearisation,
subspace basis + parameters, layer lookup, SDR solve, Gaussian randomisation + hybrid
decomposition, candidate scoring, finalisation; each phase ends with ``block_until_ready``).
The calls must return identical designs (checked: ``max_abs_diff_between_calls``).

``--small``: a small instance (M = 16, R_RF = 4, L = 2 x 16, K = 2, E = 1; the subspace reduction
r = 9 < M still active) for quick iteration. ``--save PATH``: store the last call's design
(``W_RF``, ``W_BB``, ``R_AN``, candidate) as ``.npz`` to compare code versions.

``python -m benchmarks.block_b [--small] [--calls N] [--save PATH]`` prints one JSON line
(progress on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import jax
import numpy as np

SMALL = dict(n_bs_antennas=16, bs_rows=4, n_rf_chains=4, n_layers=2, n_per_layer=16,
             user_positions=((15.0, 0.0, 20.0), (25.0, 180.0, 30.0)),
             eve_positions=((20.0, 0.0, 35.0),), target_positions=((20.0, 0.0, 10.0),),
             target_velocities_mps=(4.0,), target_rcs_m2=(1.0,), sensing_snapshots=16)


def run(small: bool = False, calls: int = 3, seed: int = 0, save: str | None = None) -> dict:
    jax.config.update("jax_enable_x64", True)
    from jisac.algorithms.sim_lbcd import block_b as bb
    from jisac.algorithms.sim_lbcd import lbcd as L
    from jisac.scenarios import SimScenario
    from jisac.systems.sim import realize_sim_drops

    s = SimScenario(**SMALL) if small else SimScenario()
    sy = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(seed), 1))
    init = L.initial_design(sy, s)
    eps_csi = L.nominal_eps_csi(sy, init, s)
    key = jax.random.fold_in(jax.random.PRNGKey(seed + 1), ord("B"))   # as the driver derives it
    jax.block_until_ready((init, eps_csi, key))
    out = {"benchmark": "block_b", "size": "small" if small else "sec_v",
           "M": s.n_bs_antennas, "R_RF": s.n_rf_chains, "L": s.n_layers, "N_l": s.n_per_layer,
           "K": s.n_users, "E": s.n_eves, "dtype": "float64", "backend": jax.default_backend(),
           "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine()}
    try:
        out["load_average"] = os.getloadavg()[0]
    except OSError:
        pass
    results, designs = [], []
    for c in range(calls):
        t = time.perf_counter()
        new, info = bb.beamforming_block(sy, init, s, eps_csi=eps_csi, key=key)
        jax.block_until_ready(new)
        wall = time.perf_counter() - t
        r = {"time_s": wall, "solver_s": sum(a[2] for a in info["attempts"]),
             "phase_s": {k: round(v, 4) for k, v in info.get("phase_s", {}).items()},
             "status": info["status"], "candidate": info.get("candidate"),
             "n_feasible_candidates": info.get("n_feasible_candidates"),
             "sum_secrecy_rate": info.get("sum_secrecy_rate")}
        results.append(r)
        designs.append(new)
        print(f"call {c + 1}: {json.dumps(r)}", file=sys.stderr, flush=True)
    out["first_call"] = results[0]
    if calls > 1:
        steady = results[1:]
        out["steady_call"] = {"time_s": float(np.mean([r["time_s"] for r in steady])),
                              "solver_s": float(np.mean([r["solver_s"] for r in steady])),
                              "phase_s": {k: float(np.mean([r["phase_s"].get(k, 0.0)
                                                            for r in steady]))
                                          for k in steady[0]["phase_s"]}}
        out["compile_s"] = results[0]["time_s"] - out["steady_call"]["time_s"]
        out["max_abs_diff_between_calls"] = max(
            float(np.max(np.abs(np.asarray(getattr(d, f)) - np.asarray(getattr(designs[0], f)))))
            for d in designs[1:] for f in ("W_RF", "W_BB", "R_AN"))
    out["calls"] = results
    if save:
        d = designs[-1]
        np.savez(save, W_RF=np.asarray(d.W_RF), W_BB=np.asarray(d.W_BB), R_AN=np.asarray(d.R_AN),
                 candidate=results[-1]["candidate"])
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--small", action="store_true", help="small instance (M=16, K=2, E=1)")
    ap.add_argument("--calls", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", default=None, help="store the last call's design as .npz")
    a = ap.parse_args()
    print(json.dumps(run(small=a.small, calls=a.calls, seed=a.seed, save=a.save)), flush=True)
