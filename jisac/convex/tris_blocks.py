"""Block B1 of paper 000's Algorithm 1, problem (P2.1), for ONE slot, as a CvxpyLayer.

Decision variables (B1): W_c, W_1..W_K (N x N Hermitian, SDR), the Bernstein slacks z_k, nu_k
(51)-(53) and rho_{k,m}, mu_{k,m} (58)-(60), the S-procedure multipliers theta_k (67),
zeta_{k,m} (73), beta_{k,m} (74), and pi_{k,m} (71)-(74). Given (B2 / scenario data, layer
Parameters): C_k via a_k = 1/(2^{r_k^s - C_k} - 1), gamma_c0 = 2^{R_c} - 1, chi_k, iota_k, the
LU estimates h_hat_k and the normalised IU estimates g_hat_m (44).

Constraints: (34c) W_i >= 0; (34d) sum_i [W_i]_nn <= P_t; (46) common-rate (with
E{h h^H} = h_hat h_hat^H + sigma_e^2 I); (51)-(53) LU
outage; (58)-(60) IU outage (corrected, docs/derivations/tris_rsma.md); (62) detection as a
total-power floor p >= p_min; (34k) beampattern ||sum_i W_i - R||_F <= sqrt(delta_bp); (67)
with chi fixed; (73) with iota fixed; (74) corrected/normalised.

Objective. (P2.1)'s objective (1/T) sum_l t[l] sum_k (o_k - omega_k) does not depend on the B1
variables of one slot (o, omega are in B2; t couples the slots through an LP solved outside),
so (P2.1) per slot is a feasibility problem. The layer returns the minimum-transmit-power point
of that feasible set (a unique, well-conditioned representative; documented design choice).

Build the layer once per shape (N, K, M) and model constants with `build_p21_slot`; call it with
primitive inputs; the Parameter products needed for DPP (a_k h_k, chi_k G_k, ...) are formed
in JAX, so gradients flow to the primitive inputs. The layer cannot be jitted or vmapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import cvxpy as cp
import jax
import jax.numpy as jnp
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
from jisac.convex.sprocedure import (
    distance_lmi,
    iu_worst_leakage_lmi_fixed_iota,
    lu_worst_sinr_lmi_fixed_chi,
)

__all__ = ["P21Slot", "build_p21_slot", "P21MarginSlot", "build_p21_margin_slot",
           "RankOneVariable", "rank_one_variable"]

# Order of the primitive inputs accepted by P21Slot.__call__ (all JAX/NumPy arrays, float64).
INPUTS = (
    "h_hat",      # (K, N) complex  LU channel estimates
    "eps_sq",     # (K,)   LU bounded-error radius^2 for (67)
    "noise_lu",   # (K,)   sigma_{n_k}^2
    "a",          # (K,)   1 / (2^{r_k^s - C_k} - 1)
    "gamma_c0",   # ()     2^{R_c} - 1
    "chi",        # (K,)   SINR slacks from B2
    "g_hat",      # (M, N) complex  normalised IU estimates (44)
    "tau_sq",     # (M,)   IU bounded-error radius^2 for (73)
    "K_dist",     # (M,)   sigma_v^2 (1+kappa) / xi_hat^2 (distance_noise_scale)
    "delta_sq",   # (M,)   (D_m / d_hat_m)^2
    "iota",       # (K,)   leakage slacks from B2
    "P_t",        # ()     per-element power (34d)
    "p_min",      # ()     detection power floor from (62)
    "R",          # (N, N) complex  desired covariance (34k)
    "sqrt_delta_bp",  # ()  sqrt of the beampattern error budget (34k)
)


@dataclass(frozen=True)
class P21Slot:
    """A built (P2.1) one-slot layer. Call with the primitive inputs (see INPUTS) as keywords.

    Returns (W, power): W (K+1, N, N) complex (index 0 = W_c), power = sum_i tr W_i.
    """

    layer: object
    problem: cp.Problem
    n: int
    k: int
    m: int
    param_order: tuple
    sigma_e: float

    def parameters(self, **inp):
        """The layer's Parameter values (float64 JAX arrays) from primitive inputs."""
        K, M = self.k, self.m
        f = lambda x: jnp.asarray(x, jnp.float64)
        h = jnp.asarray(inp["h_hat"], jnp.complex128)
        g = jnp.asarray(inp["g_hat"], jnp.complex128)
        a, chi, iota = f(inp["a"]), f(inp["chi"]), f(inp["iota"])
        eye = jnp.eye(self.n)
        vals = {}
        for k in range(K):
            G = jnp.outer(h[k], h[k].conj())
            G_r, h_r = embed_complex_matrix(G), embed_complex_vector(h[k])
            # (46): E{h h^H} = h_hat h_hat^H + sigma_e^2 I for Delta h ~ CN(0, sigma_e^2 I); the
            # paper writes eps_k^2 (the bounded-model radius) here, which mixes the two models.
            H_r = embed_complex_matrix(G + self.sigma_e**2 * eye)
            vals |= {
                f"h{k}": h_r, f"G{k}": G_r, f"a{k}": a[k], f"ah{k}": a[k] * h_r,
                f"aG{k}": a[k] * G_r, f"chi{k}": chi[k], f"chih{k}": chi[k] * h_r,
                f"chiG{k}": chi[k] * G_r, f"H{k}": H_r, f"gH{k}": f(inp["gamma_c0"]) * H_r,
                f"gn{k}": f(inp["gamma_c0"]) * f(inp["noise_lu"])[k],
                f"n{k}": f(inp["noise_lu"])[k], f"nchi{k}": f(inp["noise_lu"])[k] * chi[k],
                f"eps{k}": f(inp["eps_sq"])[k], f"iota{k}": iota[k],
            }
        K_dist, dsq = f(inp["K_dist"]), f(inp["delta_sq"])
        for m in range(M):
            Gg = jnp.outer(g[m], g[m].conj())
            g_r, Gg_r = embed_complex_vector(g[m]), embed_complex_matrix(Gg)
            # outage effective noise at the worst distance d_hat - D: K (1 - delta)^2
            vals |= {f"g{m}": g_r, f"Gg{m}": Gg_r, f"tau{m}": f(inp["tau_sq"])[m],
                     f"dsq{m}": dsq[m], f"neff{m}": K_dist[m] * (1 - _safe_sqrt(dsq[m])) ** 2}
            for k in range(K):
                vals |= {f"iotag{k}_{m}": iota[k] * g_r, f"iotaG{k}_{m}": iota[k] * Gg_r,
                         f"Kiota{k}_{m}": K_dist[m] * iota[k]}
        vals |= {"P_t": f(inp["P_t"]), "p_min": f(inp["p_min"]),
                 "R": embed_complex_matrix(jnp.asarray(inp["R"], jnp.complex128)),
                 "sqd": f(inp["sqrt_delta_bp"])}
        return [vals[name] for name in self.param_order]

    def __call__(self, solver_args=None, **inp):
        if not jax.config.jax_enable_x64:
            # The library never flips precision flags; the solver path needs float64 (SDP data
            # spans many orders of magnitude and cvxpylayers follows the parameter dtype).
            raise RuntimeError("P21Slot needs float64: call jax.config.update("
                               "'jax_enable_x64', True) in the driver before solving")
        out = self.layer(*self.parameters(**inp), solver_args=solver_args or {})
        Ws = [hermitian_from_layer(out[2 * i], out[2 * i + 1]) for i in range(self.k + 1)]
        W = jnp.stack(Ws)
        return W, jnp.real(jnp.sum(jnp.trace(W, axis1=1, axis2=2)))


