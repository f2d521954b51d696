"""Block B of paper 004's L-BCD: robust secure hybrid beamforming with AN (eqs. (36a)-(38)).

Model (derivation and all approximations: ``docs/derivations/sim_lbcd.md``, section "Block B").
Given the SIM phases (design model, LoS eq. (9)), the effective channels ``h_k`` (users, eq. (17))
and ``g_e`` (eavesdroppers, eq. (18)) are fixed; the block chooses ``V_k = w_k w_k^H`` and
``Z = R_AN`` by ONE SCA step of the SDR

    max  sum_k [ log(h_k^H (sum_j V_j + Z) h_k + s2) - tangent_{D_k^0}(log D_k)          (33)-(34)
                 + min_e ( -tangent_{T_ek^0}(log T_ek) + log I_ek ) ]                     (21)-(22)
    s.t. V_k >= 0, Z >= 0, sum_k tr V_k + tr Z <= P_b                                     (23b)-(23d)
         (h_k + d)^H (V_k - gamma (sum_{j!=k} V_j + Z)) (h_k + d) >= gamma s2  ||d|| <= eps_k
                                                  (23j) robust: S-procedure LMI (exact)
         f_k(V^0, Z^0) + <grad f_k, (V, Z) - (V^0, Z^0)> + slack_k >= R_min + Delta_k     (25)
             f_k = E[R_k] - delta sqrt(Var[R_k]) over Monte-Carlo eavesdropper errors (26)-(27)

through a cached cvxpylayers layer (``_layers.py``), Clarabel by default with an SCS retry, in the
subspace spanned by the channels (``reduction_basis``; exact except for the outage rows). Then
Gaussian randomisation (best feasible of ``n_rand`` draws + the principal eigenvectors + the
previous design), each candidate hybrid-decomposed by alternating minimisation (37)-(38) and
checked *after* decomposition (power, exact worst-case SINR via the S-lemma dual, outage
surrogate). ``R_AN`` is the SDR's ``Z`` (full rank allowed; its numerical rank is reported).
``robust=False`` is the NR-LBCD variant: ``eps = 0`` and no outage surrogate.

Never raises on solver failure: returns the previous design with ``info["status"]`` saying why.
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from ...channels.sim_coupling import rician_coupling
from ...convex.embedding import embed_complex_vector
from ...designs.sim import SimDesign
from ...hardware.hybrid import alternating_minimization
from ...hardware.sim import sim_cascade
from ...scenarios import SimScenario
from ...runtime import blas_single_thread
from ...systems.sim import SimSystem
from ._layers import (beamforming_layer, beamforming_problem, herm_param_values,
                      scale_lmi_parameters, solve_beamforming_direct, solve_beamforming_layer)

__all__ = [
    "beamforming_block",
    "comm_power_budget",
    "outage_delta",
    "eve_error_samples",
    "outage_samples",
    "moment_surrogate",
    "surrogate_linearization",
    "sdr_parameters",
    "reduction_basis",
    "reduced_sdr_parameters",
    "worst_case_sinr",
    "ball_min_quadratic",
    "repair_sdr",
]

# Clarabel first: at the Sec.-V size (reduced, r = 14) it solved block B in 11 s, while SCS
# stopped "inaccurate" (PSD/power residual 5e-2) after 200 s (the SNR-normalised data span ~8
# orders of magnitude, which first-order SCS handles badly).
_SOLVERS = ("Clarabel", "SCS")


def _abs2(z):
    return jnp.real(z) ** 2 + jnp.imag(z) ** 2


def outage_delta(eps_out: float) -> float:
    """Safety factor of (25): ``delta = Phi^{-1}(1 - eps_out) = Q^{-1}(eps_out)`` (> 0 for
    ``eps_out < 1/2``). The paper's ``Q^{-1}(1 - eps_out)`` is negative (erratum)."""
    return float(ndtri(1.0 - eps_out))


def comm_power_budget(design: SimDesign, s: SimScenario) -> float:
    """``P_b = min(p_comm, P_max, (E_max / T_slot - tau_s p_s) / tau_c)`` ((23b)-(23d))."""
    tau_s, tau_c = float(design.tau[1]), float(design.tau[2])
    e_left = s.energy_budget / s.t_slot - tau_s * float(design.p_sense)
    return float(min(float(design.p_comm), s.p_bs_max, e_left / tau_c))


# jitted: called eagerly, sim_cascade's lax.scan (its body a fresh closure per call) was traced
# and compiled again on every block call (0.4-0.7 s per call at Sec. V)
@jax.jit
def _effective_kernel(theta, h1, h_inter, H_users, H_eves):
    G = sim_cascade(theta, h1, h_inter)                                  # design model (9)
    return G, H_users @ jnp.conj(G), H_eves @ jnp.conj(G)                # rows h_eff = G^H h


def _effective(system: SimSystem, design: SimDesign):
    return _effective_kernel(design.theta_comm, system.h1, system.h_inter, system.H_users,
                             system.H_eves)



