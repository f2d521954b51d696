"""Benchmark: the conic solvers on the two expensive convex blocks, one problem each.

    python -m benchmarks.conic_solvers                 # both problems
    python -m benchmarks.conic_solvers --only block_b  # or --only tris_b1
    python -m benchmarks.conic_solvers --scs-iters 100000
    python -m benchmarks.conic_solvers --only tris_b1 --tris-side 6 --scs-iters 0   # N = 36

What it measures (plain cvxpy ``Problem.solve`` on the parametrised problem the block's layer is
built from, parameter values as the block passes them; wall time, the solver's own time,
iterations, cvxpy status and objective):

* ``block_b``: paper-004 L-BCD block B's subspace-reduced SDR (r = 14: 5 PSD cones of side 28,
  4 S-procedure LMIs of side 29, 12 exponential cones) at the Sec.-V initial design of one
  ``SimScenario()`` drop, as ``benchmarks.block_b`` calls it; Clarabel (the block's solver), the
  same problem with the S-procedure LMI rescaled (``_layers.beamforming_problem(lmi_scaled=True)``,
  a congruence: the same feasible set) and SCS (eps 1e-6, warm start off, capped iterations).
* ``tris_b1``: paper-000 block B1 (P2.1), phase-1 targets, slot 2 of one Table-I drop (N = 16,
  K = 3, M = 2, detection (62) on): Clarabel (the driver's first solver) and SCS (eps 1e-5, warm
  start off, capped iterations; the driver's fallback). ``--tris-side a`` builds it for an
  a x a TRIS (N = a^2; the cone sizes after canonicalisation are reported under ``cones``).

The block's layer does not surface the solver status (``tris_rsma.b1_residual`` and block B's
``_sdr_residuals`` check the returned point instead); this benchmark shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import time


def _solve(problem, solver: str, **kw) -> dict:
    t0 = time.perf_counter()
    err = None
    try:
        problem.solve(solver=solver, **kw)
    except Exception as e:  # noqa: BLE001 - a failed solve is a result here
        err = f"{type(e).__name__}: {str(e)[:100]}"
    st = problem.solver_stats
    return {"solver": solver, "wall_s": round(time.perf_counter() - t0, 2),
            "solve_s": None if st is None or st.solve_time is None else round(st.solve_time, 2),
            "iterations": None if st is None else st.num_iters,
            "status": err or problem.status,
            "objective": None if err or problem.value is None else float(problem.value)}


def block_b(scs_iters: int) -> dict:
    import jax

    from jisac.algorithms.sim_lbcd import _layers
    from jisac.algorithms.sim_lbcd import block_b as bb
    from jisac.algorithms.sim_lbcd import lbcd as L
    from jisac.scenarios import SimScenario
    from jisac.systems.sim import realize_sim_drops

    s = SimScenario()
    sy = jax.tree_util.tree_map(lambda x: x[0], realize_sim_drops(s, jax.random.PRNGKey(0), 1))
    init = L.initial_design(sy, s)
    captured = {}

    class _Captured(Exception):
        pass

    def capture(bl, params, solver_args=None, basis=None):
        captured.update(bl=bl, params=params)
        raise _Captured

    orig = bb.solve_beamforming_layer
    bb.solve_beamforming_layer = capture
    try:
        bb.beamforming_block(sy, init, s, eps_csi=L.nominal_eps_csi(sy, init, s),
                             key=jax.random.fold_in(jax.random.PRNGKey(1), ord("B")))
    finally:
        bb.solve_beamforming_layer = orig
    bl, params = captured["bl"], captured["params"]
    shape = (bl.m, bl.k, bl.e, bl.robust, bl.gamma, bl.m_perp)
    out = {"problem": "block_b", "shape_m_k_e_robust_gamma_mperp": list(shape), "runs": []}
    for scaled in (False, True):
        bp = _layers.beamforming_problem(*shape, lmi_scaled=scaled)
        vals = _layers.scale_lmi_parameters(params, bl.k) if scaled else params
        for nm in bp.param_names:
            bp.params[nm].value = vals[nm]
        r = _solve(bp.problem, "CLARABEL")
        out["runs"].append({"variant": "lmi_scaled" if scaled else "as_built", **r})
        if not scaled:
            r = _solve(bp.problem, "SCS", eps_abs=1e-6, eps_rel=1e-6, warm_start=False,
                       max_iters=scs_iters)
            out["runs"].append({"variant": "as_built", **r})
    return out


def tris_b1(scs_iters: int, slot: int = 2, side: int = 4) -> dict:
    import jax
    import numpy as np

    from jisac.algorithms import tris_rsma as alg
    from jisac.evaluation.tris_robust import slot_data
    from jisac.scenarios import TrisScenario
    from jisac.systems.tris import realize_tris_drops

    s = TrisScenario(n_rows=side, n_cols=side, n_elements=side * side)
    sy = jax.tree_util.tree_map(lambda x: x[0], realize_tris_drops(s, jax.random.PRNGKey(0), 1))
    K, N = np.asarray(sy.H_hat).shape
    M = np.asarray(sy.G_hat).shape[0]
    d = slot_data(sy, s, slot, robust=True, detection=True, power="element")
    b1, _ = alg.get_layers(d, N, K, M, "plain_rebuild")
    opt = alg.BcdOptions()
    tg0 = dict(chi=np.zeros(K), iota=np.full(K, opt.iota_init),
               u=np.full(K, 2.0 ** s.r_s - 1.0), gamma_c0=0.0)
    b1.set_problem_parameters(**alg._b1_inputs(d, tg0))
    P = b1.problem
    out = {"problem": "tris_b1_phase1", "n": N, "k": K, "m": M, "slot": slot,
           "scalar_variables": P.size_metrics.num_scalar_variables, "runs": []}
    out["cones"] = _cone_sizes(P)
    out["runs"].append(_solve(P, "CLARABEL"))
    if scs_iters > 0:
        out["runs"].append(_solve(P, "SCS", eps_abs=1e-5, eps_rel=1e-5, warm_start=False,
                                  max_iters=scs_iters))
    return out


def _cone_sizes(problem) -> dict:
    """Sides of the PSD cones and dimensions of the second-order cones after canonicalisation
    (what an interior-point step factorises), as ``{"psd": {side: count}, "soc": {dim: count}}``."""
    from collections import Counter

    data = problem.get_problem_data("CLARABEL")[0]
    dims = data["dims"]
    return {"psd": dict(sorted(Counter(dims.psd).items())),
            "soc": dict(sorted(Counter(dims.soc).items()))}


def run(only=("block_b", "tris_b1"), scs_iters: int = 5000, tris_side: int = 4) -> dict:
    import jax

    jax.config.update("jax_enable_x64", True)
    res = {"benchmark": "conic_solvers", "cpu_count": os.cpu_count()}
    try:
        res["load_average"] = os.getloadavg()[0]
    except OSError:
        pass
    if "block_b" in only:
        res["block_b"] = block_b(scs_iters)
    if "tris_b1" in only:
        res["tris_b1"] = tris_b1(scs_iters, side=tris_side)
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", action="append", choices=("block_b", "tris_b1"))
    p.add_argument("--scs-iters", type=int, default=5000, help="SCS iteration cap (0: no SCS run)")
    p.add_argument("--tris-side", type=int, default=4,
                   help="tris_b1 on a TRIS of side x side elements (Table I: 4, i.e. N = 16)")
    a = p.parse_args(argv)
    if a.tris_side < 1:
        p.error(f"--tris-side={a.tris_side}: must be >= 1")
    print(json.dumps(run(tuple(a.only or ("block_b", "tris_b1")), a.scs_iters, a.tris_side)))


if __name__ == "__main__":
    main()
