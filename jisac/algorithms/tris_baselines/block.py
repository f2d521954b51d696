"""One-slot SCA block shared by the AN baselines of paper 000 Sec. V, as a CvxpyLayer.

Model (one slot, normalised units: powers / P_t, LU channels * sqrt(P_t / sigma_n^2), IU
objective channels * g_scale sqrt(P_t / sigma_v^2), so every noise power is 1 and the
per-element budget (34d) is 1). Variables: private covariances W_1..W_K (SDR) and the AN
covariance Z (full-rank allowed), rate slacks u (K,), leakage slacks e (K,).

    max  sum_k (u_k - e_k)
    s.t. W_k >= 0, Z >= 0                                                  (34c)
         sum_k [W_k]_nn + [Z]_nn <= 1                                      (34d)
         tr(sum_k W_k + Z) >= p_min                                        (62) power floor
         ||sum_k W_k + Z - R||_F <= sqrt(delta)                            (34k)
         u_{pi_i} <= log2(1 + h_j^H X_{>=i} h_j) - LIN_{i,j}[log2(1 + h_j^H X_{>i} h_j)]
                     for every decoder position j of message position i    (SCA, rates)
         e_k >= LIN_{k,m}[log2(1 + g_m^H (W_k + Z) g_m)] - log2(1 + g_m^H Z g_m)   (SCA, IU)
         + access/robustness specific constraints (below).

``X_{>=i} = sum_{l >= i} W_{pi_l} + Z``. SDMA: one "position" per user, message k decoded only
by user k with all other private streams as interference (X_{>=k} -> sum_i W_i + Z, X_{>k} ->
sum_{i != k} W_i + Z). NOMA: SIC in the order pi (position i = user pi_i, decoded by positions
j >= i). LIN[.] is the first-order expansion of the concave log2(1 + tr(G X)) at the previous
iterate X0: log2(c0) + (tr(G X) + 1 - c0) / (c0 ln 2), c0 = 1 + tr(G X0); it upper-bounds
the concave term, so the block's feasible set is an inner approximation and its optimum
lower-bounds the true objective, tight at X0 (monotone SCA).

Extra constraints:
* robust (SDMA+AN, NOMA+AN, ZF+AN): LU outage, corrected (51)-(53) with
  Wbar = a W_{pi_i} - X_{>i} (a = 1/(2^{r_s} - 1)) for each decoder j of message i, with
  sigma = -ln(P_out1 / n_dec(i)) (union bound over the n_dec decoders, so
  Pr{R_{pi_i} < r_s} <= P_out1); IU outage, corrected (58)-(60) with Wbar = b W_k - Z
  (b = 1/(2^{r_e} - 1)) at the worst distance d_hat - D.
* nominal (SDP+AN): h_k^H W_k h_k >= gamma_s (h_k^H (S_k + Z) h_k + 1) and
  g_m^H W_k g_m <= gamma_e (g_m^H Z g_m + 1) at the estimates (no outage constraints).
* zf (ZF+AN): W_k = p_k v_k v_k^H with fixed unit ZF directions v_k (Parameters), p_k >= 0.

The layer is built once per (shape, constants) and cached (`an_block`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

from jisac.convex.bernstein import (
    bernstein_lower_constraints,
    bernstein_sigma,
    bernstein_upper_constraints,
    iu_leakage_outage_terms,
    lu_rate_outage_terms,
)
from jisac.convex.embedding import (
    embed_complex_matrix,
    embed_complex_vector,
    hermitian_from_layer,
    hermitian_variable,
    real_trace_product,
)

__all__ = ["AnBlock", "an_block", "build_an_block", "rate_terms", "LN2"]

LN2 = math.log(2.0)


def rate_terms(access: str, k: int):
    """List of (message position i, decoder position j) pairs of the rate constraints."""
    if access == "noma":
        return [(i, j) for i in range(k) for j in range(i, k)]
    return [(i, i) for i in range(k)]


@dataclass(frozen=True)
class AnBlock:
    """A built one-slot AN block. ``param_order``: names of the layer Parameters in order."""

    layer: object
    problem: cp.Problem
    n: int
    k: int
    m: int
    access: str      # "sdma" | "noma"
    mode: str        # "robust" | "nominal"
    zf: bool
    param_order: tuple
    terms: tuple     # rate_terms(access, k)
    gamma_s: float
    gamma_e: float

    def solve(self, values: dict, solver_args: dict):
        """Run the layer; returns (W (K, N, N) by position, Z (N, N)) as complex NumPy."""
        import jax.numpy as jnp

        args = [jnp.asarray(np.asarray(values[nm], np.float64)) for nm in self.param_order]
        out = self.layer(*args, solver_args=solver_args)
        out = [np.asarray(o, np.float64) for o in out]
        mats = [hermitian_from_layer(out[2 * i], out[2 * i + 1] if self.n > 1 else None)
                for i in range(self.k + 1)]
        return np.stack(mats[: self.k]), mats[self.k]


def _vec_to_upper(n):
    return np.triu_indices(n, k=1)


def an_block(n: int, k: int, m: int, *, access: str, mode: str, zf: bool,
             sigma_e: tuple, iu_sigma: tuple, p_out_lu: float, p_out_iu: float,
             r_s: float, r_e: float) -> AnBlock:
    """Cached `build_an_block` (module-level cache keyed by shape and constants, rounded)."""
    rnd = lambda x: float(f"{float(x):.12g}")
    return _cached(int(n), int(k), int(m), str(access), str(mode), bool(zf),
                   tuple(rnd(x) for x in sigma_e), tuple(rnd(x) for x in iu_sigma),
                   rnd(p_out_lu), rnd(p_out_iu), rnd(r_s), rnd(r_e))


@functools.lru_cache(maxsize=64)
def _cached(n, k, m, access, mode, zf, sigma_e, iu_sigma, p_out_lu, p_out_iu, r_s, r_e):
    return build_an_block(n, k, m, access=access, mode=mode, zf=zf, sigma_e=sigma_e,
                          iu_sigma=iu_sigma, p_out_lu=p_out_lu, p_out_iu=p_out_iu, r_s=r_s,
                          r_e=r_e)


def build_an_block(n: int, k: int, m: int, *, access: str, mode: str, zf: bool,
                   sigma_e: tuple, iu_sigma: tuple, p_out_lu: float, p_out_iu: float,
                   r_s: float, r_e: float) -> AnBlock:
    """Build the one-slot SCA block (module docstring) for N=n, K=k, M=m.

    Build-time constants (they multiply variables together with data, DPP): ``sigma_e`` (K,)
    the normalised LU error std per *position* (NOMA: in decoding order), ``iu_sigma`` (M,) the
    std of each entry of the normalised IU error (E^{1/2} = iu_sigma I), the outage
    probabilities and the thresholds r_s, r_e.
    """
    from cvxpylayers.jax import CvxpyLayer

    if access not in ("sdma", "noma") or mode not in ("robust", "nominal"):
        raise ValueError(f"access={access!r}, mode={mode!r}")
    N, K, M = n, k, m
    N2 = 2 * N
    P: dict = {}

    def par(name, shape=()):
        if name not in P:
            P[name] = cp.Parameter(shape, name=name)
        return P[name]

    Wv = [hermitian_variable(N, f"W{i}") for i in range(K)]
    Zv = hermitian_variable(N, "Z")
    W = [w.embedded for w in Wv]
    Z = Zv.embedded
    u = cp.Variable(K, name="u")
    e = cp.Variable(K, name="e")
    X = sum(W) + Z
    # (34c). ZF: W_k = p_k v_k v_k^H with p_k >= 0 is PSD by construction; an explicit PSD
    # constraint on it would remove every strictly feasible point (rank-1 matrix pinned by
    # equalities) and leave the interior-point solver "inaccurate".
    cons = ([] if zf else [w >> 0 for w in W]) + [Z >> 0]
    diag = sum(w.re for w in Wv) + Zv.re
    cons.append(diag[np.arange(N), np.arange(N)] <= 1.0)                           # (34d)
    cons.append(0.5 * cp.trace(X) >= par("p_min"))                                 # (62)
    cons.append(cp.norm(cp.vec((X - par("R", (N2, N2)))[:, :N], order="F"))
                <= par("sqd"))                                                       # (34k)

    def after(i):      # X_{>i}: streams decoded after position i, plus AN
        if access == "noma":
            return sum((W[l] for l in range(i + 1, K)), Z)
        return sum((W[l] for l in range(K) if l != i), Z)

    terms = rate_terms(access, K)
    for q, (i, j) in enumerate(terms):
        Gj = par(f"G{j}", (N2, N2))
        incl = W[i] + after(i)
        cons.append(u[i] <= cp.log(real_trace_product(Gj, incl) + 1.0) / LN2
                    - real_trace_product(par(f"LG{q}", (N2, N2)), after(i)) - par(f"LC{q}"))
    for kk in range(K):
        for mm in range(M):
            Go = par(f"Go{mm}", (N2, N2))
            cons.append(e[kk] >= real_trace_product(par(f"EG{kk}_{mm}", (N2, N2)), W[kk] + Z)
                        + par(f"EC{kk}_{mm}") - cp.log(real_trace_product(Go, Z) + 1.0) / LN2)

    gamma_s, gamma_e = 2.0**r_s - 1.0, 2.0**r_e - 1.0
    if mode == "robust":
        a, b = 1.0 / gamma_s, 1.0 / gamma_e
        s2 = bernstein_sigma(p_out_iu)
        n_dec = {i: sum(1 for (ii, _) in terms if ii == i) for i in range(K)}
        for q, (i, j) in enumerate(terms):
            s1 = bernstein_sigma(p_out_lu / n_dec[i])
            Q_r, r_r, c = lu_rate_outage_terms(W[i], after(i), par(f"h{j}", (N2,)),
                                               par(f"G{j}", (N2, N2)), a, float(sigma_e[j]), 1.0)
            cons += bernstein_lower_constraints(Q_r, r_r, c, s1, name=f"L{q}").constraints
        for mm in range(M):
            E_sqrt_r = embed_complex_matrix(float(iu_sigma[mm]) * np.eye(N) + 0j)
            for kk in range(K):
                Q_r, r_r, c = iu_leakage_outage_terms(W[kk], Z, par(f"g{mm}", (N2,)),
                                                      par(f"Gg{mm}", (N2, N2)), b, E_sqrt_r,
                                                      par(f"neff{mm}"))
                cons += bernstein_upper_constraints(Q_r, r_r, c, s2, name=f"I{kk}_{mm}").constraints
    else:
        for kk in range(K):
            Gk = par(f"G{kk}", (N2, N2))
            cons.append(real_trace_product(Gk, W[kk])
                        >= gamma_s * (real_trace_product(Gk, after(kk)) + 1.0))
            for mm in range(M):
                Go = par(f"Go{mm}", (N2, N2))
                cons.append(real_trace_product(Go, W[kk])
                            <= gamma_e * (real_trace_product(Go, Z) + 1.0))
    if zf:
        p = cp.Variable(K, nonneg=True, name="p")
        for kk in range(K):
            w = Wv[kk]
            cons.append(cp.diag(w.re) == p[kk] * par(f"Vd{kk}", (N,)))
            if N > 1:
                # indexing, not cp.upper_tri: cvxpy 1.9's upper_tri of a symmetric Variable
                # gives an inconsistent system (measured: infeasible for x = p v v^H)
                iu = np.triu_indices(N, k=1)
                cons.append(w.re[iu[0], iu[1]] == p[kk] * par(f"Vu{kk}", (N * (N - 1) // 2,)))
                cons.append(w.im_free == p[kk] * par(f"Vi{kk}", (N * (N - 1) // 2,)))
    prob = cp.Problem(cp.Maximize(cp.sum(u) - cp.sum(e)), cons)
    assert prob.is_dpp(), "AN block must be DPP"
    used = {p_.name() for p_ in prob.parameters()}
    order = tuple(nm for nm in P if nm in used)
    variables = [v for h in (*Wv, Zv) for v in h.layer_variables]
    layer = CvxpyLayer(prob, parameters=[P[nm] for nm in order], variables=variables)
    return AnBlock(layer=layer, problem=prob, n=N, k=K, m=M, access=access, mode=mode, zf=zf,
                   param_order=order, terms=tuple(terms), gamma_s=gamma_s, gamma_e=gamma_e)


def _emb(M):
    return embed_complex_matrix(np.asarray(M, complex))


def lin_coeffs(G, X0):
    """(LG_r, LC): LIN[log2(1 + tr(G X))] at X0 = tr(LG X) + LC (module docstring)."""
    c0 = 1.0 + float(np.real(np.trace(G @ X0)))
    return _emb(G) / (c0 * LN2), math.log2(c0) + (1.0 - c0) / (c0 * LN2)


def block_values(blk: AnBlock, Hp, Go, g_hat, neff, p_min, R, sqd, Wpos0, Z0, V=None) -> dict:
    """Parameter values of one solve (all normalised, NumPy complex in).

    Hp (K, N): LU channels by position; Go (M, N): IU objective channels; g_hat (M, N): IU
    estimates of (44) for the outage constraints; neff (M,): effective noise of (58) at the
    worst distance; Wpos0 (K, N, N), Z0 (N, N): linearisation point (by position); V (K, N):
    unit ZF directions by position (zf only).
    """
    K, M, N = blk.k, blk.m, blk.n
    vals = {"p_min": float(p_min), "R": _emb(R), "sqd": float(sqd)}
    for j in range(K):
        vals[f"h{j}"] = embed_complex_vector(np.asarray(Hp[j], complex))
        vals[f"G{j}"] = _emb(np.outer(Hp[j], np.conj(Hp[j])))
    for mm in range(M):
        vals[f"Go{mm}"] = _emb(np.outer(Go[mm], np.conj(Go[mm])))
        vals[f"g{mm}"] = embed_complex_vector(np.asarray(g_hat[mm], complex))
        vals[f"Gg{mm}"] = _emb(np.outer(g_hat[mm], np.conj(g_hat[mm])))
        vals[f"neff{mm}"] = float(neff[mm])
    for q, (i, j) in enumerate(blk.terms):
        G = np.outer(Hp[j], np.conj(Hp[j]))
        if blk.access == "noma":
            Xa = sum((Wpos0[l] for l in range(i + 1, K)), Z0)
        else:
            Xa = sum((Wpos0[l] for l in range(K) if l != i), Z0)
        vals[f"LG{q}"], vals[f"LC{q}"] = lin_coeffs(G, Xa)
    for kk in range(K):
        for mm in range(M):
            G = np.outer(Go[mm], np.conj(Go[mm]))
            vals[f"EG{kk}_{mm}"], vals[f"EC{kk}_{mm}"] = lin_coeffs(G, Wpos0[kk] + Z0)
    if blk.zf:
        iu = np.triu_indices(N, k=1)
        for kk in range(K):
            Vk = np.outer(V[kk], np.conj(V[kk]))
            vals[f"Vd{kk}"] = np.real(np.diag(Vk))
            vals[f"Vu{kk}"] = np.real(Vk[iu])
            vals[f"Vi{kk}"] = np.imag(Vk[iu])
    return {nm: vals[nm] for nm in blk.param_order}
