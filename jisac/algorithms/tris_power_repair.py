"""Power repair of rank-1 TRIS-RSMA beams: fixed directions, re-optimised powers.

Given beams w_i (i = c, 1..K) of one slot (a rank-1 candidate of `jisac.algorithms.rank_one`),
keep the unit directions v_i = w_i / ||w_i|| and re-optimise the powers p_i >= 0 of
W_i = p_i v_i v_i^H. The slot problem is the margin-form (P2.1) block of Algorithm 1, built by
the SAME constraint builder (`build_p21_margin_slot(..., directions=v)`) with every Hermitian
variable W_i replaced by p_i v_i v_i^H (`jisac.convex.tris_blocks.RankOneVariable`). Every
constraint of the block is affine / SOC / LMI in the W_i, hence in p: (34d) becomes
sum_i p_i |v_i[n]|^2 <= P_t (linear), (62) and (46) linear, (34k) an SOC, the Bernstein rows
(51)-(53), (58)-(60) and the S-procedure LMIs (67), (73), (74) stay LMIs / SOCs in p. So the
restricted problem is convex (K+1 power variables plus the block's slacks and multipliers).

Targets. The block fixes the B2 quantities: the SINR / leakage targets chi_k, iota_k carry
signed margins (never a source of infeasibility); the common-rate target gamma_c0 and the LU
outage thresholds u_k are hard. They are taken from the exact evaluation (`slot_value`) of the
starting beams: with C_lo_k (smallest common share meeting (34h)) and R_c (common rate (46)),
the common-share targets are C_k = C_lo_k + theta (R_c - sum_j C_lo_j) / K (clipped to
[0, r_s]), u_k = 2^{r_s - C_k} - 1 and log2(1 + gamma_c0) = sum_k C_k, so any feasible p has
sum_k C_lo_k(p) <= sum_k C_k <= R_c(p): the common split of (34f)-(34h) holds. theta = 0.5
splits the candidate's slack (or deficit) between the LU-outage side and the common-rate side;
theta = 0 and 1 are tried when that is infeasible. After a feasible point the targets are
re-centred there (theta = 0.5; the previous point is then feasible for the new problem with
zero margins) and the block is solved again while the exact value increases (a few solves).
Each solve is followed by a line search on the segment from the current point p_cur (the
candidate, then the last accepted point) to the solution p: the steps alpha in (1, 1/2, 1/4,
1/8, 1/16) are evaluated exactly and the feasible one with the largest value is taken (the
margin objective is a first-order model; a full step can lose value, measured -11 % at N=9
from an already optimal rank-1 point). From an infeasible candidate the short steps keep most
of its value when its violation is small; from a feasible point every step is feasible (the
block's hard constraints are convex in p).

Each solution is mapped back to beams w_i = sqrt(p_i) v_i, put exactly inside (34d) / the total
power by `repair_power` (solver round-off), and re-evaluated by the exact robust evaluation;
feasibility is judged there, never by the block's own model. The caller (`recover_rank_one`)
re-scores the returned beams with its own `score`.
"""

from __future__ import annotations

import time

import numpy as np

from ..convex.tris_blocks import build_p21_margin_slot
from ..evaluation.tris_robust import SlotData, slot_value
from .rank_one import repair_power

__all__ = ["repair_slot_powers", "repair_targets"]


def _covariances(w: np.ndarray) -> np.ndarray:
    return np.einsum("ni,mi->inm", w, w.conj())


def repair_targets(sv: dict, d: SlotData, theta: float) -> dict:
    """B1 targets (chi, iota, u, gamma_c0) from an exact evaluation `sv` (module docstring)."""
    K = d.h.shape[0]
    C_lo = np.minimum(np.asarray(sv["C_lo"], float), d.r_s)     # inf (no threshold) -> u = 0
    slack = float(sv["R_c"]) - float(np.sum(C_lo))
    C = np.clip(C_lo + theta * slack / K, 0.0, d.r_s)
    u = 2.0 ** (d.r_s - C) - 1.0
    # both hard targets 1e-7 stricter, so solver round-off cannot break the exact check
    u = u + 1e-7 * np.abs(u)
    gc0 = 2.0 ** (float(np.sum(C)) * (1 + 1e-7) + 1e-9) - 1.0
    return dict(chi=np.maximum(np.asarray(sv["chi"]), 0.0), iota=np.maximum(sv["iota"], 0.0),
                u=u, gamma_c0=gc0)


