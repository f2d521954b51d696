"""Rank-1 recovery of paper 000's SDR covariances (constraint (34b) dropped in (P1)).

Candidates for one slot, from the SDR solution W_i (i = c, 1..K):

* principal eigenvector: w_i = sqrt(lambda_1(W_i)) v_1(W_i) (exact when rank W_i = 1);
* Gaussian randomisation: w_i = W_i^{1/2} z_i, z_i ~ CN(0, I) (so E w_i w_i^H = W_i),
  n_random draws.

Power scaling: TRIS (per-element power (34d)) -> `scale_to_element_power` (rows over P_t
land on P_t, direction kept); traditional transceiver (total power) -> one common scale to
sum ||w_i||^2 <= N P_t. Every candidate is scored by a caller-supplied `score(W (N, K+1)) ->
(value, feasible)` (the driver uses the exact robust slot objective of
`jisac.evaluation.tris_robust.slot_value`); the best feasible candidate wins, else the best
infeasible one (reported as such).

Power repair (optional `repair` callable; docs/derivations/tris_rsma.md, "Rank-1 recovery and
power repair"). Scaling alone cannot fix a candidate that violates, e.g., the Bernstein
IU-outage surrogate (58)-(60) by a fraction of a percent. With W_i = p_i v_i v_i^H (v_i the
candidate's unit directions, kept) every constraint of the slot problem that is affine / SOC /
LMI in the W_i stays so in p = (p_c, p_1..p_K) -- the per-element power (34d) becomes
sum_i p_i |v_i[n]|^2 <= P_t -- so re-optimising the powers is a small convex problem. For
TRIS-RSMA `jisac.algorithms.tris_power_repair.repair_slot_powers` solves the B1 (P2.1) block
built by the same constraint builder with W_i replaced by p_i v_i v_i^H. When no candidate is
feasible (`repair_mode="infeasible"`, the default; `"always"` also polishes a feasible best
candidate, `"off"` disables it) up to `n_repair` candidates, best first, are repaired; every
repaired beam set is RE-SCORED by the same `score` (feasibility judged by the exact checks, not
by the repair's model) and replaces the best candidate only if its (feasible, value) key is
larger, so the result is never worse than the best candidate. A failed repair is recorded in
info["repair"] and the old behaviour (best infeasible candidate) remains.
"""

from __future__ import annotations

from typing import Callable

import jax.numpy as jnp
import numpy as np

from ..hardware.tma import scale_to_element_power

__all__ = ["principal_beams", "gaussian_beams", "repair_power", "recover_rank_one"]


def principal_beams(Wmats: np.ndarray) -> np.ndarray:
    """(K+1, N, N) PSD -> (N, K+1) beams sqrt(lambda_1) v_1 (column i from W_i)."""
    lam, V = np.linalg.eigh(np.asarray(Wmats))
    return (np.sqrt(np.maximum(lam[:, -1], 0.0))[:, None] * V[:, :, -1]).T


def _psd_sqrt(A):
    lam, V = np.linalg.eigh(A)
    return (V * np.sqrt(np.maximum(lam, 0.0))[None, :]) @ V.conj().T