def eve_error_samples(system: SimSystem, design: SimDesign, s: SimScenario, key, n: int):
    """``n`` draws of the eavesdroppers' effective channels ``(n, E, M)`` under the probabilistic
    eavesdropper model of ``jisac.evaluation.sim.certify_sim`` (the model the design is certified
    on): SIM->eve channel ``h_e + CN(0, (eve_error_std^2 ||h_e||^2 / N) I)``, then ``G^H``."""
    G, _, _ = _effective(system, design)
    # eager on purpose: a jitted version fuses the complex multiply-add (FMA), which moves the
    # samples by ~1e-22 and the SDR solution downstream by ~1e-6 relative; eager elementwise ops
    # are compiled once per shape, so this costs no recompilation
    He = system.H_eves
    E, N = He.shape
    std = s.eve_error_std * jnp.linalg.norm(He, axis=1) / np.sqrt(N)
    rdt = jnp.real(He).dtype
    z = jax.random.normal(key, (n, E, N, 2), rdt)
    z = (z[..., 0] + 1j * z[..., 1]) / np.sqrt(2.0)
    return (He[None] + std[None, :, None] * z) @ jnp.conj(G)


@partial(jax.jit, static_argnames=("n", "n_couplings"))
def _coupling_samples_kernel(theta, h1, h_inter, H_users, H_eves, eve_std, kappa, key, n: int,
                             n_couplings: int):
    k_h, k_e = jax.random.split(key)
    stack = jax.vmap(lambda k: rician_coupling(k, h_inter, kappa))(
        jax.random.split(k_h, n_couplings))                              # (C, L-1, N, N)
    G = jax.vmap(lambda h: sim_cascade(theta, h1, h))(stack)             # (C, N, M)
    c = jnp.arange(n) % n_couplings                                      # sample -> coupling
    E, N = H_eves.shape
    z = jax.random.normal(k_e, (n, E, N, 2), eve_std.dtype)
    z = (z[..., 0] + 1j * z[..., 1]) / np.sqrt(2.0)
    Gc = jnp.conj(G[c])                                                  # (n, N, M)
    hu = H_users[None] @ Gc                                              # (n, K, M)
    he = (H_eves[None] + eve_std[None, :, None] * z) @ Gc                # (n, E, M)
    return hu, he


def outage_samples(system: SimSystem, design: SimDesign, s: SimScenario, key, n: int,
                   n_couplings: int = 0):
    """The Monte-Carlo draws behind the outage surrogate (25)-(27): ``(hu_samples, he_samples)``.

    ``n_couplings = 0`` (the paper's model): the users' effective channels are the nominal ones
    of the design model (9) (``hu_samples = None``) and the eavesdroppers' are
    :func:`eve_error_samples`. ``n_couplings = C > 0``: draw ``i`` also draws the inter-layer
    coupling, from ``C`` realisations of the Rician model (10) around the design model's
    ``h_inter`` (realisation ``i mod C``; :func:`jisac.channels.sim_coupling.rician_coupling`,
    the law the evaluation coupling of a drop is drawn from): ``hu_samples (n, K, M)`` are the
    users' nominal channels through that cascade, ``he_samples (n, E, M)`` the eavesdroppers'
    channels with their CSI error through it. The design then sees the *law* of the coupling,
    not the drop's realisation (docs/derivations/sim_lbcd.md, "Coupling-aware outage rows").
    One layer (no inter-layer link) has nothing to draw: the ``n_couplings = 0`` draws.
    """
    if n_couplings == 0 or system.h_inter.shape[0] == 0:
        return None, eve_error_samples(system, design, s, key, n)
    He = system.H_eves
    std = s.eve_error_std * jnp.linalg.norm(He, axis=1) / np.sqrt(He.shape[1])
    kappa = s.interlayer_rician_k / (1.0 + s.interlayer_rician_k)
    return _coupling_samples_kernel(design.theta_comm, system.h1, system.h_inter, system.H_users,
                                    He, std, kappa, key, int(n), int(n_couplings))


def _rates_sdr(h, V, Z):
    """``log2(1 + SINR)`` at receivers ``h (J, M)`` for the K streams of the SDR matrices
    ``V (K, M, M)``, AN ``Z``, unit noise: ``[j, k]``."""
    q = jnp.real(jnp.einsum("jm,kmn,jn->jk", jnp.conj(h), V, h))      # h_j^H V_k h_j
    z = jnp.real(jnp.einsum("jm,mn,jn->j", jnp.conj(h), Z, h))
    tot = jnp.sum(q, axis=1) + z + 1.0
    return jnp.log2(tot[:, None]) - jnp.log2(tot[:, None] - q)