class _SlotSkeleton(NamedTuple):
    """What both (P2.1) builders share: the Parameter registry, the SDR variables, the
    Bernstein sigmas and the build-time IU constants, and the constraints (34c), (34d)/TRSMA,
    (62), (34k)."""
    P: dict
    par: Callable
    Wv: list
    Wc: object
    Wp: list
    Wsum: object
    cons: list
    s1: float
    s2: float
    b: float
    E_sqrt_r: list


@dataclass(frozen=True)
class RankOneVariable:
    """W = p w w^H with a FIXED unit direction w (N,) and a scalar power variable p >= 0.

    Duck-types `HermitianVariable` (attributes `re`, `embedded`, `n`, `layer_variables`), so
    the (P2.1) constraint builders accept it unchanged: every constraint that is affine / LMI /
    SOC in W_i stays affine / LMI / SOC in p (the rank-1 power repair, see
    `jisac.algorithms.rank_one`). w is a NumPy constant, so products with the Parameters keep
    the problem DPP; PSD-ness (34c) holds by construction (p >= 0), hence no W >= 0 LMI (it
    would have no strictly feasible point)."""

    p: cp.Variable
    re: cp.Expression
    embedded: cp.Expression
    n: int

    @property
    def layer_variables(self) -> list:
        return [self.p]


