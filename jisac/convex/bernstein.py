"""Bernstein-type outage surrogates of paper 000 (Lemma 1, eqs. (47)-(60)).

Model. e ~ CN(0, I_N), Q Hermitian, r complex, c real, f(e) = e^H Q e + 2 Re{e^H r}.
Lemma 1 (Bechar / Wang-So-Chang-Ma-Chi): for every sigma >= 0

    Pr{ f(e) >= E+ } <= exp(-sigma),  E+ = tr Q + sqrt(2 sigma s2) + sigma lambda+(Q),
    Pr{ f(e) <= E- } <= exp(-sigma),  E- = tr Q - sqrt(2 sigma s2) - sigma lambda-(Q),
    s2 = ||Q||_F^2 + 2 ||r||^2,

with lambda+(Q) = max(lambda_max(Q), 0), lambda-(Q) = max(lambda_max(-Q), 0).

Hence, with sigma = -ln P_out,
* E- + c >= 0  implies  Pr{f(e) + c <= 0} <= P_out    (LU rate outage, (50)-(53));
* E+ + c <= 0  implies  Pr{f(e) + c >= 0} <= P_out    (IU leakage outage, (57)-(60)).

The cvxpy builders take Q as a real-embedded (2N, 2N) expression affine in the variables, r as
[Re r; Im r] (2N,) and c as a scalar expression, and add the slack variables of (51)-(53) /
(58)-(60). The paper-specific maps (W -> Q, r, c) are `lu_rate_outage_terms` and
`iu_leakage_outage_terms`; their derivation (with the fixes to (49), (55)-(57)) is in
docs/derivations/tris_rsma.md, section "Outage constraints".
"""

from __future__ import annotations

import math
from typing import NamedTuple

import cvxpy as cp
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Complex, Float

from jisac.convex.embedding import real_trace_product

__all__ = [
    "bernstein_sigma",
    "bernstein_e_plus",
    "bernstein_e_minus",
    "BernsteinBlock",
    "bernstein_lower_constraints",
    "bernstein_upper_constraints",
    "lu_rate_outage_terms",
    "iu_leakage_outage_terms",
]


def bernstein_sigma(p_out: float) -> float:
    """sigma = -ln(P_out), the Lemma-1 parameter that makes exp(-sigma) = P_out."""
    return -math.log(p_out)


def _safe_sqrt(x):
    # sqrt has an infinite derivative at 0 (Q = 0, r = 0); mask it (jax-md safe_mask pattern).
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _spread(Q, r):
    return jnp.sum(jnp.abs(Q) ** 2) + 2.0 * jnp.sum(jnp.abs(r) ** 2)


def bernstein_e_plus(
    Q: Complex[Array, "N N"], r: Complex[Array, " N"], sigma: float
) -> Float[Array, ""]:
    """E+ of Lemma 1 (paper 000): Pr{e^H Q e + 2Re{e^H r} >= E+} <= exp(-sigma). Q Hermitian."""
    lam = jnp.linalg.eigvalsh(Q)
    tr = jnp.real(jnp.trace(Q))
    return tr + _safe_sqrt(2.0 * sigma * _spread(Q, r)) + sigma * jnp.maximum(lam[-1], 0.0)


def bernstein_e_minus(
    Q: Complex[Array, "N N"], r: Complex[Array, " N"], sigma: float
) -> Float[Array, ""]:
    """E- of Lemma 1 (paper 000): Pr{e^H Q e + 2Re{e^H r} <= E-} <= exp(-sigma). Q Hermitian."""
    lam = jnp.linalg.eigvalsh(Q)
    tr = jnp.real(jnp.trace(Q))
    return tr - _safe_sqrt(2.0 * sigma * _spread(Q, r)) - sigma * jnp.maximum(-lam[0], 0.0)


class BernsteinBlock(NamedTuple):
    """Constraints of one Bernstein surrogate and its slacks.

    norm_slack: z_k (51)-(52) / rho_m (58)-(59), >= ||[vec Q; sqrt2 r]||.
    eig_slack:  nu_k (53) >= lambda-(Q)  /  mu_m (60) >= lambda+(Q).
    Both None in the deterministic (zero-error) form.
    """

    constraints: list
    norm_slack: cp.Variable
    eig_slack: cp.Variable


def _frob_and_r(Q_r, r_r):
    n = Q_r.shape[0] // 2
    # ||Q||_F^2 = ||Q_r[:, :n]||_F^2 (left block column = [Re Q; Im Q]); ||r||^2 = ||r_r||^2.
    return cp.hstack([cp.vec(Q_r[:, :n], order="F"), math.sqrt(2.0) * r_r]), n


def bernstein_lower_constraints(Q_r, r_r, c, sigma: float, name: str = "",
                                deterministic: bool = False) -> BernsteinBlock:
    """(51)-(53): constraints implying Pr{e^H Q e + 2Re{e^H r} + c <= 0} <= exp(-sigma).

    tr Q + c - sqrt(2 sigma) z - sigma nu >= 0,  ||[vec Q; sqrt2 r]|| <= z,  nu I + Q >= 0, nu >= 0.

    Args:
        Q_r: (2N, 2N) embedded Hermitian expression (affine in the decision variables).
        r_r: (2N,) [Re r; Im r] expression.
        c: scalar expression.
        sigma: -ln(P_out) (a Python float; it enters through sqrt(2 sigma)).
        deterministic: the error model is zero (perfect CSI: Q = 0, r = 0), so the surrogate is
            exactly ``c >= 0`` (then z = nu = 0); only that row is built (slacks None). Building
            the full form with Q_r = 0 * (...) also trips a cvxpy canonicalisation bug at N >= 9
            (COO backend, ``mul_elem`` on a sparse zero).
    """
    if deterministic:
        return BernsteinBlock([c >= 0], None, None)
    z = cp.Variable(nonneg=True, name=f"z{name}")
    nu = cp.Variable(nonneg=True, name=f"nu{name}")
    vec, n = _frob_and_r(Q_r, r_r)
    trQ = 0.5 * cp.trace(Q_r)
    cons = [
        trQ + c - math.sqrt(2.0 * sigma) * z - sigma * nu >= 0,
        cp.SOC(z, vec),
        nu * np.eye(2 * n) + Q_r >> 0,
    ]
    return BernsteinBlock(cons, z, nu)