def _safe_sqrt(x):
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def moment_surrogate(V, Z, hu, he_samples, delta, hu_samples=None):
    """``f_k = E[R_k] - delta sqrt(Var[R_k])`` (004 (25)-(27)), bits, shape (K,).

    Normalised units (unit noise). ``R_k = log2(1 + SINR_k) - max_e log2(1 + SINR_e^(k))`` without
    ``[.]^+`` (for ``R_min > 0`` the outage event is the same and the gradient is informative);
    the user term is deterministic (nominal estimate ``hu (K, M)``) unless ``hu_samples (S, K, M)``
    gives the users' channel per sample (coupling draws, :func:`outage_samples`); the max over
    eavesdroppers is taken per sample (26)-(27); moments are the sample mean and unbiased sample
    variance over ``he_samples (S, E, M)``.
    """
    r_eve = jax.vmap(lambda he: jnp.max(_rates_sdr(he, V, Z), axis=0))(he_samples)  # (S, K)
    if hu_samples is None:
        r_user = jnp.diagonal(_rates_sdr(hu, V, Z))[None, :]                        # (1, K)
    else:
        r_user = jax.vmap(lambda h: jnp.diagonal(_rates_sdr(h, V, Z)))(hu_samples)  # (S, K)
    sec = r_user - r_eve
    n = sec.shape[0]
    mean = jnp.mean(sec, axis=0)
    var = jnp.sum((sec - mean[None, :]) ** 2, axis=0) / (n - 1)
    return mean - delta * _safe_sqrt(var)


@jax.jit
def _surrogate_and_grad(V, Z, hu, he_samples, delta, hu_samples=None):
    def f(vr, vi, zr, zi, k):
        return moment_surrogate(vr + 1j * vi, zr + 1j * zi, hu, he_samples, delta, hu_samples)[k]

    K = V.shape[0]
    vals = moment_surrogate(V, Z, hu, he_samples, delta, hu_samples)
    g = jax.vmap(lambda k: jax.grad(f, argnums=(0, 1, 2, 3))(jnp.real(V), jnp.imag(V),
                                                                  jnp.real(Z), jnp.imag(Z), k))(
        jnp.arange(K))
    GV = g[0] + 1j * g[1]      # (K, K, M, M): d f_k / d V_j as Re/Im partials
    GZ = g[2] + 1j * g[3]      # (K, M, M)
    return vals, GV, GZ


def surrogate_linearization(V0, Z0, hu, he_samples, delta, target, hu_samples=None):
    """Affine model of (25) around ``(V0, Z0)``: returns ``(A (K, K+1, M, M), b (K,), f0 (K,))``
    with ``f_k(V, Z) - target_k ~ b_k + sum_j Re tr(A_kj X_j)`` (``X_K = Z``); ``hu_samples``
    as in :func:`moment_surrogate`.

    With ``Gamma = dRe + j dIm`` the partials of ``f_k``, ``df = Re tr(Gamma^H dX)``, so
    ``A_kj = Gamma_kj^H`` and ``b_k = f_k(x0) - target_k - sum_j Re tr(A_kj X0_j)``.
    """
    f0, GV, GZ = _surrogate_and_grad(jnp.asarray(V0), jnp.asarray(Z0), hu, he_samples, delta,
                                     hu_samples)
    Gam = jnp.concatenate([GV, GZ[:, None]], axis=1)                  # (K, K+1, M, M)
    A = jnp.conj(jnp.swapaxes(Gam, -1, -2))
    X0 = jnp.concatenate([jnp.asarray(V0), jnp.asarray(Z0)[None]], axis=0)
    lin0 = jnp.real(jnp.einsum("kjmn,jnm->k", A, X0))
    return A, f0 - target - lin0, f0


def sdr_parameters(hu, he, V0, Z0, *, eps=None, lin=None) -> dict:
    """Layer parameters (normalised units, see ``_layers``) for the current point ``(V0, Z0)``.

    ``hu (K, M)``, ``he (E, M)`` nominal normalised channels; ``eps (K,)`` normalised CSI radii
    (robust layer); ``lin = (A, b)`` from :func:`surrogate_linearization` (robust layer), passed
    to the layer as ``B_k = A_kK`` (the common derivative on ``S``) and ``C_k = A_kk - A_kK``.
    """
    hu, he, V0, Z0 = (np.asarray(x) for x in (hu, he, V0, Z0))
    K = hu.shape[0]
    tot0 = V0.sum(0) + Z0
    p = {}

    def herm(name, G):
        p[f"{name}_re"], p[f"{name}_im"] = herm_param_values(G)

    for e in range(he.shape[0]):
        herm(f"Ge{e}", np.outer(he[e], he[e].conj()))
        T0 = np.real(he[e].conj() @ tot0 @ he[e]) + 1.0
        p[f"iT{e}"], p[f"ce{e}"] = np.asarray(1.0 / T0), np.asarray(1.0 - np.log(T0))
    for k in range(K):
        herm(f"Gu{k}", np.outer(hu[k], hu[k].conj()))
        p[f"iD{k}"] = np.asarray(1.0 / (np.real(hu[k].conj() @ (tot0 - V0[k]) @ hu[k]) + 1.0))
        if eps is not None:
            p[f"hu{k}"] = embed_complex_vector(hu[k])
            p[f"eps2_{k}"] = np.asarray(float(eps[k]) ** 2)
        if lin is not None:
            A, b = np.asarray(lin[0]), np.asarray(lin[1])
            p[f"b{k}"] = np.asarray(b[k])
            herm(f"B{k}", A[k, K])
            herm(f"C{k}", A[k, k] - A[k, K])
    return p


