"""Block B2 of paper 000's Algorithm 1, problem (P2.2), for ONE slot, as a CvxpyLayer.

W = (W_c, W_1..W_K) is fixed (layer Parameters); the variables are

    chi_k, theta_k (67);  o_k (63);  iota_k, omega_k (68)-(70);  pi_km, zeta_km, beta_km (73)-(74);
    C_k (34f)-(34g);  u_k, v_k, z_k, nu_k (LU outage (47)-(53), threshold form).

Problem (derivation and the fixes to the printed (77)-(81) in docs/derivations/tris_rsma.md,
section "(P2.2) block"):

    max   sum_k (o_k - omega_k)
    s.t.  o_k - C_k <= log2(1 + chi_k)                                    (63), exact (concave)
          (67) with W fixed: LMI jointly linear in (chi_k, theta_k)       chi_k >= 0
          omega_k >= log2(1+iota0_k) + (iota_k - iota0_k)/((1+iota0_k) ln 2)         (70), SCA
          (73) with W fixed (linear in iota_k, pi_km, zeta_km), (74) corrected/normalised
          sum_k C_k <= R_c,  C_k >= 0                                      (34f)-(34g), (46)
          C_k + v_k >= r_s,  v_k <= log2(1 + u_k)                          (rate outage <-> SINR)
          Lemma-1 lower surrogate of Pr{gamma_p,k <= u_k} <= P_out at fixed W:
             Q = sigma_e^2 (W_k - u_k S_k), r = sigma_e (W_k - u_k S_k) h_hat,
             c = h_hat^H (W_k - u_k S_k) h_hat - u_k sigma^2   (all affine in u_k)

Every constraint is convex: the log terms are hypographs of concave functions, the LMIs and the
SOC are affine in the variables. R_c (the largest common rate (46) allows at this W) and
iota0 (the SCA point) are Parameters computed by the driver.

All quantities are in the driver's normalised units (LU k's channel divided by its path loss,
powers by P_t; IU channels as in (44)), so that data are O(1)..O(1e2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cvxpy as cp
import jax.numpy as jnp
import numpy as np

from jisac.convex.bernstein import bernstein_lower_constraints, bernstein_sigma
from jisac.convex.embedding import embed_complex_matrix, embed_complex_vector
from jisac.convex.sprocedure import (
    distance_lmi,
    iu_worst_leakage_lmi_fixed_w,
    lu_worst_sinr_lmi_fixed_w,
)

__all__ = ["P22Slot", "build_p22_slot", "P22_INPUTS"]

_LN2 = math.log(2.0)

P22_INPUTS = (
    "W",          # (K+1, N, N) complex  fixed covariances (index 0 = W_c), normalised units
    "h_hat",      # (K, N) complex       normalised LU estimates
    "eps_sq",     # (K,)                 LU bounded-error radius^2 (67)
    "noise_lu",   # (K,)                 normalised sigma_{n_k}^2
    "g_hat",      # (M, N) complex       normalised IU estimates (44)
    "tau_sq",     # (M,)                 IU bounded-error radius^2 (73)
    "K_dist",     # (M,)                 distance_noise_scale / P_t
    "delta_sq",   # (M,)                 (D_m / d_hat_m)^2
    "iota0",      # (K,)                 SCA point of (70)
    "R_c",        # ()                   largest common rate allowed by (46) at this W
)


@dataclass(frozen=True)
class P22Slot:
    """A built (P2.2) one-slot layer. Call with P22_INPUTS as keywords.

    Returns a dict of JAX arrays: chi (K,), iota (K,), C (K,), u (K,), o (K,), omega (K,).
    """

    layer: object
    problem: cp.Problem
    n: int
    k: int
    m: int
    r_s: float
    sigma_e: float
    param_order: tuple
    out_names: tuple
    variables: tuple = ()
    plain: bool = False

    def parameters(self, **inp):
        K, M = self.k, self.m
        f = lambda x: jnp.asarray(x, jnp.float64)
        W = jnp.asarray(inp["W"], jnp.complex128)
        h = jnp.asarray(inp["h_hat"], jnp.complex128)
        g = jnp.asarray(inp["g_hat"], jnp.complex128)
        noise = f(inp["noise_lu"])
        iota0 = f(inp["iota0"])
        quad = lambda A, x: jnp.real(jnp.vdot(x, A @ x))
        vals = {"Wc": embed_complex_matrix(W[0]), "Rc": f(inp["R_c"])}
        for k in range(K):
            Wk = W[k + 1]
            S = jnp.sum(W[1:], axis=0) - Wk
            vals |= {
                f"W{k}": embed_complex_matrix(Wk), f"S{k}": embed_complex_matrix(S),
                f"Wh{k}": embed_complex_vector(Wk @ h[k]), f"Sh{k}": embed_complex_vector(S @ h[k]),
                f"hWh{k}": quad(Wk, h[k]), f"hSh{k}": quad(S, h[k]),
                f"hShn{k}": quad(S, h[k]) + noise[k], f"n{k}": noise[k],
                f"eps{k}": f(inp["eps_sq"])[k],
                f"sc0{k}": jnp.log1p(iota0[k]) / _LN2 - iota0[k] / ((1 + iota0[k]) * _LN2),
                f"sc1{k}": 1.0 / ((1 + iota0[k]) * _LN2),
            }
            for m in range(M):
                vals |= {f"Wg{k}_{m}": embed_complex_vector(Wk @ g[m]),
                         f"gWg{k}_{m}": quad(Wk, g[m])}
        for m in range(M):
            vals |= {f"Wcg{m}": embed_complex_vector(W[0] @ g[m]), f"gWcg{m}": quad(W[0], g[m]),
                     f"tau{m}": f(inp["tau_sq"])[m], f"Kd{m}": f(inp["K_dist"])[m],
                     f"dsq{m}": f(inp["delta_sq"])[m]}
        return [vals[name] for name in self.param_order]

    def __call__(self, solver_args=None, **inp):
        from jisac.convex.tris_blocks import solve_block
        return solve_block(self, solver_args, inp)

    def postprocess(self, out):
        """Layer outputs (one problem) -> {name: value}."""
        return dict(zip(self.out_names, out))

    def set_problem_parameters(self, **inp) -> None:
        """Assign the Parameter values of the underlying cvxpy problem (plain-cvxpy solve)."""
        byname = {p.name(): p for p in self.problem.parameters()}
        for name, val in zip(self.param_order, self.parameters(**inp)):
            byname[name].value = np.asarray(val)


def build_p22_slot(n: int, k: int, m: int, *, p_out_lu: float, sigma_e: float,
                   r_s: float, layer: bool = True) -> P22Slot:
    """Build the (P2.2) one-slot CvxpyLayer for shape (N, K, M).

    Build-time constants: the LU outage probability (sigma_1 = -ln P_out), the LU CSI-error std
    sigma_e (normalised units) and the rate target r_s (they multiply variables with data).
    layer=False: no CvxpyLayer (plain cvxpy solves; benchmarks).
    """
    from cvxpylayers.jax import CvxpyLayer

    N, K, M = n, k, m
    N2 = 2 * N
    P = {}

    def par(name, shape=()):
        if name not in P:
            P[name] = cp.Parameter(shape, name=name)
        return P[name]

    s1 = bernstein_sigma(p_out_lu)
    chi = cp.Variable(K, nonneg=True, name="chi")
    iota = cp.Variable(K, nonneg=True, name="iota")
    C = cp.Variable(K, nonneg=True, name="C")
    u = cp.Variable(K, name="u")
    v = cp.Variable(K, name="v")
    o = cp.Variable(K, name="o")
    omega = cp.Variable(K, name="omega")
    Wc = par("Wc", (N2, N2))
    cons = [cp.sum(C) <= par("Rc")]                                           # (34g), (46)
    for kk in range(K):
        Wk, S = par(f"W{kk}", (N2, N2)), par(f"S{kk}", (N2, N2))
        Wh, Sh = par(f"Wh{kk}", (N2,)), par(f"Sh{kk}", (N2,))
        hWh, hSh = par(f"hWh{kk}"), par(f"hSh{kk}")
        cons.append(o[kk] - C[kk] <= cp.log(1 + chi[kk]) / _LN2)              # (63)
        cons += lu_worst_sinr_lmi_fixed_w(chi[kk], Wk, S, Wh, Sh, hWh, hSh, par(f"n{kk}"),
                                          par(f"eps{kk}"), cp.Variable(name=f"theta{kk}"))
        cons.append(omega[kk] >= par(f"sc0{kk}") + par(f"sc1{kk}") * iota[kk])  # (70)
        # LU outage in the threshold form (affine in u_k at fixed W)
        Q_r = sigma_e**2 * (Wk - u[kk] * S)
        r_r = sigma_e * (Wh - u[kk] * Sh)
        c = hWh - u[kk] * par(f"hShn{kk}")
        cons += bernstein_lower_constraints(Q_r, r_r, c, s1, name=f"b2_{kk}",
                                            deterministic=sigma_e == 0).constraints
        cons += [C[kk] + v[kk] >= r_s, v[kk] <= cp.log(1 + u[kk]) / _LN2]
        for mm in range(M):
            pi = cp.Variable(name=f"pi{kk}_{mm}")
            cons += iu_worst_leakage_lmi_fixed_w(
                iota[kk], pi, Wk, Wc, par(f"Wg{kk}_{mm}", (N2,)), par(f"Wcg{mm}", (N2,)),
                par(f"gWg{kk}_{mm}"), par(f"gWcg{mm}"), par(f"tau{mm}"),
                cp.Variable(name=f"zeta{kk}_{mm}"))
            cons += distance_lmi(pi, par(f"Kd{mm}") * iota[kk], cp.Variable(name=f"beta{kk}_{mm}"),
                                 par(f"dsq{mm}"))
    prob = cp.Problem(cp.Maximize(cp.sum(o - omega)), cons)
    assert prob.is_dpp(), "P2.2 slot problem must be DPP"
    used = {p.name() for p in prob.parameters()}
    order = tuple(name for name in P if name in used)
    outs = (chi, iota, C, u, o, omega)
    lay = (CvxpyLayer(prob, parameters=[P[nm] for nm in order], variables=list(outs))
           if layer else None)
    return P22Slot(layer=lay, problem=prob, n=N, k=K, m=M, r_s=r_s, sigma_e=sigma_e,
                   param_order=order, out_names=("chi", "iota", "C", "u", "o", "omega"),
                   variables=outs, plain=not layer)
