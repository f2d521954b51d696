"""Paper 000 Sec. V, ZF + AN (baseline 2). Private beams in the fixed zero-forcing directions of the LU
estimates (``multiple_access.zf_beamformer``), the per-stream powers, a free PSD AN covariance and
the slot durations designed jointly by SCA; robust outage constraints as the proposed scheme
(the paper: "jointly designing the timeslot duration, the covariance matrix of AN, and the
transmit power by utilizing the ZF beamforming and replacing the common stream with AN").

Problem and choices: docs/derivations/tris_baselines.md; slot block: ``block.py``.
"""

from __future__ import annotations

from .common import run_an_baseline

__all__ = ["zf_an"]


def zf_an(system, s, key, *, max_iter: int | None = None, tol: float | None = None,
          n_rand: int = 30, detection_cap: float = 1.0,
          detection_unreachable: str = "infeasible"):
    """Design one drop (unbatched ``TrisSystem``); returns ``(TrisAnDesign, info)``.

    ``max_iter``/``tol`` default to ``s.max_iterations``/``s.convergence_eps``.
    """
    return run_an_baseline(system, s, key, access="sdma", mode="robust", zf=True,
                           max_iter=s.max_iterations if max_iter is None else int(max_iter),
                           tol=s.convergence_eps if tol is None else float(tol),
                           n_rand=n_rand, detection_cap=detection_cap,
                           detection_unreachable=detection_unreachable)