def bernstein_upper_constraints(Q_r, r_r, c, sigma: float, name: str = "",
                                deterministic: bool = False) -> BernsteinBlock:
    """(58)-(60): constraints implying Pr{e^H Q e + 2Re{e^H r} + c >= 0} <= exp(-sigma).

    tr Q + c + sqrt(2 sigma) rho + sigma mu <= 0,  ||[vec Q; sqrt2 r]|| <= rho,
    mu I - Q >= 0,  mu >= 0.
    Arguments as in `bernstein_lower_constraints` (``deterministic``: exactly ``c <= 0``).
    """
    if deterministic:
        return BernsteinBlock([c <= 0], None, None)
    rho = cp.Variable(nonneg=True, name=f"rho{name}")
    mu = cp.Variable(nonneg=True, name=f"mu{name}")
    vec, n = _frob_and_r(Q_r, r_r)
    trQ = 0.5 * cp.trace(Q_r)
    cons = [
        trQ + c + math.sqrt(2.0 * sigma) * rho + sigma * mu <= 0,
        cp.SOC(rho, vec),
        mu * np.eye(2 * n) - Q_r >> 0,
    ]
    return BernsteinBlock(cons, rho, mu)


def lu_rate_outage_terms(Wk_r, Wother_r, h_r, G_r, a, sigma_e: float, noise_var,
                         a_h_r=None, a_G_r=None):
    """(Q, r, c) of the LU rate-outage constraint (47)-(49), corrected normalisation.

    Event (47): gamma_{p,k} <= 1/a, a = 1/(2^{r_k^s - C_k} - 1), h = h_hat + sigma_e p,
    p ~ CN(0, I). With Wbar = a W_k - sum_{i != k} W_i it is  f(p) + c <= 0  with

        Q = sigma_e^2 Wbar,   r = sigma_e Wbar h_hat,   c = h_hat^H Wbar h_hat - sigma_n^2.

    (The paper's (49)/(52) use r = A h_hat = sigma_e^2 Wbar h_hat: off by a factor sigma_e.)
    Use with `bernstein_lower_constraints`.

    Args:
        Wk_r, Wother_r: (2N, 2N) embedded W_k and sum_{i != k} W_i (expressions).
        h_r: (2N,) embedded h_hat; G_r: (2N, 2N) embedded h_hat h_hat^H (DPP surrogate of h^H W h).
        a: scalar (constant or Parameter).
        sigma_e: float, std of each CN entry of Delta h.
        noise_var: sigma_{n_k}^2.
        a_h_r, a_G_r: optional precomputed a*h_r, a*G_r (pass as Parameters when both a and h
            are Parameters of a DPP layer; param*param products are not DPP).
    """
    a_h_r = a * h_r if a_h_r is None else a_h_r
    a_G_r = a * G_r if a_G_r is None else a_G_r
    Q_r = sigma_e**2 * (a * Wk_r - Wother_r)
    r_r = sigma_e * (Wk_r @ a_h_r - Wother_r @ h_r)
    c = real_trace_product(a_G_r, Wk_r) - real_trace_product(G_r, Wother_r) - noise_var
    return Q_r, r_r, c


def iu_leakage_outage_terms(Wk_r, Wc_r, g_r, Gg_r, b: float, E_sqrt_r, noise_eff):
    """(Q, r, c) of the IU leakage-outage constraint (54)-(56), corrected.

    Event (54): gamma_{k,m} >= 1/b, b = 1/(2^{r_m^e} - 1). In normalised channel units
    (44) g ∝ g_hat + Delta g, Delta g = E^{1/2} q, q ~ CN(0, I). With Wbar = b W_k - W_c it is
    f(q) + c >= 0 with

        Q = E^{1/2} Wbar E^{1/2},  r = E^{1/2} Wbar g_hat,  c = g_hat^H Wbar g_hat - noise_eff,

    noise_eff = sigma_v^2 (1 + kappa) / xi_m^2 (pass the worst case d = d_hat - D for a
    distance-robust constraint). Use with `bernstein_upper_constraints`: the condition is
    E+ + c <= 0, i.e. (58) with right-hand side sigma_v^2 - g^H Wbar g (the paper's (57)-(58) have
    the opposite sign, and (56) uses B g_hat instead of E^{1/2} Wbar g_hat).

    Args:
        Wk_r, Wc_r: embedded W_k, W_c expressions.
        g_r, Gg_r: embedded g_hat and g_hat g_hat^H.
        b: float (the eavesdropping threshold r_m^e is a problem constant).
        E_sqrt_r: (2N, 2N) embedded E^{1/2} (a NumPy constant; E^{1/2} W E^{1/2} with a
            Parameter E^{1/2} would not be DPP).
        noise_eff: scalar.
    """
    Wbar = b * Wk_r - Wc_r
    Q_r = E_sqrt_r @ Wbar @ E_sqrt_r
    r_r = E_sqrt_r @ (Wbar @ g_r)
    c = b * real_trace_product(Gg_r, Wk_r) - real_trace_product(Gg_r, Wc_r) - noise_eff
    return Q_r, r_r, c