def reduction_basis(hu, he, W0, Z0, err, r: int, rtol: float = 1e-9) -> np.ndarray:
    """Orthonormal ``U (M, r)`` whose range holds every user and eavesdropper channel.

    Columns by Gram-Schmidt, in this order, skipping vectors already (numerically) in the span:
    the channels ``hu (K, M)``, ``he (E, M)`` (so every nominal quadratic form, SINR and the
    S-procedure reduce exactly), the previous beams ``W0 (M, K)`` and the eigenvectors of the
    previous AN ``Z0`` (so the previous point is representable where possible), then the principal
    directions of the eavesdropper-channel errors ``err (S, M)`` (where AN in the U-perp part helps
    the outage surrogate most), then coordinate vectors. Requires ``r >= K + E``.
    """
    hu, he, W0, Z0 = (np.asarray(x) for x in (hu, he, W0, Z0))
    M = hu.shape[1]
    if not hu.shape[0] + he.shape[0] <= r <= M:
        raise ValueError(f"subspace_dim r={r} must lie in [K + E, M] = "
                         f"[{hu.shape[0] + he.shape[0]}, {M}]")
    zl, zv = np.linalg.eigh(0.5 * (Z0 + Z0.conj().T))
    cands = [*hu, *he, *W0.T, *(zv[:, ::-1].T[zl[::-1] > rtol * max(zl.max(), 1e-300)])]
    if err is not None and np.size(err):
        _, _, vh = np.linalg.svd(np.asarray(err), full_matrices=False)
        cands += list(vh.conj())           # right singular vectors (rows of vh are v^H)
    cands += list(np.eye(M, dtype=complex))
    cols: list = []
    for v in cands:
        v = np.asarray(v, complex)
        nv = np.linalg.norm(v)
        if nv == 0:
            continue
        for _ in range(2):                 # re-orthogonalise once (classical GS in finite precision)
            for u in cols:
                v = v - (u.conj() @ v) * u
        if np.linalg.norm(v) > 1e-7 * nv:
            cols.append(v / np.linalg.norm(v))
        if len(cols) == r:
            break
    return np.stack(cols, axis=1)


def reduced_sdr_parameters(U, hu, he, V0, Z0, *, eps=None, lin=None) -> dict:
    """:func:`sdr_parameters` of the SDR restricted to ``range(U)`` (+ isotropic AN ``z_perp`` on
    the complement): channels ``U^H h``, previous point ``U^H X U``, linearisation ``U^H A U``
    and ``zp{k} = Re tr(B_k (I - U U^H))``, the derivative of user k's linearised outage
    constraint along ``z_perp`` (Z enters (25) only through S, so its coefficient is ``B_k``).
    ``b`` is unchanged (the model is evaluated at the lifted point). See sim_lbcd.md."""
    U = np.asarray(U)
    Uh = U.conj().T
    red = lambda X: Uh @ np.asarray(X) @ U
    lin_r = None
    if lin is not None:
        A, b = np.asarray(lin[0]), np.asarray(lin[1])
        lin_r = (np.einsum("mi,kjmn,nl->kjil", U.conj(), A, U), b)
    p = sdr_parameters(np.asarray(hu) @ U.conj(), np.asarray(he) @ U.conj(),
                       np.stack([red(v) for v in np.asarray(V0)]), red(Z0), eps=eps, lin=lin_r)
    if lin is not None:
        Pp = np.eye(U.shape[0]) - U @ Uh
        K = A.shape[0]
        for k in range(K):
            p[f"zp{k}"] = np.asarray(float(np.real(np.trace(A[k, K] @ Pp))))
    return p


def ball_min_quadratic(Q, h, eps, n_grid: int = 256):
    """Certified lower bound on ``min_{||d|| <= eps} (h + d)^H Q (h + d)`` for Hermitian ``Q (M, M)``
    (indefinite allowed), exact up to the dual grid.

    S-lemma strong duality (one quadratic constraint, Slater for ``eps > 0``): with
    ``Q = U diag(lambda) U^H`` and ``c = U^H h`` the minimum equals
    ``max_{mu > max(0, -lambda_min)} sum_i lambda_i mu |c_i|^2 / (lambda_i + mu) - mu eps^2``;
    every ``mu`` gives a valid lower bound (weak duality), we take the best of a log-spaced grid.
    ``eps = 0`` returns ``h^H Q h``.
    """
    lam, U = jnp.linalg.eigh(Q)
    c2 = _abs2(jnp.conj(U.T) @ h)
    mu0 = jnp.maximum(0.0, -lam[0])
    scale = jnp.maximum(jnp.max(jnp.abs(lam)), 1e-30)
    mus = mu0 + scale * jnp.logspace(-9, 6, n_grid, dtype=lam.dtype)
    g = jax.vmap(lambda mu: jnp.sum(lam * mu * c2 / (lam + mu)) - mu * eps ** 2)(mus)
    return jnp.where(eps > 0, jnp.max(g), jnp.real(jnp.conj(h) @ Q @ h))