def _unit(w) -> np.ndarray:
    """w / ||w|| (a zero beam gets the direction e_1; its power p then starts at 0)."""
    w = np.asarray(w, complex)
    nw = float(np.linalg.norm(w))
    return w / nw if nw > 0 else np.eye(w.shape[0], dtype=complex)[0]


def rank_one_variable(w, name: str = "p") -> RankOneVariable:
    """`RankOneVariable` for the direction w (N,) (normalised here to unit norm)."""
    w = _unit(w)
    D = np.outer(w, w.conj())
    p = cp.Variable(nonneg=True, name=name)
    return RankOneVariable(p=p, re=p * D.real, embedded=p * embed_complex_matrix(D), n=w.shape[0])


def _slot_skeleton(N: int, K: int, M: int, p_out_lu: float, p_out_iu: float, rate_e: float,
                   E_sqrt, power: str = "element", directions=None) -> _SlotSkeleton:
    if N < 2 or K < 1 or M < 1:
        raise ValueError(f"need N >= 2, K >= 1, M >= 1; got N={N}, K={K}, M={M}")
    P = {}

    def par(name, shape=()):
        if name not in P:
            P[name] = cp.Parameter(shape, name=name)
        return P[name]

    if E_sqrt is None:
        E_sqrt = np.stack([0.1 * np.eye(N)] * M)
    E_sqrt_r = [embed_complex_matrix(np.asarray(E_sqrt[j], complex)) for j in range(M)]
    if directions is None:
        Wv = [hermitian_variable(N, "Wc")] + [hermitian_variable(N, f"W{i}")
                                              for i in range(1, K + 1)]
    else:   # rank-1 restriction W_i = p_i w_i w_i^H (power repair), directions (N, K+1)
        directions = np.asarray(directions, complex)
        if directions.shape != (N, K + 1):
            raise ValueError(f"directions must be (N, K+1) = {(N, K + 1)}, got {directions.shape}")
        Wv = [rank_one_variable(directions[:, i], f"p{i}") for i in range(K + 1)]
    Wc, Wp = Wv[0].embedded, [w.embedded for w in Wv[1:]]
    Wsum = sum(w.embedded for w in Wv)
    cons = [w >> 0 for w in (Wc, *Wp)] if directions is None else []             # (34c)
    if power == "element":
        cons.append(sum(w.re for w in Wv)[np.arange(N), np.arange(N)] <= par("P_t"))  # (34d)
    else:
        cons.append(0.5 * cp.trace(Wsum) <= par("NP_t"))                          # TRSMA
    cons.append(0.5 * cp.trace(Wsum) >= par("p_min"))                              # (62)
    R = par("R", (2 * N, 2 * N))
    cons.append(cp.norm(cp.vec((Wsum - R)[:, :N], order="F")) <= par("sqd"))     # (34k)
    return _SlotSkeleton(P, par, Wv, Wc, Wp, Wsum, cons, bernstein_sigma(p_out_lu),
                         bernstein_sigma(p_out_iu), 1.0 / (2.0**rate_e - 1.0), E_sqrt_r)


