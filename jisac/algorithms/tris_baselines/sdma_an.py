"""Paper 000 Sec. V, SDMA + AN (baseline 4). SDR over W_k and a full-rank AN covariance, no common
message; robust outage constraints (corrected Bernstein (51)-(53), (58)-(60)), (34d), (62), (34k).

Problem and choices: docs/derivations/tris_baselines.md; slot block: ``block.py``.
"""

from __future__ import annotations

from .common import run_an_baseline

__all__ = ["sdma_an"]


def sdma_an(system, s, key, *, max_iter: int | None = None, tol: float | None = None,
          n_rand: int = 30, detection_cap: float = 1.0,
          detection_unreachable: str = "infeasible"):
    """Design one drop (unbatched ``TrisSystem``); returns ``(TrisAnDesign, info)``.

    ``max_iter``/``tol`` default to ``s.max_iterations``/``s.convergence_eps``.
    """
    return run_an_baseline(system, s, key, access="sdma", mode="robust", zf=False,
                           max_iter=s.max_iterations if max_iter is None else int(max_iter),
                           tol=s.convergence_eps if tol is None else float(tol),
                           n_rand=n_rand, detection_cap=detection_cap,
                           detection_unreachable=detection_unreachable)