def worst_case_sinr(h, w, Z, eps, n_grid: int = 256):
    """Certified lower bound (tight up to the grid) on ``min_{||d|| <= eps} SINR_k(h + d)`` for a
    rank-one precoder ``w (M, K)``, AN ``Z``, unit noise; ``h (K, M)``, ``eps (K,)``.

    ``SINR_k(h + d) >= gamma`` for all ``d`` in the ball iff
    ``min_d (h+d)^H Q (h+d) >= gamma`` with ``Q = w_k w_k^H - gamma (sum_{j!=k} w_j w_j^H + Z)``
    (:func:`ball_min_quadratic`); bisection on ``gamma`` (40 steps) from the upper bound
    ``(|h^H w_k| + eps ||w_k||)^2``.
    """
    K = h.shape[0]

    def margin(k, gamma):
        wk = w[:, k][:, None]
        S = w @ jnp.conj(w.T) - wk @ jnp.conj(wk.T)
        Q = wk @ jnp.conj(wk.T) - gamma * (S + Z)
        return ball_min_quadratic(Q, h[k], eps[k], n_grid) - gamma

    def one(k):
        hi0 = (jnp.sqrt(_abs2(jnp.vdot(h[k], w[:, k]))) + eps[k] * jnp.linalg.norm(w[:, k])) ** 2

        def body(_, lohi):
            lo, hi = lohi
            mid = 0.5 * (lo + hi)
            ok = margin(k, mid) >= 0
            return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

        lo, _ = jax.lax.fori_loop(0, 40, body, (jnp.zeros_like(hi0), hi0))
        return lo

    return jax.vmap(one)(jnp.arange(K))


@partial(jax.jit, static_argnames=("n_rand", "n_rf", "n_iter"))
def _randomize(V, Z, key, n_rand: int, n_rf: int, n_iter: int):
    """Candidates: principal eigenvectors + ``n_rand`` Gaussian draws ``xi_k ~ CN(0, V_k)`` scaled
    to ``||xi_k||^2 = tr V_k``; each scaled to the power budget 1 and hybrid-decomposed."""
    K, M, _ = V.shape
    lam, U = jnp.linalg.eigh(V)                                      # (K, M), (K, M, M)
    lam = jnp.maximum(lam, 0.0)
    principal = (U[:, :, -1] * jnp.sqrt(lam[:, -1])[:, None]).T       # (M, K)
    sqrtV = jnp.einsum("kmi,ki,kni->kmn", U, jnp.sqrt(lam), jnp.conj(U))
    rdt = lam.dtype
    r = jax.random.normal(key, (n_rand, K, M, 2), rdt)
    r = (r[..., 0] + 1j * r[..., 1]) / np.sqrt(2.0)
    xi = jnp.einsum("kmn,skn->skm", sqrtV, r)                         # (S, K, M)
    trV = jnp.sum(lam, axis=1)
    nrm = jnp.sum(_abs2(xi), axis=2)
    xi = xi * jnp.sqrt(trV[None, :] / jnp.where(nrm > 0, nrm, 1.0))[:, :, None]
    cand = jnp.concatenate([principal[None], jnp.swapaxes(xi, 1, 2)], axis=0)   # (C, M, K)
    room = jnp.maximum(1.0 - jnp.real(jnp.trace(Z)), 0.0)
    pw = jnp.sum(_abs2(cand), axis=(1, 2))
    cand = cand * jnp.sqrt(jnp.minimum(1.0, room / jnp.where(pw > 0, pw, 1.0)))[:, None, None]
    hyb = jax.vmap(lambda w: alternating_minimization(w, n_rf, n_iter=n_iter))(cand)
    return hyb.w_rf, hyb.w_bb, cand


def _score(W, Z, hu, he, he_samples, hu_samples, eps, gamma, delta, target, robust: bool):
    """(nominal secrecy sum [bits, clipped (22)], feasible, violation) of one rank-one candidate."""
    V = jnp.einsum("mk,nk->kmn", W, jnp.conj(W))
    r_user = jnp.diagonal(_rates_sdr(hu, V, Z))
    r_eve = jnp.max(_rates_sdr(he, V, Z), axis=0) if he.shape[0] else jnp.zeros_like(r_user)
    sec = jnp.sum(jnp.maximum(r_user - r_eve, 0.0))
    sinr_wc = worst_case_sinr(hu, W, Z, eps)
    viol = jnp.sum(jnp.maximum(gamma - sinr_wc, 0.0) / jnp.maximum(gamma, 1e-12))
    pw = jnp.sum(_abs2(W)) + jnp.real(jnp.trace(Z))
    viol = viol + jnp.maximum(pw - 1.0, 0.0)
    if robust:
        f = moment_surrogate(V, Z, hu, he_samples, delta, hu_samples)
        viol = viol + jnp.sum(jnp.maximum(target - f, 0.0))
    feasible = viol <= 1e-6
    return sec, feasible, viol, sinr_wc


@partial(jax.jit, static_argnames=("robust",))
def _score_all(Ws, Z, hu, he, he_samples, hu_samples, eps, gamma, delta, target, robust: bool):
    """:func:`_score` for a stack of candidates ``Ws (C, M, K)``."""
    return jax.vmap(lambda W: _score(W, Z, hu, he, he_samples, hu_samples, eps, gamma, delta,
                                     target, robust))(Ws)


_moment_jit = jax.jit(moment_surrogate)