def build_p21_slot(n: int, k: int, m: int, *, p_out_lu: float, p_out_iu: float,
                   sigma_e: float, rate_e: float, E_sqrt=None) -> P21Slot:
    """Build the (P2.1) one-slot CvxpyLayer for shape (N=n, K=k, M=m).

    Build-time constants (they multiply decision variables together with other data, so they
    cannot be Parameters under DPP): the outage probabilities, the LU CSI-error std sigma_e
    ((47)-(49)), the eavesdropping threshold r_m^e = rate_e (b = 1/(2^{r^e} - 1)), and the IU
    error covariance square roots E_sqrt (M, N, N) (default 0.1 I).
    """
    from cvxpylayers.jax import CvxpyLayer

    N, K, M = n, k, m
    P, par, Wv, Wc, Wp, Wsum, cons, s1, s2, b, E_sqrt_r = _slot_skeleton(
        N, K, M, p_out_lu, p_out_iu, rate_e, E_sqrt)
    N2 = 2 * N
    for kk in range(K):
        h, G = par(f"h{kk}", (N2,)), par(f"G{kk}", (N2, N2))
        S = sum(Wp[i] for i in range(K) if i != kk) if K > 1 else 0 * Wp[0]
        # (46): tr(H_k W_c) >= gamma_c0 (sum_i tr(H_k W_i) + sigma^2), H_k = h h^H + eps^2 I
        cons.append(real_trace_product(par(f"H{kk}", (N2, N2)), Wc)
                    >= real_trace_product(par(f"gH{kk}", (N2, N2)), sum(Wp)) + par(f"gn{kk}"))
        # (51)-(53) LU rate outage (corrected normalisation)
        Q_r, r_r, c = lu_rate_outage_terms(Wp[kk], S, h, G, par(f"a{kk}"), sigma_e,
                                           par(f"n{kk}"), a_h_r=par(f"ah{kk}", (N2,)),
                                           a_G_r=par(f"aG{kk}", (N2, N2)))
        cons += bernstein_lower_constraints(Q_r, r_r, c, s1, name=str(kk),
                                            deterministic=sigma_e == 0).constraints
        # (67) with chi fixed
        cons += lu_worst_sinr_lmi_fixed_chi(
            Wp[kk], S, h, G, par(f"chi{kk}"), None, par(f"eps{kk}"),
            cp.Variable(name=f"theta{kk}"), chi_h_r=par(f"chih{kk}", (N2,)),
            chi_G_r=par(f"chiG{kk}", (N2, N2)), noise_chi=par(f"nchi{kk}"))
        par(f"iota{kk}")
    for mm in range(M):
        g, Gg = par(f"g{mm}", (N2,)), par(f"Gg{mm}", (N2, N2))
        tau, dsq, neff = par(f"tau{mm}"), par(f"dsq{mm}"), par(f"neff{mm}")
        for kk in range(K):
            # (58)-(60) IU leakage outage (corrected)
            Q_r, r_r, c = iu_leakage_outage_terms(Wp[kk], Wc, g, Gg, b, E_sqrt_r[mm], neff)
            cons += bernstein_upper_constraints(
                Q_r, r_r, c, s2, name=f"{kk}_{mm}",
                deterministic=not np.any(np.asarray(E_sqrt_r[mm]))).constraints
            # (73) with iota fixed, (74) corrected
            pi = cp.Variable(name=f"pi{kk}_{mm}")
            cons += iu_worst_leakage_lmi_fixed_iota(
                Wp[kk], Wc, g, Gg, P[f"iota{kk}"], pi, tau, cp.Variable(name=f"zeta{kk}_{mm}"),
                iota_g_r=par(f"iotag{kk}_{mm}", (N2,)), iota_G_r=par(f"iotaG{kk}_{mm}", (N2, N2)))
            cons += distance_lmi(pi, par(f"Kiota{kk}_{mm}"), cp.Variable(name=f"beta{kk}_{mm}"),
                                 dsq)
    prob = cp.Problem(cp.Minimize(0.5 * cp.trace(Wsum)), cons)
    assert prob.is_dpp(), "P2.1 slot problem must be DPP"
    used = {p.name() for p in prob.parameters()}
    order = tuple(name for name in P if name in used)
    variables = [v for w in Wv for v in w.layer_variables]
    layer = CvxpyLayer(prob, parameters=[P[nm] for nm in order], variables=variables)
    return P21Slot(layer=layer, problem=prob, n=N, k=K, m=M, param_order=order, sigma_e=sigma_e)


