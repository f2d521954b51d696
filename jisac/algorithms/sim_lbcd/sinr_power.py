"""The least transmit power at which the robust SINR constraint (23j) of paper 004 is attainable
by *some* beams: Block D's fallback floor on ``p_comm`` (``sinr_floor="sdr"``; derivation:
``docs/derivations/sim_lbcd.md``, "Block D", "SINR floor when the beams cannot meet (23j)").

Problem (SDR, no AN: AN only lowers every user's SINR):

    P*(eps) = min  sum_k tr V_k
              s.t. V_k >= 0,
                   (h_k + d)^H (V_k - gamma sum_{j != k} V_j) (h_k + d) >= gamma s2
                   for all ||d|| <= eps_k                                         (23j)

with each semi-infinite row replaced by its exact S-procedure LMI (one quadratic constraint)

    [[Q_k + lam_k I, Q_k h_k], [h_k^H Q_k, h_k^H Q_k h_k - gamma s2 - lam_k eps_k^2]] >= 0,
    lam_k >= 0,  Q_k = V_k - gamma sum_{j != k} V_j.

It is solved with every ``V_k`` in ``span{h_1..h_K}`` (orthonormal basis ``U``, dimension ``K``):
for ``V_k = U v_k U^H`` the full-space LMI is block-diagonal in ``[U, U_perp]``, its ``U_perp``
block is ``lam_k I >= 0``, so the restricted problem is the K-dimensional LMI above on
``c_k = U^H h_k`` -- an exact restriction, hence an upper bound on the full-space ``P*`` (equal
to it on the instances of ``tests/test_lbcd_sinr_power.py``). Block B solves its SDR in a
subspace that contains ``span{h_k}`` and has a power row ``sum tr V_k + tr Z <= P_b``, so every
``P_b >= P*`` leaves B's SDR feasible (its outage rows carry slack; no other row binds).

Units: channels and radii divided by ``sqrt(s2)`` (noise 1), so powers come out in W.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

__all__ = ["min_robust_sinr_power"]

_SOLVERS = ("CLARABEL", "SCS")


def min_robust_sinr_power(hu, eps, gamma: float, noise: float) -> tuple[float, str]:
    """``(P*, status)`` for channels ``hu (K, M)`` (complex, the design model's effective
    channels), CSI radii ``eps (K,)`` (absolute, same units as ``hu``), SINR target ``gamma``
    (linear) and noise power ``noise`` (W). ``P* = inf`` when the SDR is infeasible (no beams
    meet (23j) at any power, e.g. ``eps_k >= ||h_k||``) or both solvers fail (``status`` says
    which). Plain cvxpy (not differentiated: D uses it as a constraint level only)."""
    hu = np.asarray(hu, complex)
    eps = np.broadcast_to(np.asarray(eps, np.float64), (hu.shape[0],))
    K = hu.shape[0]
    if np.any(eps >= np.linalg.norm(hu, axis=1)):
        # the ball holds h_k + d = 0: SINR_k = 0 there, whatever the beams
        return np.inf, "infeasible: eps_k >= ||h_k||"
    sc = 1.0 / np.sqrt(noise)
    U, _ = np.linalg.qr((hu * sc).T)                  # (M, K) orthonormal basis of span{h_k}
    c = (hu * sc) @ U.conj()                          # (K, K): row k = (U^H h_k)^T
    e = eps * sc
    V = [cp.Variable((K, K), hermitian=True) for _ in range(K)]
    cons = [v >> 0 for v in V]
    for k in range(K):
        Q = V[k] - gamma * sum(V[j] for j in range(K) if j != k)
        lam = cp.Variable(nonneg=True)
        ck = c[k].reshape(K, 1)
        corner = cp.real(ck.conj().T @ Q @ ck) - gamma - lam * e[k] ** 2
        lmi = cp.bmat([[Q + lam * np.eye(K), Q @ ck],
                       [ck.conj().T @ Q, cp.reshape(corner, (1, 1), order="F")]])
        cons.append(0.5 * (lmi + lmi.H) >> 0)
    prob = cp.Problem(cp.Minimize(cp.real(sum(cp.trace(v) for v in V))), cons)
    notes = []
    for solver in _SOLVERS:
        try:
            prob.solve(solver=solver)
        except cp.error.SolverError as exc:
            notes.append(f"{solver}: error {str(exc)[:80]}")
            continue
        if prob.status == "optimal":
            return float(prob.value), "optimal"
        if prob.status in ("infeasible", "infeasible_inaccurate"):
            return np.inf, f"infeasible ({solver})"
        notes.append(f"{solver}: {prob.status}")
    return np.inf, "failed: " + "; ".join(notes)