def repair_sdr(V, Z):
    """Nearest usable SDR point of a slightly inexact solver answer: every ``V_k`` and ``Z``
    projected onto the PSD cone (negative eigenvalues clipped, Frobenius-nearest), then all
    scaled by ``1 / max(1, sum_k tr V_k + tr Z)`` onto the normalised power budget.

    Why this is safe: the SDR point only seeds the Gaussian randomisation; every candidate is
    re-checked after the hybrid decomposition against the exact constraints (power, worst-case
    SINR by the S-lemma dual, outage surrogate), and the previous design is a candidate too."""
    def psd(x):
        x = 0.5 * (x + np.conj(np.swapaxes(x, -1, -2)))
        w, U = np.linalg.eigh(x)
        return (U * np.maximum(w, 0.0)[..., None, :]) @ np.conj(np.swapaxes(U, -1, -2))

    V, Z = psd(np.asarray(V)), psd(np.asarray(Z))
    tot = float(np.trace(V.sum(0) + Z).real)
    scale = 1.0 / max(1.0, tot)
    return V * scale, Z * scale


def _sdr_residuals(V, Z, hu, eps, gamma):
    """Max violation of PSD-ness (relative to the largest trace) and of the power budget of an
    SDR solution (the acceptance test for a solver answer; the LMIs are re-checked on the
    rank-one candidates by `worst_case_sinr`)."""
    mins = [np.linalg.eigvalsh(x).min() for x in (*V, Z)]
    scale = max(1.0, max(np.trace(x).real for x in (*V, Z)))
    res = max(0.0, -min(mins) / scale)
    res = max(res, np.trace(V.sum(0) + Z).real - 1.0)
    return res


