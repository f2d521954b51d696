"""Cached cvxpylayers for the convex blocks of paper 004's L-BCD (block B's SDR, eq. (36)).

One layer per shape ``(M, K, E, robust, gamma)``, built once (``functools.lru_cache``) and reused
by every BCD iteration and every drop. All data are Parameters (DPP), in the *normalised* units of
``docs/derivations/sim_lbcd.md`` ("Block B"): powers relative to the communication power budget
``P_b``, receiver channels scaled by ``sqrt(P_b / sigma^2)``, so noise = 1 and the power
constraint reads ``sum_k tr V_k + tr Z <= 1``.

Complex Hermitian variables ``V_k = w_k w_k^H`` (K of them) and ``Z = R_AN`` are held as
``jisac.convex.embedding.HermitianVariable`` (``Re`` symmetric, ``Im`` from its strict upper
triangle); PSD constraints act on the real embedding.

Size matters (cvxpy's DPP canonicalisation grows with the number of parameter *entries* times
cone rows; the first version with 2M x 2M embedded parameters for every linear form needed 5.5 GB
at M = 16, K = 4 and was OOM-killed at M = 32). Hence:

* a Hermitian data matrix ``G`` enters ``Re tr(G X) = sum(Re G * Re X) + 2 g_u . x_u`` as the pair
  ``(Re G (M, M), g_u = Im G strict upper triangle, row-major)`` -- ``M^2 + M(M-1)/2`` entries
  instead of ``4 M^2`` (``x_u`` = the free entries of ``Im X``);
* every linear form of the same data matrix is one scalar auxiliary variable tied by an equality
  (``y = Re tr(G X)``), and the tangent scalings ``1 / D^0`` multiply those scalars (parameter x
  variable, DPP), so no ``G / D^0`` matrix parameters;
* the outage linearisation of user k depends on ``(V, Z)`` only through ``S = sum_j V_j + Z`` and
  ``V_k`` (every rate in (25)-(27) is a function of ``S`` and ``S - V_k``), so it is two matrices
  ``B_k`` (on S) and ``C_k`` (on V_k), not K + 1.

Parameters (``{name}_re`` (M, M), ``{name}_im`` (M(M-1)/2,) for Hermitian data):

* ``Gu{k}``: ``h_k h_k^H``; ``iD{k}``: ``1 / D_k^0`` (user interference tangent, (33)-(34));
* ``Ge{e}``: ``g_e g_e^H``; ``iT{e}``: ``1 / T_e^0``, ``ce{e}``: ``1 - log T_e^0`` (eavesdropper
  total-power tangent; ``T_e^0`` does not depend on k);
* robust only: ``hu{k}`` (2M,) embedded channel and ``eps2_{k}`` (S-procedure LMI), ``B{k}``,
  ``C{k}``, ``b{k}``: the linearised moment surrogate (25).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import cvxpy as cp
import numpy as np

from ...convex.embedding import hermitian_from_layer, hermitian_variable

__all__ = ["SLACK_WEIGHT", "BeamformingLayer", "BeamformingProblem", "beamforming_layer",
           "beamforming_problem", "solve_beamforming_layer", "solve_beamforming_direct",
           "herm_param_values", "scale_lmi_parameters"]

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
    m_perp: int = 0
    lmi_scaled: bool = False


def herm_param_values(G) -> tuple:
    """``(Re Herm(G), Im Herm(G) strict upper triangle row-major)`` for a complex (M, M) ``G``;
    ``Re tr(G X) = Re tr(Herm(G) X)`` for Hermitian ``X``, ``Herm(G) = (G + G^H) / 2``."""
    G = np.asarray(G)
    H = 0.5 * (G + G.conj().T)
    r, c = np.triu_indices(G.shape[0], k=1)
    return np.ascontiguousarray(H.real), np.ascontiguousarray(H.imag[r, c])


@functools.lru_cache(maxsize=None)
def beamforming_layer(m: int, k: int, e: int, robust: bool, gamma: float,
                      m_perp: int = 0, lmi_scaled: bool = False) -> BeamformingLayer:
    """The block-B SDR as a CvxpyLayer for shape (M, K, E) (see module doc and sim_lbcd.md).

    ``gamma`` (SINR threshold gamma_min of (23j), linear) is a build-time constant: it multiplies
    decision variables that are in turn multiplied by Parameters (``Q_k h_k`` in the LMI), which
    DPP forbids for a Parameter. It is fixed per scenario, so it is part of the cache key.
    Memory of the DPP compile (measured, K = 4, E = 2, robust): M = 16 -> 1.0 GB / 7 s;
    M = 32 -> more than 12 GB (cvxpy's parameter tensor has (cone rows x variables) rows);
    use :func:`solve_beamforming_direct` there.
    """
    from cvxpylayers.jax import CvxpyLayer

    bp = beamforming_problem(m, k, e, robust, gamma, m_perp, lmi_scaled)
    layer = CvxpyLayer(bp.problem, parameters=[bp.params[nm] for nm in bp.param_names],
                       variables=bp.variables)
    return BeamformingLayer(layer, bp.problem, bp.param_names, m, k, e, robust, float(gamma),
                            m_perp, bool(lmi_scaled))


class BeamformingProblem(NamedTuple):
    problem: cp.Problem
    params: dict
    param_names: tuple
    variables: list
    m: int
    k: int
    e: int
    robust: bool
    m_perp: int = 0


@functools.lru_cache(maxsize=None)
def beamforming_problem(m: int, k: int, e: int, robust: bool, gamma: float,
                        m_perp: int = 0, lmi_scaled: bool = False) -> BeamformingProblem:
    """The parametrised cvxpy Problem behind :func:`beamforming_layer` (cheap to build).

    ``m_perp > 0``: the subspace-reduced form (``block_b``, docs/derivations/sim_lbcd.md
    "Subspace reduction"): ``m`` is the dimension r of the subspace U that holds every channel,
    and the AN gets one extra scalar ``z_perp >= 0``, ``Z = U Z_r U^H + z_perp (I - U U^H)``; it
    costs ``m_perp z_perp`` power, adds ``lam_k >= gamma z_perp`` (the U-perp block of the full
    S-procedure LMI) and ``zp{k} z_perp`` to the linearised outage constraint of user k.

    ``lmi_scaled``: the S-procedure LMI with its last row and column divided by ``||h_k||`` (a
    congruence: the same constraint) -- parameters ``hu{k} = h_k / ||h_k||``, ``is2_{k} =
    1 / ||h_k||^2``, ``eps2_{k} = eps_k^2 / ||h_k||^2`` (:func:`scale_lmi_parameters`). Measured
    on the Sec.-V block-B problem (benchmarks/README.md, ``conic_solvers``): Clarabel stops with
    InsufficientProgress on the unscaled LMI and reaches "optimal" on the scaled one, in ~1.5x the
    time; end to end (one Sec.-V drop) the L-BCD design was worse with it, so it is not the
    default (docs/derivations/sim_lbcd.md, "Block B")."""
    if m < 2 or k < 1 or e < 0 or m_perp < 0:
        raise ValueError(f"need M >= 2, K >= 1, E >= 0, m_perp >= 0; got M={m}, K={k}, E={e}, "
                         f"m_perp={m_perp}")
    M2, nu = 2 * m, m * (m - 1) // 2
    P: dict = {}

    def par(name, shape=()):
        P[name] = cp.Parameter(shape, name=name)
        return P[name]

    def herm_par(name):
        return par(f"{name}_re", (m, m)), par(f"{name}_im", (nu,))

    Vh = [hermitian_variable(m, f"V{j}") for j in range(k)]
    Zh = hermitian_variable(m, "Z")
    allh = (*Vh, Zh)
    S_re, S_im = sum(h.re for h in allh), sum(h.im_free for h in allh)

    def rtp(G, re, im):                       # Re tr(G X) from (Re X, free Im X entries)
        return cp.sum(cp.multiply(G[0], re)) + 2.0 * (G[1] @ im)

    gam = float(gamma)
    cons = [h.embedded >> 0 for h in allh]
    zp = cp.Variable(nonneg=True, name="z_perp") if m_perp > 0 else None
    cons.append(sum(cp.trace(h.re) for h in allh) + (m_perp * zp if zp is not None else 0)
                <= 1.0)                                               # (23c)-(23d), normalised
    obj = 0
    slack = cp.Variable(k, nonneg=True, name="slack") if robust else None
    t = cp.Variable(k, name="t") if e > 0 else None
    Ge = [herm_par(f"Ge{ee}") for ee in range(e)]
    Te = cp.Variable(e, name="T") if e > 0 else None
    iT = [par(f"iT{ee}") for ee in range(e)]
    ce = [par(f"ce{ee}") for ee in range(e)]
    for ee in range(e):
        cons.append(Te[ee] == rtp(Ge[ee], S_re, S_im))
    a = cp.Variable(k, name="a")          # h_k^H V_k h_k
    y = cp.Variable(k, name="y")          # h_k^H (S - V_k) h_k
    for kk in range(k):
        Gu = herm_par(f"Gu{kk}")
        I_re, I_im = S_re - Vh[kk].re, S_im - Vh[kk].im_free
        cons += [a[kk] == rtp(Gu, Vh[kk].re, Vh[kk].im_free), y[kk] == rtp(Gu, I_re, I_im)]
        # log(1 + SINR_k) = log(a + y + 1) - log(y + 1); the concave second log -> its tangent at
        # D^0 (an upper bound), so the objective is a minorant, tight at the current point.
        obj = obj + cp.log(a[kk] + y[kk] + 1.0) - par(f"iD{kk}") * y[kk]
        for ee in range(e):
            # -log(1 + SINR_e^(k)) = -log T_e + log I_ek: tangent of the convex -log T_e.
            cons.append(t[kk] <= ce[ee] - iT[ee] * Te[ee]
                        + cp.log(rtp(Ge[ee], I_re, I_im) + 1.0))
        if robust:
            Q = Vh[kk].embedded - gam * sum(h.embedded for j, h in enumerate(allh) if j != kk)
            h = par(f"hu{kk}", (M2,))
            lam = cp.Variable(nonneg=True, name=f"lam{kk}")
            Qh = cp.reshape(Q @ h, (M2, 1), order="F")
            if lmi_scaled:
                corner = (par(f"is2_{kk}") * (a[kk] - gam * y[kk] - gam)
                          - lam * par(f"eps2_{kk}"))
            else:
                corner = a[kk] - gam * y[kk] - gam - lam * par(f"eps2_{kk}")
            lmi = cp.bmat([[Q + lam * np.eye(M2), Qh], [Qh.T, cp.reshape(corner, (1, 1), order="F")]])
            cons.append(0.5 * (lmi + lmi.T) >> 0)                      # S-procedure, exact
            lin = (par(f"b{kk}") + rtp(herm_par(f"B{kk}"), S_re, S_im)
                   + rtp(herm_par(f"C{kk}"), Vh[kk].re, Vh[kk].im_free))
            if zp is not None:
                cons.append(lam >= gam * zp)            # U-perp block of the full-space LMI
                lin = lin + par(f"zp{kk}") * zp
            cons.append(lin + slack[kk] >= 0)                          # linearised (25)
        else:
            cons.append(a[kk] - gam * y[kk] >= gam)                    # SINR_k >= gamma (23j)
    if e > 0:
        obj = obj + cp.sum(t)
    if robust:
        obj = obj - SLACK_WEIGHT * np.log(2.0) * cp.sum(slack)
    prob = cp.Problem(cp.Maximize(obj), cons)
    assert prob.is_dpp(), "block-B SDR must be DPP"
    names = tuple(nm for nm in P if nm in {p.name() for p in prob.parameters()})
    variables = [v for h in allh for v in h.layer_variables]
    if robust:
        variables.append(slack)
    if zp is not None:
        variables.append(zp)
    return BeamformingProblem(prob, P, names, variables, m, k, e, robust, m_perp)


def scale_lmi_parameters(params: dict, k: int) -> dict:
    """Parameters of the unscaled problem -> those of ``lmi_scaled=True`` (same constraint)."""
    out = dict(params)
    for kk in range(k):
        h = np.asarray(params[f"hu{kk}"], np.float64)
        s2 = max(float(h @ h), 1e-300)
        out[f"hu{kk}"] = h / np.sqrt(s2)
        out[f"is2_{kk}"] = np.asarray(1.0 / s2)
        out[f"eps2_{kk}"] = np.asarray(params[f"eps2_{kk}"], np.float64) / s2
    return out


def _lift(mats, z_perp, basis):
    """``(V (K, M, M), Z (M, M))`` in the full space from the reduced solution: ``X = U X_r U^H``
    and ``Z += z_perp (I - U U^H)``; identity when ``basis`` is None."""
    V, Z = np.stack(mats[:-1]), mats[-1]
    if basis is None:
        return V, Z
    U = np.asarray(basis)
    up = lambda X: U @ X @ U.conj().T
    Z = up(Z) + float(z_perp) * (np.eye(U.shape[0]) - U @ U.conj().T)
    return np.stack([up(v) for v in V]), Z


def solve_beamforming_layer(bl: BeamformingLayer, params: dict, solver_args: dict | None = None,
                            basis=None):
    """Run the layer; returns ``(V (K, M, M), Z (M, M), slack (K,) or None)`` as complex/real NumPy.

    ``params`` maps every name of ``bl.param_names`` to a float64 array. Raises whatever the
    solver raises (the caller records it and retries / falls back). A subspace-reduced layer
    (``m_perp > 0``) needs its orthonormal ``basis (M, r)``; the output is lifted to C^M.
    """
    if (bl.m_perp > 0) != (basis is not None):
        raise ValueError("a reduced layer (m_perp > 0) needs `basis`, a full one must not get it")
    import jax.numpy as jnp

    args = [jnp.asarray(np.asarray(params[nm], np.float64)) for nm in bl.param_names]
    out = bl.layer(*args, solver_args=solver_args or {})
    out = [np.asarray(o, np.float64) for o in out]
    mats = [hermitian_from_layer(out[2 * i], out[2 * i + 1]) for i in range(bl.k + 1)]
    slack = out[2 * (bl.k + 1)] if bl.robust else None
    V, Z = _lift(mats, out[-1] if bl.m_perp > 0 else 0.0, basis)
    return V, Z, slack


def solve_beamforming_direct(bp: BeamformingProblem, params: dict, solver: str = "SCS",
                             basis=None):
    """Same problem solved by plain cvxpy with the parameter values as constants
    (``ignore_dpp=True``: no parameter tensor, so memory stays small at M = 32). Not
    differentiable; same outputs as :func:`solve_beamforming_layer`, plus cvxpy's status."""
    if (bp.m_perp > 0) != (basis is not None):
        raise ValueError("a reduced problem (m_perp > 0) needs `basis`, a full one must not get it")
    for nm in bp.param_names:
        bp.params[nm].value = np.asarray(params[nm], np.float64)
    bp.problem.solve(solver=solver, ignore_dpp=True)
    vals = [np.asarray(v.value, np.float64) if v.value is not None else np.full(v.shape, np.nan)
            for v in bp.variables]
    mats = [hermitian_from_layer(vals[2 * i], vals[2 * i + 1]) for i in range(bp.k + 1)]
    slack = vals[2 * (bp.k + 1)] if bp.robust else None
    V, Z = _lift(mats, vals[-1] if bp.m_perp > 0 else 0.0, basis)
    return V, Z, slack, bp.problem.status
