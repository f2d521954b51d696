"""S-procedure LMIs of paper 000's robust objective (Lemma 2, eqs. (63)-(74)).

Core fact (Lemma 2 with f1 = ||Delta||^2 - eps^2): for Hermitian U and a real rhs,

    (h + Delta)^H U (h + Delta) <= rhs  for all ||Delta|| <= eps
    <=>  exists s >= 0:  [[ s I - U,      -U h                  ],
                          [ -(U h)^H,  rhs - h^H U h - s eps^2  ]]  >= 0        (*)

(lossless: one constraint, Slater point Delta = 0). (67) is (*) with U = chi sum_{i!=k} W_i - W_k,
rhs = -sigma_n^2 chi (LU worst-case private SINR >= chi); (73) is (*) with U = W_k - iota W_c,
rhs = pi (IU worst-case leakage over ||Delta g|| <= tau). (*) is bilinear when both the multiplier
(chi, iota) and W are variables, hence the two block versions:

* B1 (`..._fixed_chi`, `..._fixed_iota`): chi / iota given (constant or Parameter), W variable.
* B2 (`..._fixed_w`): W given (through precomputed numbers), chi / iota variable.

(74) is re-derived (the printed matrix has two typos, see docs/derivations/tris_rsma.md, section
"Robust objective") and implemented in a normalised, well-scaled form in `distance_lmi`.

All matrices are real embeddings (jisac.convex.embedding): U_r (2N, 2N), vectors [Re; Im] (2N,).
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from jisac.convex.embedding import complex_lmi, embedded_blocks, real_trace_product

__all__ = [
    "robust_quadratic_lmi",
    "quadratic_terms",
    "lu_worst_sinr_lmi_fixed_chi",
    "lu_worst_sinr_lmi_fixed_w",
    "iu_worst_leakage_lmi_fixed_iota",
    "iu_worst_leakage_lmi_fixed_w",
    "distance_noise_scale",
    "distance_lmi",
    "distance_lmi_printed",
]


def _col(v, n):
    return cp.reshape(v, (n, 1), order="F")


def robust_quadratic_lmi(U_r, Uh_r, hUh, rhs, eps_sq, s) -> list:
    """Constraints (*) : for all ||Delta|| <= eps, (h+Delta)^H U (h+Delta) <= rhs.

    Args:
        U_r: (2N, 2N) embedded Hermitian U (expression).
        Uh_r: (2N,) embedded U h (expression).
        hUh: scalar h^H U h (expression).
        rhs: scalar expression.
        eps_sq: eps^2 (constant or Parameter).
        s: scalar multiplier variable (theta_k in (67), zeta_{k,m} in (73)).

    Returns:
        [s >= 0, complex LMI (*) as a (2N+2)-dim real LMI].
    """
    n = U_r.shape[0] // 2
    U_re, U_im = embedded_blocks(U_r)
    u_re, u_im = _col(Uh_r[:n], n), _col(Uh_r[n:], n)
    corner = cp.reshape(rhs - hUh - s * eps_sq, (1, 1), order="F")
    # M = [[sI - U, -u], [-u^H, corner]];  Im(-u^H) = +Im(u)^T.
    M_re = cp.bmat([[s * np.eye(n) - U_re, -u_re], [-u_re.T, corner]])
    M_im = cp.bmat([[-U_im, -u_im], [u_im.T, np.zeros((1, 1))]])
    return [s >= 0, complex_lmi(M_re, M_im)]


def quadratic_terms(M, h):
    """Numeric (M_r, (M h)_r, h^H M h) for complex Hermitian M (N, N) and h (N,) (for B2)."""
    M = np.asarray(M)
    h = np.asarray(h)
    Mh = M @ h
    M_r = np.block([[M.real, -M.imag], [M.imag, M.real]])
    return M_r, np.concatenate([Mh.real, Mh.imag]), float(np.real(np.vdot(h, Mh)))


def lu_worst_sinr_lmi_fixed_chi(Wk_r, Wother_r, h_r, G_r, chi, noise_var, eps_sq, theta,
                                chi_h_r=None, chi_G_r=None, noise_chi=None) -> list:
    """(67), block B1: min_{||Dh||<=eps} gamma_{p,k} >= chi with chi fixed, W variable.

    U = chi S - W_k, S = sum_{i != k} W_i, rhs = -sigma_n^2 chi.

    Args:
        Wk_r, Wother_r: embedded W_k and S (expressions, affine in W).
        h_r, G_r: embedded h_hat and h_hat h_hat^H.
        chi: the fixed SINR target (constant or Parameter).
        chi_h_r, chi_G_r, noise_chi: optional chi*h_r, chi*G_r, sigma_n^2*chi; needed as
            Parameters for DPP when chi and h (or sigma_n^2) are both Parameters.
        theta: multiplier variable (vartheta_k).
    """
    chi_h_r = chi * h_r if chi_h_r is None else chi_h_r
    chi_G_r = chi * G_r if chi_G_r is None else chi_G_r
    U_r = chi * Wother_r - Wk_r
    Uh_r = Wother_r @ chi_h_r - Wk_r @ h_r
    hUh = real_trace_product(chi_G_r, Wother_r) - real_trace_product(G_r, Wk_r)
    noise_chi = noise_var * chi if noise_chi is None else noise_chi
    return robust_quadratic_lmi(U_r, Uh_r, hUh, -noise_chi, eps_sq, theta)


def lu_worst_sinr_lmi_fixed_w(chi, Wk_r, Wother_r, Wk_h_r, Wother_h_r, hWkh, hWotherh,
                              noise_var, eps_sq, theta) -> list:
    """(67), block B2: W fixed (constants or Parameters), chi variable; jointly linear in
    (chi, theta). Inputs are the embedded W_k, S, their products with h_hat and the quadratic
    forms h^H W_k h, h^H S h (see `quadratic_terms`)."""
    U_r = chi * Wother_r - Wk_r
    Uh_r = chi * Wother_h_r - Wk_h_r
    hUh = chi * hWotherh - hWkh
    return robust_quadratic_lmi(U_r, Uh_r, hUh, -noise_var * chi, eps_sq, theta)


def iu_worst_leakage_lmi_fixed_iota(Wk_r, Wc_r, g_r, Gg_r, iota, pi, tau_sq, zeta,
                                    iota_g_r=None, iota_G_r=None) -> list:
    """(73), block B1: max_{||Dg||<=tau} (g+Dg)^H (W_k - iota W_c)(g+Dg) <= pi, iota fixed.

    g is the normalised IU channel g_hat of (44); pi is the slack of (71)-(72).
    """
    iota_g_r = iota * g_r if iota_g_r is None else iota_g_r
    iota_G_r = iota * Gg_r if iota_G_r is None else iota_G_r
    U_r = Wk_r - iota * Wc_r
    Uh_r = Wk_r @ g_r - Wc_r @ iota_g_r
    hUh = real_trace_product(Gg_r, Wk_r) - real_trace_product(iota_G_r, Wc_r)
    return robust_quadratic_lmi(U_r, Uh_r, hUh, pi, tau_sq, zeta)


def iu_worst_leakage_lmi_fixed_w(iota, pi, Wk_r, Wc_r, Wk_g_r, Wc_g_r, gWkg, gWcg,
                                 tau_sq, zeta) -> list:
    """(73), block B2: W fixed, iota and pi variables (jointly linear)."""
    U_r = Wk_r - iota * Wc_r
    Uh_r = Wk_g_r - iota * Wc_g_r
    hUh = gWkg - iota * gWcg
    return robust_quadratic_lmi(U_r, Uh_r, hUh, pi, tau_sq, zeta)


def distance_noise_scale(noise_var, kappa, wavelength, d_hat):
    """K = sigma_v^2 (1 + kappa) (4 pi d_hat)^2 / lambda^2 = sigma_v^2 (1+kappa) / xi_hat^2.

    The effective noise of (72) at the nominal distance, in normalised channel units (44).
    """
    return noise_var * (1.0 + kappa) * (4.0 * np.pi * d_hat) ** 2 / wavelength**2


def distance_lmi(pi, K_iota, beta, delta_sq) -> list:
    """(72) for all |Delta d| <= D via the real S-procedure, corrected and normalised.

    (72): pi <= K iota (1 + x)^2 for all |x| <= delta, with x = Delta d / d_hat,
    delta = D / d_hat, K = `distance_noise_scale(...)`. Lossless S-procedure (beta >= 0):

        [[ beta + K iota,  K iota                          ],
         [ K iota,         K iota - beta delta^2 - pi      ]]  >= 0.

    This equals the corrected (74) (off-diagonal c iota d_hat, corner c iota d_hat^2 - beta D^2
    - lambda^2 pi with c = sigma_v^2 (1+kappa)(4 pi)^2) after the congruence diag(1, 1/d_hat) and
    division by lambda^2 (beta here = beta_(74) d_hat^2 / lambda^2); it is equivalent to
    pi <= K iota (1 - delta)^2 for delta <= 1.

    Args:
        pi: the slack of (71)-(72) (variable or constant).
        K_iota: K * iota as one expression (pass it as a single Parameter in B1, where both K
            and iota are data: a product of two Parameters is not DPP; K * iota_var in B2).
        beta: multiplier variable.
        delta_sq: (D / d_hat)^2 (constant or Parameter).
    """
    one = lambda e: cp.reshape(e, (1, 1), order="F")
    P = cp.bmat([[one(beta + K_iota), one(K_iota)],
                 [one(K_iota), one(K_iota - beta * delta_sq - pi)]])
    return [beta >= 0, P >> 0]


def distance_lmi_printed(pi, iota, beta, noise_var, kappa, wavelength, d_hat, D) -> list:
    """The (74) matrix as printed in paper 000 (for the erratum test only; do not use)."""
    c = noise_var * (4 * np.pi) ** 2 * (1 + kappa)
    ci = c * iota
    P = cp.bmat([[cp.reshape(beta + ci, (1, 1), order="F"),
                  cp.reshape(2 * d_hat * ci, (1, 1), order="F")],
                 [cp.reshape(2 * d_hat * ci, (1, 1), order="F"),
                  cp.reshape(-beta * D**2 + d_hat * ci - wavelength**2 * pi, (1, 1), order="F")]])
    return [beta >= 0, P >> 0]