@blas_single_thread
def beamforming_block(system: SimSystem, design: SimDesign, s: SimScenario, *, eps_csi=None,
                      robust: bool = True, solver: str | None = None, key, n_rand: int = 64,
                      n_mc: int = 256, outage_margin: float = 0.0, n_hybrid_iter: int = 100,
                      tol: float = 1e-4, repair_tol: float = 1e-2, backend: str = "auto",
                      subspace_dim: int | None = -1, lmi_scaled: bool = False,
                      outage_couplings: int = 0):
    """Block B (004 (36)-(38)); returns ``(design, info)``. See the module docstring.

    ``eps_csi (K,)``: absolute CSI-error radii on ``h_eff,k`` (block E's ``info["eps_csi"]``);
    ``None`` -> ``s.csi_error_bound * ||h_eff,k||`` (the certification model). ``solver``: first
    solver (``"Clarabel"`` default, or ``"SCS"``); on failure / inaccurate the other is tried.
    ``outage_margin``: ``Delta_k`` of (25). ``key`` drives the eavesdropper Monte-Carlo draws and
    the Gaussian randomisation. ``backend``: ``"layer"`` (cached CvxpyLayer), ``"cvxpy"`` (the
    same cached Problem solved with ``ignore_dpp=True``), ``"auto"`` = layer for ``M <= 16``
    (the DPP compile needs > 12 GB at M = 32, see ``_layers``). ``subspace_dim``: dimension r of
    the subspace the SDR is solved in (:func:`reduction_basis`; exact except for the outage
    linearisation, docs/derivations/sim_lbcd.md "Subspace reduction"); ``-1`` (default) =
    ``2K + E + 4``, ``None`` = no reduction; no reduction either when ``r >= M``.
    ``lmi_scaled``: the robust S-procedure LMI with its last row/column scaled by ``1/||h_k||``
    (the same constraint, better conditioned; measured, not the default: docs "Block B").
    ``outage_couplings``: ``C > 0`` draws the ``n_mc`` samples of the outage surrogate over ``C``
    Rician coupling realisations (10) as well (:func:`outage_samples`; users' channels random
    too); ``0`` (default) = the paper's model, the design coupling only.
    ``tol`` / ``repair_tol``: a solver answer whose PSD / power residual (:func:`_sdr_residuals`)
    is ``<= tol`` is used as it is; one in ``(tol, repair_tol]`` with a solver status ``optimal``
    or ``optimal_inaccurate`` is used after :func:`repair_sdr` (status suffix ``_sdr_repaired``),
    without trying the other solver; above ``repair_tol`` the other solver is tried.

    info: ``status`` (``"optimal"``, ``"optimal_inaccurate_rank1"``..., or a failure reason with
    the previous design returned), ``attempts`` [(solver, status, seconds)], ``solve_time_s``,
    ``sdr_objective``, ``outage_slack (K,)``, ``rank_V (K,)``, ``rank_R_AN``, ``feasible``,
    ``candidate`` (0 principal, 1..n_rand random, -1 previous), ``sum_secrecy_rate`` (nominal,
    bits), ``sinr_worst (K,)``, ``outage_surrogate (K,)``, ``hybrid_residual``, ``power_budget``
    (``P_b``, W; written to ``design.p_comm`` -- the allocation, so repeated calls do not drift),
    ``p_comm_used`` (W, ``sum ||w_k||^2 + tr R_AN <= P_b``), ``sdr_V``, ``sdr_Z`` (W),
    ``time_s`` (the call), ``phase_s`` (wall seconds per phase: eavesdropper samples,
    linearisation, subspace basis + parameters, layer lookup, SDR solve, randomisation + hybrid
    decomposition, candidate scoring, finalisation; ``benchmarks/block_b.py``).

    Runs with one BLAS/LAPACK thread (:func:`jisac.runtime.blas_single_thread`: every matrix here
    is at most M x M, and threaded OpenBLAS collapses on such calls).
    """
    t_start = time.perf_counter()
    info: dict = {"attempts": [], "robust": robust}
    phase = info["phase_s"] = {}
    t_mark = [t_start]

    def mark(name, *arrays):
        # wall time since the previous mark; blocks on `arrays` first (JAX dispatch is async)
        jax.block_until_ready(arrays)
        now = time.perf_counter()
        phase[name] = phase.get(name, 0.0) + now - t_mark[0]
        t_mark[0] = now

    try:
        P_b = comm_power_budget(design, s)
        if not P_b > 0:
            info["status"] = "no_power_budget"
            return design, info
        _, hu, he = _effective(system, design)
        K, M = hu.shape
        E = he.shape[0]
        R = design.W_RF.shape[1]
        su, se = np.sqrt(P_b / s.noise), np.sqrt(P_b / s.noise_eve)
        hu_n, he_n = hu * su, he * se
        if not robust:
            eps_abs = jnp.zeros(K, jnp.real(hu).dtype)
        elif eps_csi is None:
            eps_abs = s.csi_error_bound * jnp.linalg.norm(hu, axis=1)
        else:
            eps_abs = jnp.asarray(eps_csi, jnp.real(hu).dtype)
        eps_n = eps_abs * su
        gamma = 10.0 ** (s.sinr_min_db / 10.0)
        delta = outage_delta(s.eps_out)
        target = jnp.full((K,), s.r_min + outage_margin, jnp.real(hu).dtype)
        k_mc, k_rand = jax.random.split(key)
        hu_samp = he_samp = None
        if robust:
            hu_samp, he_samp = outage_samples(system, design, s, k_mc, n_mc, outage_couplings)
            he_samp = he_samp * se
            hu_samp = None if hu_samp is None else hu_samp * su
        info["outage_couplings"] = int(outage_couplings) if hu_samp is not None else 0
        mark("setup_eve_samples", hu, he, he_samp, hu_samp)

        W0 = design.W / np.sqrt(P_b)
        V0 = jnp.einsum("mk,nk->kmn", W0, jnp.conj(W0))
        Z0 = design.R_AN / P_b
        lin = None
        if robust:
            A, b, f0 = surrogate_linearization(V0, Z0, hu_n, he_samp, delta, target, hu_samp)
            lin = (A, b)
            info["outage_surrogate_before"] = np.asarray(f0)
        mark("linearization", lin)
        r = (2 * K + E + 4) if subspace_dim == -1 else subspace_dim
        if r is not None and r < M:
            err = None
            if robust:   # where the draws leave the nominal channels: eavesdroppers, then users
                err = (he_samp - he_n[None]).reshape(-1, M)
                if hu_samp is not None:
                    err = jnp.concatenate([err, (hu_samp - hu_n[None]).reshape(-1, M)], axis=0)
            U = reduction_basis(hu_n, he_n, W0, Z0, err, r)
            params = reduced_sdr_parameters(U, hu_n, he_n, V0, Z0, eps=eps_n if robust else None,
                                            lin=lin)
            dim, m_perp = r, M - r
        else:
            U, dim, m_perp = None, M, 0
            params = sdr_parameters(hu_n, he_n, V0, Z0, eps=eps_n if robust else None, lin=lin)
        info["sdr_dim"] = dim
        scaled = bool(lmi_scaled and robust)
        if scaled:
            params = scale_lmi_parameters(params, K)
        info["lmi_scaled"] = scaled
        mark("reduction_parameters")
        use_layer = backend == "layer" or (backend == "auto" and dim <= 16)
        info["backend"] = "layer" if use_layer else "cvxpy"
        bl = (beamforming_layer if use_layer else beamforming_problem)(dim, K, E, bool(robust),
                                                                       float(gamma), m_perp, scaled)
        mark("layer_lookup")

        first = solver or _SOLVERS[0]
        order = [first] + [x for x in _SOLVERS if x != first]
        sol = None
        for name in order:
            t0 = time.perf_counter()
            try:
                if use_layer:
                    args = {} if name == "SCS" else {"solve_method": "Clarabel"}
                    V, Z, slack = solve_beamforming_layer(bl, params, args, basis=U)
                    cv_status = "optimal"
                else:
                    V, Z, slack, cv_status = solve_beamforming_direct(bl, params, name.upper(),
                                                                      basis=U)
                ok = all(np.all(np.isfinite(x)) for x in (V, Z))
                res = _sdr_residuals(V, Z, hu_n, eps_n, gamma) if ok else np.inf
                if res <= tol and cv_status == "optimal":
                    st = "optimal"
                elif res <= repair_tol and cv_status in ("optimal", "optimal_inaccurate"):
                    st = f"repaired(residual={res:.2e}, {cv_status})"
                else:
                    st = f"inaccurate(residual={res:.2e}, {cv_status})"
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as exc:     # solver failure is data (Clarabel panics included)
                st = f"error: {type(exc).__name__}: {str(exc)[:200]}"
            info["attempts"].append((name, st, time.perf_counter() - t0))
            if st == "optimal":
                sol = (V, Z, slack)
                break
            if st.startswith("repaired"):
                # measured at Sec. V: Clarabel "optimal" at residual 4.5e-4, SCS 1.6e-3 (38 s
                # more); before, both were rejected and B kept the previous design as failed
                sol = (*repair_sdr(V, Z), slack)
                info["sdr_repaired_residual"] = float(res)
                break
        info["solve_time_s"] = sum(a[2] for a in info["attempts"])
        mark("sdr_solve")
        if sol is None:
            info["status"] = "solver_failed: previous design kept"
            return design, info
        V, Z, slack = sol
        Z = 0.5 * (Z + Z.conj().T)
        info["outage_slack"] = None if slack is None else np.asarray(slack)
        info["rank_V"] = [int(np.sum(np.linalg.eigvalsh(v) > 1e-4 * max(np.trace(v).real, 1e-30)))
                          for v in V]
        zev = np.linalg.eigvalsh(Z)
        info["rank_R_AN"] = int(np.sum(zev > 1e-4 * max(np.sum(zev), 1e-30))) if zev.max() > 1e-9 else 0
        info["sdr_V"], info["sdr_Z"] = V * P_b, Z * P_b          # physical units (W)
        mark("sdr_postprocess")

        # Gaussian randomisation + hybrid decomposition, candidates judged after decomposition.
        Zj = jnp.asarray(Z)
        w_rf, w_bb, cand = _randomize(jnp.asarray(V), Zj, k_rand, n_rand, R, n_hybrid_iter)
        mark("randomize_hybrid", w_rf, w_bb, cand)
        prev_rf, prev_bb = design.W_RF, design.W_BB / np.sqrt(P_b)
        pw_prev = float(jnp.sum(_abs2(prev_rf @ prev_bb)))
        room = max(1.0 - float(jnp.real(jnp.trace(Zj))), 0.0)
        prev_bb = prev_bb * np.sqrt(min(1.0, room / pw_prev)) if pw_prev > 0 else prev_bb
        w_rf = jnp.concatenate([w_rf, prev_rf[None]], axis=0)
        w_bb = jnp.concatenate([w_bb, prev_bb[None]], axis=0)
        Ws = w_rf @ w_bb
        hs = he_samp if robust else jnp.zeros((2, E, M), hu.dtype)
        sec, feas, viol, sinr_wc = _score_all(Ws, Zj, hu_n, he_n, hs, hu_samp, eps_n, gamma, delta,
                                              target, bool(robust))
        sec, feas, viol = np.asarray(sec), np.asarray(feas), np.asarray(viol)
        mark("score", sinr_wc)
        score = np.where(feas, sec, -1e6 - viol)
        i = int(np.argmax(score))
        n_c = Ws.shape[0]
        info["candidate"] = -1 if i == n_c - 1 else i
        info["feasible"] = bool(feas[i])
        info["n_feasible_candidates"] = int(feas.sum())
        info["sum_secrecy_rate"] = float(sec[i])
        info["sinr_worst"] = np.asarray(sinr_wc[i])
        V_sel = jnp.einsum("mk,nk->kmn", Ws[i], jnp.conj(Ws[i]))
        if robust:
            info["outage_surrogate"] = np.asarray(_moment_jit(V_sel, Zj, hu_n, he_samp, delta,
                                                              hu_samp))
        W_RF, W_BB = w_rf[i], w_bb[i] * np.sqrt(P_b)
        R_AN = jnp.asarray(Z * P_b, design.R_AN.dtype)
        if info["candidate"] >= 0:   # relative AM residual ||W_opt - W_RF W_BB||^2 / ||W_opt||^2
            c = cand[i]
            info["hybrid_residual"] = float(jnp.sum(_abs2(c - Ws[i])) / jnp.sum(_abs2(c)))
        else:
            info["hybrid_residual"] = 0.0
        p_comm = float(jnp.sum(_abs2(W_RF @ W_BB)) + jnp.real(jnp.trace(R_AN)))
        info["p_comm_used"] = p_comm
        info["power_budget"] = P_b
        new = SimDesign(design.theta_comm, design.theta_sense, design.theta_ce,
                        jnp.asarray(W_RF, design.W_RF.dtype), jnp.asarray(W_BB, design.W_BB.dtype),
                        R_AN, design.tau, design.p_sense,
                        jnp.asarray(P_b, jnp.asarray(design.p_comm).dtype))
        info["status"] = "optimal" if info["feasible"] else "optimal_sdr_rank1_infeasible"
        if "sdr_repaired_residual" in info:
            info["status"] += "_sdr_repaired"
        mark("finalize", new)
        return new, info
    except Exception as exc:                                          # never raise mid-BCD
        info["status"] = f"error: {type(exc).__name__}: {str(exc)[:300]}; previous design kept"
        return design, info
    finally:
        info["time_s"] = time.perf_counter() - t_start