def _safe_sqrt(x):
    pos = x > 0  # D = 0 (no distance error) must not give a NaN gradient
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


# ------------------------------------------------------------------------------------------
# Margin form of (P2.1) used by Algorithm 1 (jisac/algorithms/tris_rsma.py).
#
# Why: the min-power (P2.1) point meets the B2 targets (chi, iota, C, R_c) with equality, so the
# next B2 cannot improve them and the BCD stalls. The margin form keeps every (P2.1)
# constraint at the B2 targets of the previous iterate (so that iterate stays feasible and the
# BCD is monotone) and maximises weighted, noise-normalised slacks added to the targets:
#   (67)  worst-case  |h^H w_k|^2 - chi_k (interference + sigma^2)  >=  sigma^2 eta_k,
#   (73)  worst-case  g^H (W_k - iota_k W_c) g  <=  pi_km - neff_m xi_km,
#   (46)  tr(H_k W_c) - gamma_c0 (sum_i tr(H_k W_i) + sigma^2)  >=  sigma^2 eta_c,
# eta, xi signed, eta_c >= 0, objective  max sum_k w_k eta_k + sum_km v_km xi_km + w_c eta_c  (weights = the
# first-order gains d log2(1+x)/dx of the B2 objective; see docs/derivations/tris_rsma.md,
# "(P2.2) block" and "Algorithm 1 as implemented").
# The LU outage constraint is written in the homogeneous threshold form
#   Pr{ gamma_p,k <= u_k } <= P_out  with  Q = sigma_e^2 (W_k - u_k S_k),
#   r = sigma_e (W_k - u_k S_k) h_hat,  c = h_hat^H (W_k - u_k S_k) h_hat - u_k sigma^2,
# (u_k = 1/a_k; valid for every real u_k, including u_k <= 0 when C_k >= r_s), and the
# per-element power (34d) can be swapped for the total power sum_i tr W_i <= N P_t (TRSMA).
# ------------------------------------------------------------------------------------------

MARGIN_INPUTS = (
    "h_hat", "eps_sq", "noise_lu", "u", "gamma_c0", "chi", "g_hat", "tau_sq", "K_dist",
    "delta_sq", "iota", "P_t", "p_min", "R", "sqrt_delta_bp",
    "w_chi",    # (K,)   weight of the SINR margins eta_k
    "w_iota",   # (K, M) weight of the leakage margins xi_km
    "w_c",      # ()     weight of the common-rate margin eta_c
)


