"""Algorithm 1 of paper 000 (robust secure TRIS-RSMA ISAC design), monotone BCD as implemented.

One drop, L slots. Blocks (derivation, monotonicity proof and the departures from the paper in
docs/derivations/tris_rsma.md, "Algorithm 1 as implemented"):

* B1 (per slot, `build_p21_margin_slot`): W_c, W_1..W_K with the B2 targets of the previous
  iterate fixed (chi_k, iota_k, the LU outage threshold u_k, gamma_c0 = 2^{sum_k C_k} - 1) and
  every (P2.1) constraint; maximises weighted SINR / leakage / common-rate margins. The previous
  W is feasible with zero margins, so the previous B2 point stays feasible.
* B2 (per slot, `build_p22_slot`): chi, iota (SCA (70) at the previous iota), C, u, o, omega with W
  fixed; R_c from (46) at W.
* t-LP: max (1/T) sum_l t_l f_l s.t. (34e)-(34f), solved exactly (greedy, `allocate_slots`).

The L slots of each block are independent given the previous iterate, so they are solved as one
batched layer call (`_solve_slots`: cvxpylayers/diffcp run the batch in a thread pool, one thread
per core; a slot that fails in the batch is re-solved alone with the solver fallback).

Iterate until the relative increase of F = (1/T) sum_l t_l f_l is below `tol` or
`max_iterations`; an iteration that would decrease F (solver round-off) is rejected and ends the
loop, so the recorded history is non-decreasing. Initialisation: a phase-1 B1 solve with the
trivial targets chi = 0, iota = iota_init, C = 0 (u = 2^{r_s} - 1), gamma_c0 = 0; if that
problem is infeasible (e.g. the detection floor exceeds the power budget) the drop returns
status "infeasible". Inaccurate/failed solves are retried with the other conic solver
(SCS <-> Clarabel); every attempt is recorded. Afterwards the SDR covariances are turned into
beams (`jisac.algorithms.rank_one`) scored by the exact robust objective
(`jisac.evaluation.tris_robust.slot_value`); when no candidate of a slot is feasible (or always,
`rank_one_repair="always"`) the candidates' powers are re-optimised with their directions fixed
(`jisac.algorithms.tris_power_repair`, the B1 block restricted to W_i = p_i w_i w_i^H) and
re-scored; t is re-allocated for the rank-1 values.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..convex.tris_blocks import build_p21_margin_slot
from ..convex.tris_p22 import build_p22_slot
from ..evaluation.tris_robust import SlotData, slot_data, slot_value
from .rank_one import recover_rank_one
from .tris_power_repair import repair_slot_powers

__all__ = ["BcdOptions", "allocate_slots", "b1_residual", "get_layers", "solve_drop"]

_LN2 = math.log(2.0)
_SOLVERS = {
    "SCS": {"solve_method": "SCS", "eps_abs": 1e-8, "eps_rel": 1e-8, "max_iters": 100000},
    "Clarabel": {"solve_method": "Clarabel"},
}


@dataclass(frozen=True)
class BcdOptions:
    robust: bool = True             # False: perfect-CSI variant (all error sets shrunk to 0)
    detection: bool = True          # (62) on/off (off only with an explicit scheme flag)
    power: str = "element"          # "element" (TRIS, (34d)) or "total" (TRSMA)
    max_iterations: int = 20
    tol: float = 1e-3
    solver: str = "Clarabel"        # first conic solver; the other one is the fallback
    n_random: int = 20              # Gaussian randomisations in the rank-1 recovery
    rank_one_repair: str = "infeasible"   # power repair of the rank-1 beams (fixed directions):
                                    # "infeasible" (only if no candidate is feasible), "always"
                                    # (also polish the best feasible one), "off"
    repair_candidates: int = 3      # candidates repaired at most (best first)
    iota_init: float = 1e3          # phase-1 leakage target (loose)
    seed: int = 0
    line_search: tuple = (1.0, 0.5, 0.25, 0.125)   # B1 step sizes tried (backtracking)
    batch_slots: bool = True        # solve the L slots of a block as one batched layer call
                                    # (thread pool, one thread per core); False: one by one
    backend: str = "layer"          # "layer" (CvxpyLayers built once, cached) or
                                    # "plain_rebuild" (plain cvxpy, rebuilt every call; benchmark)


def allocate_slots(f, t_min: float, t_max: float, t_total: float) -> np.ndarray:
    """Exact solution of the t-LP  max sum_l t_l f_l  s.t. t_min <= t_l <= t_max,
    sum_l t_l <= T  ((34e)-(34f)): every slot gets t_min, then the remaining time goes to the
    slots in decreasing order of f_l while f_l > 0, each up to t_max (fractional knapsack)."""
    f = np.asarray(f, float)
    t = np.full(f.shape, t_min)
    left = t_total - t_min * f.size
    for l in np.argsort(-f):
        if f[l] <= 0 or left <= 0:
            break
        add = min(t_max - t_min, left)
        t[l] += add
        left -= add
    return t


_CACHE: dict = {}


def get_layers(d: SlotData, N: int, K: int, M: int, backend: str = "layer"):
    """(B1, B2) blocks for this shape and these build-time constants.

    backend "layer": CvxpyLayers, built once per process and cached; "plain_rebuild": plain
    cvxpy problems rebuilt from scratch at every call (the benchmark's reference)."""
    b1_kw = dict(p_out_lu=d.p_out_lu, p_out_iu=d.p_out_iu, sigma_e=d.sigma_e, rate_e=d.r_e,
                 E_sqrt=d.E_sqrt, power=d.power)
    b2_kw = dict(p_out_lu=d.p_out_lu, sigma_e=d.sigma_e, r_s=d.r_s)
    if backend == "plain_rebuild":
        return (_Rebuild(lambda: build_p21_margin_slot(N, K, M, layer=False, **b1_kw)),
                _Rebuild(lambda: build_p22_slot(N, K, M, layer=False, **b2_kw)))
    key = (N, K, M, d.p_out_lu, d.p_out_iu, round(d.sigma_e, 12), d.r_e, d.r_s, d.power,
           np.asarray(d.E_sqrt).round(12).tobytes())
    if key not in _CACHE:
        _CACHE[key] = (build_p21_margin_slot(N, K, M, **b1_kw), build_p22_slot(N, K, M, **b2_kw))
    return _CACHE[key]


class _Rebuild:
    """A block that builds a fresh plain-cvxpy problem at every call."""

    def __init__(self, build):
        self.build = build

    def __call__(self, solver_args=None, **inp):
        return self.build()(solver_args=solver_args, **inp)

    def set_problem_parameters(self, **inp):
        self.last = self.build()
        self.last.set_problem_parameters(**inp)
        self.problem = self.last.problem


class SolveFailed(RuntimeError):
    pass


def b1_residual(W, d: SlotData) -> float:
    """Largest relative violation of the W-only constraints of B1 that are cheap to check:
    (34c), (34d) / total power, (62), (34k). cvxpylayers does not surface the Clarabel status
    (an infeasible problem comes back as a finite, wrong point), so every B1 output is checked."""
    W = np.asarray(W)
    N = W.shape[-1]
    elem = np.real(np.einsum("inn->n", W))
    pw = float(np.max(elem) - 1.0) if d.power == "element" else float(np.sum(elem) / N - 1.0)
    det = (d.p_min - float(np.sum(elem))) / max(d.p_min, 1.0)
    bp = (float(np.linalg.norm(W.sum(0) - d.R)) - d.sqd) / max(d.sqd, 1e-12)
    psd = float(max(-np.linalg.eigvalsh(Wi)[0] for Wi in W)) / N
    return max(pw, det, bp, psd)


def _solve(fn, first: str, attempts: list, tag: str, check=None):
    """Call fn(solver_args) with `first`, falling back to the other solver when the result is
    flagged inaccurate, an exception is raised, the output is not finite, or `check(out)`
    (a residual) exceeds 1e-5."""
    order = [first, "SCS" if first == "Clarabel" else "Clarabel"]
    last = None
    for name in order:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                out = fn(_SOLVERS[name])
                flat = out if isinstance(out, (list, tuple)) else [out]
                finite = all(np.all(np.isfinite(np.asarray(x))) for x in _leaves(flat))
                status = "optimal" if finite else "nan"
                if finite and check is not None:
                    res = check(out)
                    if res > 1e-5:
                        status = f"infeasible_output (residual {res:.2e})"
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # noqa: BLE001 - SolverError/ValueError, and solver
                # panics (Clarabel's pyo3 PanicException derives from BaseException)
                out, status = None, f"error: {type(e).__name__}: {str(e)[:120]}"
        if status == "optimal" and any("naccurate" in str(x.message) for x in w):
            status = "optimal_inaccurate"
        attempts.append({"block": tag, "solver": name, "status": status,
                         "time_s": round(time.perf_counter() - t0, 3)})
        if status == "optimal":
            return out, status
        if status == "optimal_inaccurate" and last is None:
            last = (out, status)
    if last is not None:
        return last
    raise SolveFailed(f"{tag}: all solvers failed")


def _solve_slots(block, first: str, attempts: list, tag: str, inputs: list, labels=None,
                 checks=None, batch: bool = True) -> list:
    """Solve one block for several slots. The slots' problems are independent, so with `batch`
    they are solved concurrently, one layer call per slot in a thread pool (one thread per core;
    Clarabel and SCS release the GIL). A slot whose result raised (solver panics included), is
    not finite or fails its `check` -- and every slot if any warned "inaccurate" (warnings
    cannot be attributed to a slot) -- is re-solved alone by `_solve` (with the solver
    fallback). Raises SolveFailed with `.slot` set when a slot fails with both solvers."""
    n = len(inputs)
    labels = list(range(n)) if labels is None else list(labels)
    checks = checks or [None] * n
    outs = [None] * n
    if batch and n > 1 and not getattr(block, "plain", False):
        # Our own thread pool, one layer call per slot, rather than one batched layer call: the
        # batched call solves in diffcp's multiprocessing ThreadPool, whose workers only catch
        # Exception -- a Clarabel panic (pyo3 PanicException, a BaseException; seen at N = 16,
        # "SVD error") kills the worker and the pool waits forever. Here every failure is caught
        # per slot and that slot is retried alone below.
        def one(i):
            try:
                return block(solver_args=_SOLVERS[first], **inputs[i]), None
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:  # noqa: BLE001 - incl. solver panics; recorded, retried
                return None, f"error: {type(e).__name__}: {str(e)[:120]}"

        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            with ThreadPoolExecutor(max_workers=min(n, os.cpu_count() or 1)) as pool:
                results = list(pool.map(one, range(n)))
        dt = time.perf_counter() - t0
        # a warning cannot be attributed to a slot: "inaccurate" anywhere re-solves every slot
        inaccurate = any("naccurate" in str(x.message) for x in w)
        for i, (out, err) in enumerate(results):
            if err is not None:
                status = err
            elif inaccurate:
                status = "optimal_inaccurate (batch)"
            else:
                finite = all(np.all(np.isfinite(np.asarray(x))) for x in _leaves([out]))
                status = "optimal" if finite else "nan"
                if finite and checks[i] is not None:
                    r = checks[i](out)
                    if r > 1e-5:
                        status = f"infeasible_output (residual {r:.2e})"
            attempts.append({"block": f"{tag} slot {labels[i]}", "solver": first,
                             "status": status, "time_s": round(dt / n, 3), "batch": n})
            if status == "optimal":
                outs[i] = out
    for i in range(n):
        if outs[i] is None:
            try:
                outs[i], _ = _solve(lambda a, i=i: block(solver_args=a, **inputs[i]), first,
                                    attempts, f"{tag} slot {labels[i]}", check=checks[i])
            except SolveFailed as e:
                e.slot = labels[i]
                raise
    return outs


def _leaves(x):
    if isinstance(x, dict):
        for v in x.values():
            yield from _leaves(v)
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def _b1_inputs(d: SlotData, tg: dict, W_prev=None) -> dict:
    """B1 inputs. Margin weights = first-order gain of the B2 objective per unit margin:
    a margin eta (noise units) raises the SINR by about eta sigma^2 / (I + sigma^2), worth
    1 / ((1 + chi) ln 2) per unit SINR; I, the nominal interference at the previous W (1 for
    the phase-1 solve, where there is no previous W)."""
    K, M = d.h.shape[0], d.g.shape[0]
    chi, iota, u, gc0 = tg["chi"], tg["iota"], tg["u"], tg["gamma_c0"]
    r_chi, r_iota, r_c = np.ones(K), np.ones((K, M)), 1.0
    if W_prev is not None:
        q = lambda A, x: float(np.real(np.vdot(x, A @ x)))
        Wp = W_prev[1:]
        for k in range(K):
            S = Wp.sum(0) - Wp[k]
            r_chi[k] = d.noise[k] / (q(S, d.h[k]) + d.noise[k])
            for m in range(M):
                r_iota[k, m] = d.neff[m] / (q(W_prev[0], d.g[m]) + d.neff[m])
        r_c = min(d.noise[k] / (q(Wp.sum(0), d.h[k]) + d.noise[k]) for k in range(K))
    return dict(h_hat=d.h, eps_sq=d.eps_sq, noise_lu=d.noise, u=u, gamma_c0=gc0, chi=chi,
                g_hat=d.g, tau_sq=d.tau_sq, K_dist=d.K_dist, delta_sq=d.delta_sq, iota=iota,
                P_t=1.0, p_min=d.p_min, R=d.R, sqrt_delta_bp=d.sqd,
                w_chi=r_chi / ((1 + chi) * _LN2),
                w_iota=r_iota / ((1 + iota) * _LN2)[:, None] / M,
                w_c=r_c / ((1 + gc0) * _LN2))


def _b2_inputs(d: SlotData, W, iota0) -> dict:
    from ..evaluation.tris_robust import common_rate_46
    return dict(W=W, h_hat=d.h, eps_sq=d.eps_sq, noise_lu=d.noise, g_hat=d.g, tau_sq=d.tau_sq,
                K_dist=d.K_dist, delta_sq=d.delta_sq, iota0=iota0,
                R_c=common_rate_46(np.asarray(W), d.h, d.sigma_e, d.noise))


def _b2_value(out) -> float:
    C, chi, iota = (np.asarray(out[k]) for k in ("C", "chi", "iota"))
    return float(np.sum(C + np.log2(1 + np.maximum(chi, 0)) - np.log2(1 + np.maximum(iota, 0))))


def _targets(out) -> dict:
    """B1 targets from a B2 solution, backed off by 1e-6 relative so that solver round-off in
    B2 cannot make the previous W infeasible for B1."""
    chi = np.maximum(np.asarray(out["chi"]), 0) * (1 - 1e-6)
    iota = np.maximum(np.asarray(out["iota"]), 0) * (1 + 1e-6) + 1e-9
    u = np.asarray(out["u"])
    u = u - 1e-6 * np.abs(u)
    gc0 = max(2.0 ** (float(np.sum(out["C"])) * (1 - 1e-6)) - 1.0, 0.0)
    return dict(chi=chi, iota=iota, u=u, gamma_c0=gc0)


def _phase1_status(b1, d, tg) -> str:
    """Plain-cvxpy status of the phase-1 B1 problem (distinguishes infeasible from failed)."""
    b1.set_problem_parameters(**_b1_inputs(d, tg))
    for solver in ("CLARABEL", "SCS"):
        try:
            b1.problem.solve(solver=solver)
            return str(b1.problem.status)
        except Exception:  # noqa: BLE001 - try the next solver
            continue
    return "solver_error"


def solve_drop(system, s, opt: BcdOptions, log=None) -> tuple[dict, dict]:
    """Run Algorithm 1 on one (unbatched) drop. Returns (arrays, info).

    arrays: W (L, N, K+1) beams in W^(1/2) (physical), t (L,) s, C (L, K) bps/Hz.
    info: status, solver_status (attempt records), iterations, objective_history (F of the
    SDR iterates, bps/Hz), objective_sdr / objective_rank_one (exact robust values), rank-1
    report per slot, timings.
    """
    say = log or (lambda m: None)
    L = s.n_slots
    K, N = np.asarray(system.H_hat).shape
    M = np.asarray(system.G_hat).shape[0]
    data = [slot_data(system, s, l, robust=opt.robust, detection=opt.detection, power=opt.power)
            for l in range(L)]
    attempts: list = []
    info = {"status": "unknown", "solver_status": attempts, "iterations": 0,
            "objective_history": [], "build_time_s": 0.0}

    def fail(status, W=None):
        info["status"] = status
        W = np.zeros((L, N, K + 1), complex) if W is None else W
        t = allocate_slots(np.zeros(L), s.t_min, s.t_max, s.t_total)
        return {"W": W, "t": t, "C": np.zeros((L, K))}, info

    if any(d.p_min > N * (1.0 + 1e-9) for d in data):
        # (62) asks for more total power than (34d) / the total-power limit can ever give
        p_min = max(d.p_min for d in data)
        say(f"detection floor p_min = {p_min:.3g} P_t > N P_t: infeasible")
        info["infeasible_reason"] = (f"detection power floor (62): total power >= {p_min:.4g} P_t "
                                     f"needed, N P_t = {N} P_t available")
        return fail("infeasible")
    t0 = time.perf_counter()
    b1, b2 = get_layers(data[0], N, K, M, opt.backend)
    info["build_time_s"] = time.perf_counter() - t0

    # ---- phase 1 -----------------------------------------------------------------------
    tg0 = dict(chi=np.zeros(K), iota=np.full(K, opt.iota_init),
               u=np.full(K, 2.0**s.r_s - 1.0), gamma_c0=0.0)
    b1_checks = [lambda out, d=d: b1_residual(out[0], d) for d in data]
    try:
        outs = _solve_slots(b1, opt.solver, attempts, "B1 phase-1",
                            [_b1_inputs(d, tg0) for d in data], checks=b1_checks,
                            batch=opt.batch_slots)
        Ws = [np.asarray(W) for W, _ in outs]
    except SolveFailed as e:
        st = _phase1_status(b1, data[e.slot], tg0)
        say(f"phase-1 failed; plain cvxpy status: {st}")
        return fail("infeasible" if "infeasible" in st else "solver_error")
    t_iter0 = time.perf_counter()
    try:
        b2o = _solve_slots(b2, opt.solver, attempts, "B2 init",
                           [_b2_inputs(d, Ws[l], np.zeros(K)) for l, d in enumerate(data)],
                           batch=opt.batch_slots)
    except SolveFailed:
        return fail("solver_error")
    f = np.array([_b2_value(o) for o in b2o])
    t = allocate_slots(f, s.t_min, s.t_max, s.t_total)
    F = float(np.sum(t * f) / s.t_total)
    info["objective_history"].append(F)
    say(f"init: F = {F:.5f}")
    status = "max_iterations"
    iter_times = []
    for it in range(1, opt.max_iterations + 1):
        ti = time.perf_counter()
        newW, newo, fn, alphas = list(Ws), list(b2o), f.copy(), [0.0] * L
        try:
            outs = _solve_slots(b1, opt.solver, attempts, f"B1 it {it}",
                                [_b1_inputs(d, _targets(b2o[l]), Ws[l])
                                 for l, d in enumerate(data)],
                                checks=b1_checks, batch=opt.batch_slots)
            Wb1 = [np.asarray(W) for W, _ in outs]
            # backtracking on the segment W_prev -> W (every W-only constraint is convex, so
            # the segment stays feasible); each slot accepts its first step that does not lower
            # its objective f_l (slots still searching are solved together, step by step)
            pending = list(range(L))
            for alpha in opt.line_search:
                if not pending:
                    break
                Wa = {l: Ws[l] + alpha * (Wb1[l] - Ws[l]) for l in pending}
                outs = _solve_slots(b2, opt.solver, attempts, f"B2 it {it} step {alpha}",
                                    [_b2_inputs(data[l], Wa[l], np.asarray(b2o[l]["iota"]))
                                     for l in pending], labels=pending, batch=opt.batch_slots)
                still = []
                for l, out in zip(pending, outs):
                    v = _b2_value(out)
                    if v >= f[l] - 1e-9 * max(abs(f[l]), 1.0):
                        newW[l], newo[l], fn[l] = Wa[l], out, max(v, f[l])
                        alphas[l] = alpha
                    else:
                        still.append(l)
                pending = still
        except SolveFailed:
            status = "converged_solver_stop"
            say(f"iteration {it}: a block failed with both solvers; keeping the last iterate")
            break
        tn = allocate_slots(fn, s.t_min, s.t_max, s.t_total)
        Fn = float(np.sum(tn * fn) / s.t_total)
        iter_times.append(time.perf_counter() - ti)
        info["iterations"] = it
        Ws, b2o, f, t = newW, newo, fn, tn
        rel = (Fn - F) / max(abs(F), 1e-9)
        F = max(Fn, F)
        info["objective_history"].append(F)
        info.setdefault("step_sizes", []).append(alphas)
        say(f"iteration {it}: F = {F:.6f} (relative increase {rel:.2e}, steps {alphas})")
        if rel < opt.tol:
            status = "converged"
            break
    if status == "converged_solver_stop":
        status = "converged"
    info["iteration_times_s"] = iter_times
    info["bcd_time_s"] = time.perf_counter() - t_iter0

    # ---- rank-1 recovery ------------------------------------------------------------------
    tr = time.perf_counter()
    beams, vals_sdr, vals_r1, Cs, reports = [], [], [], [], []
    for l, d in enumerate(data):
        sv = slot_value(Ws[l], d)
        vals_sdr.append(sv["value"] if sv["feasible"] else -np.inf)

        def score(w, d=d):
            r = slot_value(np.einsum("ni,mi->inm", w, w.conj()), d)
            return r["value"], r["feasible"]

        def repair(w, d=d):
            return repair_slot_powers(w, d, solver=opt.solver)

        w, rep = recover_rank_one(Ws[l], score, p_t=1.0, power=opt.power,
                                  n_random=opt.n_random, seed=opt.seed + l, repair=repair,
                                  repair_mode=opt.rank_one_repair,
                                  n_repair=opt.repair_candidates)
        r = slot_value(np.einsum("ni,mi->inm", w, w.conj()), d)
        rep["violations"] = {k: float(v) for k, v in r["violations"].items()}
        rep["value_sdr"] = float(sv["value"])
        rep["rank"] = [int(np.sum(np.linalg.eigvalsh(Wi) > 1e-6 * max(np.linalg.eigvalsh(Wi)[-1], 1e-30)))
                       for Wi in Ws[l]]
        reports.append(rep)
        beams.append(w * math.sqrt(s.p_t))
        vals_r1.append(r["value"])
        Cs.append(r["C"])
    t_r1 = allocate_slots(np.asarray(vals_r1), s.t_min, s.t_max, s.t_total)
    F_sdr = float(np.sum(t * np.asarray(vals_sdr)) / s.t_total)
    F_r1 = float(np.sum(t_r1 * np.asarray(vals_r1)) / s.t_total)
    info.update(rank_one=reports, rank_one_repair=[r["repair"]["status"] for r in reports],
                objective_sdr=F_sdr, objective_rank_one=F_r1,
                rank_one_gap=F_sdr - F_r1, rank_one_time_s=time.perf_counter() - tr)
    if not all(r["feasible"] for r in reports):
        status = "rank_one_infeasible"
    info["status"] = status
    say(f"rank-1: F_sdr = {F_sdr:.5f}, F_rank1 = {F_r1:.5f}, status = {status}")
    return {"W": np.stack(beams), "t": t_r1, "C": np.stack(Cs)}, info
