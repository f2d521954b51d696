"""Cached cvxpylayers for the convex blocks of paper 004's L-BCD (block B's SDR, eq. (36)).

One layer per shape ``(M, K, E, robust)``, built once (``functools.lru_cache``) and reused by every
BCD iteration and every drop. All data are Parameters (DPP), in the *normalised* units of
``docs/derivations/sim_lbcd.md`` ("Block B"): powers relative to the communication power budget
``P_b``, receiver channels scaled by ``sqrt(P_b / sigma^2)``, so noise = 1 and the power
constraint reads ``sum_k tr V_k + tr Z <= 1``.

Complex Hermitian variables ``V_k = w_k w_k^H`` (K of them) and ``Z = R_AN`` are carried in their
real embedding (``jisac.convex.embedding``); ``Re tr(G X) = tr(G_r^T X_r) / 2``.

Parameters (names; ``r`` = real-embedded 2M x 2M, ``v`` = embedded vector 2M):

* ``Gu{k}`` r: ``h_k h_k^H`` (user k);  ``GuL{k}`` r: ``h_k h_k^H / D_k^0`` (tangent of the user
  interference log, eq. (33)-(34));
* ``Ge{e}`` r: ``g_e g_e^H`` (eavesdropper e);  ``GeL{e}_{k}`` r: ``g_e g_e^H / T_ek^0`` and
  ``ce{e}_{k}``: ``1 - log T_ek^0`` (tangent of the eavesdropper total-power log);
* robust only: ``hu{k}`` v and ``eps2_{k}`` (squared CSI radius, S-procedure LMI),
  ``A{k}_{j}`` r (j = 0..K, j = K is Z) and ``b{k}``: the linearised moment surrogate (25).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import cvxpy as cp
import numpy as np

from ...convex.embedding import hermitian_from_layer, hermitian_variable, real_trace_product

__all__ = ["SLACK_WEIGHT", "BeamformingLayer", "beamforming_layer", "solve_beamforming_layer"]

#: penalty (per nat of objective) on one bit/s/Hz of violation of the linearised outage
#: constraint; an exact-penalty weight as long as its multiplier stays below it.
SLACK_WEIGHT = 10.0


class BeamformingLayer(NamedTuple):
    layer: object            # cvxpylayers.jax.CvxpyLayer
    problem: cp.Problem
    param_names: tuple
    m: int
    k: int
    e: int
    robust: bool
    gamma: float


def _herm_expr(hv):
    return hv.embedded


@functools.lru_cache(maxsize=None)
def beamforming_layer(m: int, k: int, e: int, robust: bool, gamma: float) -> BeamformingLayer:
    """Build the block-B SDR layer for shape (M, K, E) (see module doc and sim_lbcd.md).

    ``gamma`` (SINR threshold gamma_min of (23j), linear) is a build-time constant: it multiplies
    decision variables that are in turn multiplied by Parameters (``Q_k h_k`` in the LMI), which
    DPP forbids for a Parameter. It is fixed per scenario, so it is part of the cache key.
    """
    from cvxpylayers.jax import CvxpyLayer

    if m < 2 or k < 1 or e < 0:
        raise ValueError(f"need M >= 2, K >= 1, E >= 0; got M={m}, K={k}, E={e}")
    M2 = 2 * m
    P: dict = {}

    def par(name, shape=()):
        P[name] = cp.Parameter(shape, name=name)
        return P[name]

    Vh = [hermitian_variable(m, f"V{j}") for j in range(k)]
    Zh = hermitian_variable(m, "Z")
    V = [h.embedded for h in Vh]
    Z = Zh.embedded
    tot = sum(V) + Z
    slack = cp.Variable(k, nonneg=True, name="slack") if robust else None
    t = cp.Variable(k, name="t") if e > 0 else None
    cons = [x >> 0 for x in (*V, Z)]
    cons.append(sum(cp.trace(h.re) for h in (*Vh, Zh)) <= 1.0)          # (23c)-(23d), normalised
    gam = float(gamma)
    obj = 0
    for kk in range(k):
        Gu, GuL = par(f"Gu{kk}", (M2, M2)), par(f"GuL{kk}", (M2, M2))
        interf = tot - V[kk]
        # log(1 + SINR_k) = log(h^H (sum V + Z) h + 1) - log(D_k); the second (concave) log is
        # replaced by its tangent at D_k^0 (an upper bound, so the surrogate is a minorant).
        obj = obj + cp.log(real_trace_product(Gu, tot) + 1.0) - real_trace_product(GuL, interf)
        for ee in range(e):
            Ge = P[f"Ge{ee}"] if f"Ge{ee}" in P else par(f"Ge{ee}", (M2, M2))
            GeL = par(f"GeL{ee}_{kk}", (M2, M2))
            # -log(1 + SINR_e^(k)) = -log(T_ek) + log(I_ek): tangent of the convex -log T_ek.
            cons.append(t[kk] <= par(f"ce{ee}_{kk}") - real_trace_product(GeL, tot)
                        + cp.log(real_trace_product(Ge, interf) + 1.0))
        Q = V[kk] - gam * interf                                        # SINR_k >= gam (23j)
        if robust:
            h = par(f"hu{kk}", (M2,))
            lam = cp.Variable(nonneg=True, name=f"lam{kk}")
            Qh = cp.reshape(Q @ h, (M2, 1), order="F")
            corner = real_trace_product(Gu, Q) - gam - lam * par(f"eps2_{kk}")
            lmi = cp.bmat([[Q + lam * np.eye(M2), Qh], [Qh.T, cp.reshape(corner, (1, 1), order="F")]])
            cons.append(0.5 * (lmi + lmi.T) >> 0)                      # S-procedure, exact
            lin = par(f"b{kk}")
            for j in range(k + 1):
                X = V[j] if j < k else Z
                lin = lin + real_trace_product(par(f"A{kk}_{j}", (M2, M2)), X)
            cons.append(lin + slack[kk] >= 0)                          # linearised (25)
        else:
            cons.append(real_trace_product(Gu, Q) >= gam)
    if e > 0:
        obj = obj + cp.sum(t)
    if robust:
        obj = obj - SLACK_WEIGHT * np.log(2.0) * cp.sum(slack)
    prob = cp.Problem(cp.Maximize(obj), cons)
    assert prob.is_dpp(), "block-B SDR must be DPP"
    names = tuple(nm for nm in P if nm in {p.name() for p in prob.parameters()})
    variables = [v for h in (*Vh, Zh) for v in h.layer_variables]
    if robust:
        variables.append(slack)
    layer = CvxpyLayer(prob, parameters=[P[nm] for nm in names], variables=variables)
    return BeamformingLayer(layer, prob, names, m, k, e, robust, float(gamma))


def solve_beamforming_layer(bl: BeamformingLayer, params: dict, solver_args: dict | None = None):
    """Run the layer; returns ``(V (K, M, M), Z (M, M), slack (K,) or None)`` as complex/real NumPy.

    ``params`` maps every name of ``bl.param_names`` to a float64 array. Raises whatever the
    solver raises (the caller records it and retries / falls back).
    """
    import jax.numpy as jnp

    args = [jnp.asarray(np.asarray(params[nm], np.float64)) for nm in bl.param_names]
    out = bl.layer(*args, solver_args=solver_args or {})
    out = [np.asarray(o, np.float64) for o in out]
    mats = [hermitian_from_layer(out[2 * i], out[2 * i + 1]) for i in range(bl.k + 1)]
    V = np.stack(mats[: bl.k])
    Z = mats[bl.k]
    slack = out[2 * (bl.k + 1)] if bl.robust else None
    return V, Z, slack