def _solve(blk, inputs, solver: str) -> tuple[np.ndarray | None, str]:
    """Solve the restricted block; the other solver only after an error / inaccurate result
    (a clean "infeasible" from the first solver is final). Returns (p or None, status)."""
    blk.set_problem_parameters(**inputs)
    first = solver.upper()
    statuses = []
    for name in (first, "SCS" if first == "CLARABEL" else "CLARABEL"):
        try:
            kw = {"eps": 1e-9, "max_iters": 100000} if name == "SCS" else {}
            blk.problem.solve(solver=name, **kw)
            st = str(blk.problem.status)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # noqa: BLE001 - recorded (solver panics too), next solver
            st = f"error {type(e).__name__}: {str(e)[:80]}"
        statuses.append(f"{name}: {st}")
        if st in ("optimal", "infeasible", "unbounded"):
            break
    status = "; ".join(statuses)
    if st not in ("optimal", "optimal_inaccurate"):
        return None, status
    p = np.array([float(v.value) for v in blk.variables[: blk.k + 1]])
    return np.maximum(p, 0.0), status


def repair_slot_powers(w, d: SlotData, *, solver: str = "Clarabel", max_solves: int = 4,
                       thetas=(0.5, 0.0, 1.0), rel_improve: float = 1e-4,
                       steps=(1.0, 0.5, 0.25, 0.125, 0.0625)):
    """Re-optimise the powers of the beams w (N, K+1) (normalised units) for slot data d.

    Returns (w_new or None, info). w_new: the best feasible (exact evaluation) repaired beams;
    None when no solve gave a feasible point. info: status ("repaired" / "failed"), value_before,
    feasible_before, value_after, feasible_after, solves (one record per solve: theta, solver
    status, the line-search step taken, exact value and feasibility), build_time_s, time_s.
    """
    from .tris_rsma import _b1_inputs   # lazy: tris_rsma imports rank_one, which this module does

    t0 = time.perf_counter()
    w = np.asarray(w, complex)
    N, K1 = w.shape
    K, M = K1 - 1, d.g.shape[0]
    sv0 = slot_value(_covariances(w), d)
    info = {"status": "failed", "value_before": float(sv0["value"]),
            "feasible_before": bool(sv0["feasible"]), "value_after": None,
            "feasible_after": False, "solves": []}
    nrm = np.linalg.norm(w, axis=0)
    dirs = np.where(nrm > 0, w / np.where(nrm > 0, nrm, 1.0), 0.0)
    tb = time.perf_counter()
    # built per candidate on purpose: the directions enter as constants, since as Parameters the
    # channel terms (Parameter G x Parameter v v^H x Variable p) would not be DPP; the repair runs
    # only when no candidate of a slot is feasible, for at most `repair_candidates` of them
    blk = build_p21_margin_slot(N, K, M, p_out_lu=d.p_out_lu, p_out_iu=d.p_out_iu,
                                sigma_e=d.sigma_e, rate_e=d.r_e, E_sqrt=d.E_sqrt,
                                power=d.power, layer=False, directions=dirs)
    info["build_time_s"] = round(time.perf_counter() - tb, 3)
    dirs = blk.directions
    best, best_sv = None, None
    cur_w, cur_sv = w, sv0
    queue = list(thetas)
    n = 0
    while n < max_solves and queue:
        theta = queue.pop(0)
        n += 1
        inputs = _b1_inputs(d, repair_targets(cur_sv, d, theta), _covariances(cur_w))
        p, st = _solve(blk, inputs, solver)
        rec = {"theta": theta, "status": st}
        if p is not None:
            # line search on the segment p_cur -> p (the margin objective is a linearisation;
            # a full step can lose value): best exact value among the feasible steps
            p_cur = np.linalg.norm(cur_w, axis=0) ** 2
            step = None
            for alpha in steps:
                pa = np.maximum(p_cur + alpha * (p - p_cur), 0.0)
                wn = repair_power(dirs * np.sqrt(pa)[None, :], 1.0, d.power)
                sv = slot_value(_covariances(wn), d)
                if sv["feasible"] and (step is None or sv["value"] > step[1]["value"]):
                    step = (wn, sv, alpha)
            if step is None:
                rec |= {"feasible": False}
            else:
                wn, sv, alpha = step
                rec |= {"step": alpha, "value": float(sv["value"]), "feasible": True,
                        "max_violation": float(max(sv["violations"].values()))}
                improved = best is None or sv["value"] > best_sv["value"] + rel_improve * max(
                    abs(best_sv["value"]), 1.0)
                if best is None or sv["value"] > best_sv["value"]:
                    best, best_sv = wn, sv
                info["solves"].append(rec)
                if not improved:
                    break
                cur_w, cur_sv = wn, sv          # re-centre the targets at the feasible point
                queue = [0.5]
                continue
        info["solves"].append(rec)
        if best is not None:                     # a re-centred solve failed: keep the best
            break
    info["time_s"] = round(time.perf_counter() - t0, 3)
    if best is None:
        return None, info
    info |= {"status": "repaired", "value_after": float(best_sv["value"]), "feasible_after": True}
    return best, info