@dataclass(frozen=True)
class P21MarginSlot(P21Slot):
    """Margin-maximising (P2.1) one-slot layer (see the section comment above).

    Call with the MARGIN_INPUTS as keywords. Returns (W, margins) with W (K+1, N, N) and
    margins = (eta (K,), xi (K, M), eta_c ()).
    """

    power: str = "element"
    variables: tuple = ()       # cvxpy Variables in layer-output order (plain mode)
    plain: bool = False         # True: no CvxpyLayer, solve the cvxpy problem directly
    directions: object = None   # (N, K+1) unit beams: rank-1 restriction W_i = p_i w_i w_i^H

    def parameters(self, **inp):
        K, M = self.k, self.m
        f = lambda x: jnp.asarray(x, jnp.float64)
        h = jnp.asarray(inp["h_hat"], jnp.complex128)
        g = jnp.asarray(inp["g_hat"], jnp.complex128)
        u, chi, iota = f(inp["u"]), f(inp["chi"]), f(inp["iota"])
        noise = f(inp["noise_lu"])
        gc0 = f(inp["gamma_c0"])
        eye = jnp.eye(self.n)
        vals = {}
        for k in range(K):
            G = jnp.outer(h[k], h[k].conj())
            G_r, h_r = embed_complex_matrix(G), embed_complex_vector(h[k])
            H_r = embed_complex_matrix(G + self.sigma_e**2 * eye)
            vals |= {
                f"h{k}": h_r, f"G{k}": G_r, f"u{k}": u[k], f"uh{k}": u[k] * h_r,
                f"uG{k}": u[k] * G_r, f"un{k}": u[k] * noise[k],
                f"chi{k}": chi[k], f"chih{k}": chi[k] * h_r, f"chiG{k}": chi[k] * G_r,
                f"H{k}": H_r, f"gH{k}": gc0 * H_r, f"gn{k}": gc0 * noise[k], f"n{k}": noise[k],
                f"nchi{k}": noise[k] * chi[k], f"eps{k}": f(inp["eps_sq"])[k],
                f"wchi{k}": f(inp["w_chi"])[k], f"iota{k}": iota[k],
            }
        K_dist, dsq = f(inp["K_dist"]), f(inp["delta_sq"])
        w_iota = f(inp["w_iota"])
        for m in range(M):
            Gg = jnp.outer(g[m], g[m].conj())
            g_r, Gg_r = embed_complex_vector(g[m]), embed_complex_matrix(Gg)
            neff = K_dist[m] * (1 - _safe_sqrt(dsq[m])) ** 2
            vals |= {f"g{m}": g_r, f"Gg{m}": Gg_r, f"tau{m}": f(inp["tau_sq"])[m],
                     f"dsq{m}": dsq[m], f"neff{m}": neff}
            for k in range(K):
                vals |= {f"iotag{k}_{m}": iota[k] * g_r, f"iotaG{k}_{m}": iota[k] * Gg_r,
                         f"Kiota{k}_{m}": K_dist[m] * iota[k], f"wiota{k}_{m}": w_iota[k, m]}
        vals |= {"P_t": f(inp["P_t"]), "NP_t": self.n * f(inp["P_t"]), "p_min": f(inp["p_min"]),
                 "R": embed_complex_matrix(jnp.asarray(inp["R"], jnp.complex128)),
                 "sqd": f(inp["sqrt_delta_bp"]), "wc": f(inp["w_c"])}
        return [vals[name] for name in self.param_order]

    def __call__(self, solver_args=None, **inp):
        return solve_block(self, solver_args, inp)

    def postprocess(self, out):
        """Layer outputs (one problem) -> (W (K+1, N, N), (eta, xi, eta_c))."""
        if self.directions is not None:     # outputs p_0..p_K, then the margins
            nW = self.k + 1
            d = jnp.asarray(self.directions)
            p = jnp.stack([jnp.reshape(out[i], ()) for i in range(nW)])
            W = p[:, None, None] * jnp.einsum("ni,mi->inm", d, d.conj())
            eta, xi, eta_c = out[nW], out[nW + 1], out[nW + 2]
            return W, (eta, jnp.reshape(xi, (self.k, self.m)), eta_c)
        nW = 2 * (self.k + 1)
        W = jnp.stack([hermitian_from_layer(out[2 * i], out[2 * i + 1])
                       for i in range(self.k + 1)])
        eta, xi, eta_c = out[nW], out[nW + 1], out[nW + 2]
        return W, (eta, jnp.reshape(xi, (self.k, self.m)), eta_c)

    def set_problem_parameters(self, **inp) -> None:
        """Assign the Parameter values of the underlying cvxpy problem (plain-cvxpy solve)."""
        byname = {p.name(): p for p in self.problem.parameters()}
        for name, val in zip(self.param_order, self.parameters(**inp)):
            byname[name].value = np.asarray(val)


