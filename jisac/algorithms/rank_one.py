"""Rank-1 recovery of paper 000's SDR covariances (constraint (34b) dropped in (P1)).

Candidates for one slot, from the SDR solution W_i (i = c, 1..K):

* principal eigenvector: w_i = sqrt(lambda_1(W_i)) v_1(W_i) (exact when rank W_i = 1);
* Gaussian randomisation: w_i = W_i^{1/2} z_i, z_i ~ CN(0, I) (so E w_i w_i^H = W_i),
  n_random draws.

Feasibility repair: TRIS (per-element power (34d)) -> `scale_to_element_power` (rows over P_t
land on P_t, direction kept); traditional transceiver (total power) -> one common scale to
sum ||w_i||^2 <= N P_t. Every candidate is scored by a caller-supplied `score(W (N, K+1)) ->
(value, feasible)` (the driver uses the exact robust slot objective of
`jisac.evaluation.tris_robust.slot_value`); the best feasible candidate wins, else the best
infeasible one (reported as such).
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
                     n_random: int = 20, seed: int = 0) -> tuple[np.ndarray, dict]:
    """Best rank-1 beams (N, K+1) for one slot and a report.

    Returns (w, info) with info: value (score of w), feasible, source ("principal" or
    "random"), n_candidates, n_feasible.
    """
    rng = np.random.default_rng(seed)
    cands = [("principal", repair_power(principal_beams(Wmats), p_t, power))]
    cands += [("random", repair_power(w, p_t, power))
              for w in gaussian_beams(Wmats, rng, n_random)]
    best, best_key, n_feas = None, None, 0
    for src, w in cands:
        val, feas = score(w)
        n_feas += int(feas)
        key = (bool(feas), float(val) if np.isfinite(val) else -np.inf)
        if best_key is None or key > best_key:
            best, best_key = (src, w, val, feas), key
    src, w, val, feas = best
    return w, {"value": float(val), "feasible": bool(feas), "source": src,
               "n_candidates": len(cands), "n_feasible": n_feas}