def gaussian_beams(Wmats: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, N, K+1) Gaussian-randomised beams w_i = W_i^{1/2} z_i, z_i ~ CN(0, I)."""
    Wmats = np.asarray(Wmats)
    K1, N, _ = Wmats.shape
    roots = np.stack([_psd_sqrt(W) for W in Wmats])
    z = (rng.standard_normal((n, K1, N)) + 1j * rng.standard_normal((n, K1, N))) / np.sqrt(2)
    return np.einsum("inm,sim->sni", roots, z)


def repair_power(w: np.ndarray, p_t: float, power: str = "element") -> np.ndarray:
    """Feasibility repair of (N, K+1) beams for the per-element (34d) or total power limit."""
    if power == "element":
        return np.asarray(scale_to_element_power(jnp.asarray(w), p_t))
    N = w.shape[0]
    tot = float(np.sum(np.abs(w) ** 2))
    return w * min(1.0, np.sqrt(N * p_t / tot)) if tot > 0 else w


def recover_rank_one(Wmats, score: Callable, *, p_t: float = 1.0, power: str = "element",
                     n_random: int = 20, seed: int = 0, repair: Callable | None = None,
                     repair_mode: str = "infeasible",
                     n_repair: int = 3) -> tuple[np.ndarray, dict]:
    """Best rank-1 beams (N, K+1) for one slot and a report.

    repair: optional `repair(w) -> (w_new or None, report)` (power re-optimisation with the
    directions of w fixed, e.g. `jisac.algorithms.tris_power_repair.repair_slot_powers`);
    repair_mode: "infeasible" (default: only when no candidate is feasible), "always" (also
    polish the best feasible candidate; kept only if it scores higher) or "off". Up to
    n_repair candidates are repaired, best first, stopping at the first feasible result; every
    repaired beam set is re-scored by `score`.

    Returns (w, info) with info: value (score of w), feasible, source ("principal", "random",
    or either + "+repair"), n_candidates, n_feasible, and repair: used (a repair was run),
    accepted (its result replaced the best candidate), status ("off", "not_needed",
    "repaired", "not_improved", "failed"), value_before / feasible_before (best candidate),
    value_after / feasible_after (result), attempts (per repaired candidate: its source, the
    score before and after, and the repair's own report).
    """
    if repair_mode not in ("infeasible", "always", "off"):
        raise ValueError(f"repair_mode must be 'infeasible', 'always' or 'off', got {repair_mode!r}")
    rng = np.random.default_rng(seed)
    cands = [("principal", repair_power(principal_beams(Wmats), p_t, power))]
    cands += [("random", repair_power(w, p_t, power))
              for w in gaussian_beams(Wmats, rng, n_random)]
    scored, n_feas = [], 0
    for src, w in cands:
        val, feas = score(w)
        n_feas += int(feas)
        key = (bool(feas), float(val) if np.isfinite(val) else -np.inf)
        scored.append((key, src, w, val, feas))
    ranked = sorted(range(len(scored)), key=lambda i: scored[i][0], reverse=True)
    best_key, src, w, val, feas = scored[ranked[0]]
    rep = {"used": False, "accepted": False, "status": "off" if repair is None else repair_mode,
           "value_before": float(val), "feasible_before": bool(feas), "value_after": float(val),
           "feasible_after": bool(feas), "attempts": []}
    run = repair is not None and (repair_mode == "always" or (repair_mode == "infeasible"
                                                              and not feas))
    if repair is not None and not run:
        rep["status"] = "not_needed" if repair_mode == "infeasible" else "off"
    if run:
        rep["used"] = True
        for i in ranked[:max(n_repair, 0)]:
            k0, s0, w0, v0, f0 = scored[i]
            wr, rinfo = repair(w0)
            att = {"source": s0, "value_before": float(v0), "feasible_before": bool(f0),
                   "value_after": None, "feasible_after": False, "report": rinfo}
            if wr is not None:
                vr, fr = score(wr)                    # judged by the caller's exact checks
                att |= {"value_after": float(vr), "feasible_after": bool(fr)}
                kr = (bool(fr), float(vr) if np.isfinite(vr) else -np.inf)
                if kr > best_key:
                    best_key, src, w, val, feas = kr, s0 + "+repair", wr, vr, fr
                    rep["accepted"] = True
            rep["attempts"].append(att)
            if att["feasible_after"]:
                break
        rep["status"] = ("repaired" if rep["accepted"] else
                         "not_improved" if any(a["feasible_after"] for a in rep["attempts"])
                         else "failed")
        rep["value_after"], rep["feasible_after"] = float(val), bool(feas)
    return w, {"value": float(val), "feasible": bool(feas), "source": src,
               "n_candidates": len(cands), "n_feasible": n_feas, "repair": rep}