def build_p21_margin_slot(n: int, k: int, m: int, *, p_out_lu: float, p_out_iu: float,
                          sigma_e: float, rate_e: float, E_sqrt=None,
                          power: str = "element", layer: bool = True,
                          directions=None) -> P21MarginSlot:
    """Build the margin-form (P2.1) layer (section comment above) for shape (N, K, M).

    power: "element" -> (34d) sum_i [W_i]_nn <= P_t (TRIS); "total" -> sum_i tr W_i <= N P_t
    (traditional transceiver, TRSMA). layer=False skips the CvxpyLayer (plain cvxpy solves;
    benchmarks). directions (N, K+1): the same problem restricted to W_i = p_i w_i w_i^H with
    these fixed beams (variables p_i >= 0 instead of W_i; plain cvxpy only, layer must be
    False; used by the rank-1 power repair). Other arguments as in `build_p21_slot`.
    """
    from cvxpylayers.jax import CvxpyLayer

    if power not in ("element", "total"):
        raise ValueError(f"power must be 'element' or 'total', got {power!r}")
    if directions is not None and layer:
        raise ValueError("the rank-1 restriction (directions=...) is built with layer=False")
    N, K, M = n, k, m
    P, par, Wv, Wc, Wp, Wsum, cons, s1, s2, b, E_sqrt_r = _slot_skeleton(
        N, K, M, p_out_lu, p_out_iu, rate_e, E_sqrt, power, directions)
    N2 = 2 * N
    # SINR / leakage margins are signed (B1 may trade one term against another; the driver's
    # line search keeps the BCD monotone); the common-rate margin is >= 0 so that the previous
    # common-rate split stays feasible.
    eta = cp.Variable(K, name="eta")
    xi = cp.Variable(K * M, name="xi")
    eta_c = cp.Variable(nonneg=True, name="eta_c")
    obj = par("wc") * eta_c
    for kk in range(K):
        h, G = par(f"h{kk}", (N2,)), par(f"G{kk}", (N2, N2))
        S = sum(Wp[i] for i in range(K) if i != kk) if K > 1 else 0 * Wp[0]
        noise = par(f"n{kk}")
        # (46) with margin
        cons.append(real_trace_product(par(f"H{kk}", (N2, N2)), Wc)
                    >= real_trace_product(par(f"gH{kk}", (N2, N2)), sum(Wp)) + par(f"gn{kk}")
                    + noise * eta_c)
        # (51)-(53) LU outage, homogeneous threshold form Pr{gamma_p <= u} <= P_out
        Q_r = sigma_e**2 * (Wp[kk] - par(f"u{kk}") * S)
        r_r = sigma_e * (Wp[kk] @ h - S @ par(f"uh{kk}", (N2,)))
        c = (real_trace_product(G, Wp[kk]) - real_trace_product(par(f"uG{kk}", (N2, N2)), S)
             - par(f"un{kk}"))
        cons += bernstein_lower_constraints(Q_r, r_r, c, s1, name=str(kk),
                                            deterministic=sigma_e == 0).constraints
        # (67) with chi fixed and margin: rhs = -sigma^2 (chi + eta)
        cons += lu_worst_sinr_lmi_fixed_chi(
            Wp[kk], S, h, G, par(f"chi{kk}"), None, par(f"eps{kk}"),
            cp.Variable(name=f"theta{kk}"), chi_h_r=par(f"chih{kk}", (N2,)),
            chi_G_r=par(f"chiG{kk}", (N2, N2)), noise_chi=par(f"nchi{kk}") + noise * eta[kk])
        obj = obj + par(f"wchi{kk}") * eta[kk]
    for mm in range(M):
        g, Gg = par(f"g{mm}", (N2,)), par(f"Gg{mm}", (N2, N2))
        tau, dsq, neff = par(f"tau{mm}"), par(f"dsq{mm}"), par(f"neff{mm}")
        for kk in range(K):
            Q_r, r_r, c = iu_leakage_outage_terms(Wp[kk], Wc, g, Gg, b, E_sqrt_r[mm], neff)
            cons += bernstein_upper_constraints(
                Q_r, r_r, c, s2, name=f"{kk}_{mm}",
                deterministic=not np.any(np.asarray(E_sqrt_r[mm]))).constraints
            pi = cp.Variable(name=f"pi{kk}_{mm}")
            x = xi[kk * M + mm]
            cons += iu_worst_leakage_lmi_fixed_iota(
                Wp[kk], Wc, g, Gg, par(f"iota{kk}"), pi - neff * x, tau,
                cp.Variable(name=f"zeta{kk}_{mm}"),
                iota_g_r=par(f"iotag{kk}_{mm}", (N2,)), iota_G_r=par(f"iotaG{kk}_{mm}", (N2, N2)))
            cons += distance_lmi(pi, par(f"Kiota{kk}_{mm}"), cp.Variable(name=f"beta{kk}_{mm}"),
                                 dsq)
            obj = obj + par(f"wiota{kk}_{mm}") * x
    prob = cp.Problem(cp.Maximize(obj), cons)
    assert prob.is_dpp(), "margin P2.1 slot problem must be DPP"
    used = {p.name() for p in prob.parameters()}
    order = tuple(name for name in P if name in used)
    variables = [v for w in Wv for v in w.layer_variables] + [eta, xi, eta_c]
    lay = (CvxpyLayer(prob, parameters=[P[nm] for nm in order], variables=variables)
           if layer else None)
    if directions is not None:
        directions = np.stack([_unit(directions[:, i]) for i in range(K + 1)], axis=1)
    return P21MarginSlot(layer=lay, problem=prob, n=N, k=K, m=M, param_order=order,
                         sigma_e=sigma_e, power=power, variables=tuple(variables),
                         plain=not layer, directions=directions)


def solve_block(block, solver_args, inp):
    """One solve of a slot block (P2.1 margin or P2.2): the cached layer, or plain cvxpy when
    ``block.plain``; outputs through ``block.postprocess``. Needs float64 (x64)."""
    if not jax.config.jax_enable_x64:
        raise RuntimeError(f"{type(block).__name__} needs float64 (jax_enable_x64)")
    if block.plain:
        out = _plain_solve(block, solver_args, inp)
    else:
        out = block.layer(*block.parameters(**inp), solver_args=solver_args or {})
    return block.postprocess(out)


def _plain_solve(slot, solver_args, inp):
    """Solve `slot.problem` with plain cvxpy (no layer); outputs in layer order (JAX arrays)."""
    args = dict(solver_args or {})
    method = args.pop("solve_method", "Clarabel")
    slot.set_problem_parameters(**inp)
    slot.problem.solve(solver=method.upper(), **args)
    if slot.problem.status not in ("optimal", "optimal_inaccurate"):
        raise cp.error.SolverError(f"plain cvxpy status {slot.problem.status}")
    if slot.problem.status == "optimal_inaccurate":
        import warnings
        warnings.warn("Solved/Inaccurate.")
    return [jnp.asarray(v.value, jnp.float64) for v in slot.variables]
