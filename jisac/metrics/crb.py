"""Estimation-theoretic sensing metrics: Fisher information, Cramér-Rao bounds, Schur complements.

Three layers:

1. **Generic** Slepian-Bangs machinery for a complex Gaussian observation
   ``y ~ CN(mu(xi), sigma^2 I)`` with a real parameter vector ``xi``:
   :func:`fim_gaussian_mean`, :func:`crb_from_fim`, :func:`schur_lower_bound` (004 eq. (28)),
   :func:`crb_total` (004 eq. (15)) and the Theorem-5 diagnostics (004 eqs. (57)-(58)).
2. **Paper 004 (SIM-ISAC) sensing model** (004 eqs. (12)-(14)), made precise in
   ``docs/derivations/sim_sensing.md``: orthogonal probing through the SIM, echo received back
   through the same SIM (reciprocity, ``G^T``) or by a separate receive array, near-field
   steering, radar-equation path loss, Doppler; per target ``xi = [theta, r, v, rcs, phi]``.
3. **Paper 000 (TRIS) radar** with a single feed receive antenna (000 eqs. (11)-(13)): closed-form
   FIM written in terms of the transmit covariance ``Rx = X X^H / T_s`` and the RCRB of
   (distance, azimuth, pitch); see ``docs/derivations/tris_crb.md``.

Every function handles one realisation (one target / one FIM); batch with ``jax.vmap``.
Parameter vectors are real; index sets (``idx_interest``) are static Python sequences.
"""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from jisac.geometry import polar_to_cartesian, upa_steering
from jisac.units import SPEED_OF_LIGHT

# Parameter order of one paper-004 target.
SIM_PARAMS = ("theta", "r", "v", "rcs", "phi")
# Parameter order of the paper-000 TRIS radar model.
TRIS_PARAMS = ("d", "azimuth", "pitch", "psi")


# --------------------------------------------------------------------------------------------
# Generic Slepian-Bangs / CRB machinery
# --------------------------------------------------------------------------------------------


def fim_gaussian_mean(mu_fn: Callable[[Float[Array, " P"]], Array], xi: Float[Array, " P"],
                      noise_var) -> Float[Array, "P P"]:
    """Fisher information of ``y ~ CN(mu(xi), noise_var * I)`` (Slepian-Bangs, 004 eq. (14) fixed).

    ``J = (2 / sigma^2) Re{ (d mu / d xi)^H (d mu / d xi) }`` with ``mu`` of any shape (flattened)
    and real or complex. The Jacobian is taken with ``jax.jacfwd`` of the stacked
    ``[Re mu, Im mu]`` with respect to the real vector ``xi``, so that
    ``Re{D^H D} = D_re^T D_re + D_im^T D_im``. Any amplitude (e.g. the reflection coefficient
    ``beta``) must be *inside* ``mu``; it must not be multiplied in front again (the double
    counting of 004 eq. (14), see ``docs/derivations/sim_sensing.md``).
    """
    xi = jnp.asarray(xi)

    def mu_ri(x):
        m = jnp.ravel(jnp.asarray(mu_fn(x)))
        return jnp.concatenate([jnp.real(m), jnp.imag(m)])

    D = jax.jacfwd(mu_ri)(xi)  # (2K, P)
    J = (2.0 / noise_var) * (D.T @ D)
    return 0.5 * (J + J.T)


def _equilibrate(A: Float[Array, "P P"]):
    """Diagonal scaling ``A = S K S`` with unit-diagonal ``K``; FIMs mix rad, m, m/s and m^2
    whose informations differ by many orders of magnitude, so inverting ``K`` instead of ``A``
    keeps float32 usable. Entries with non-positive diagonal are left unscaled."""
    d = jnp.diagonal(A)
    pos = d > 0
    s = jnp.where(pos, 1.0 / jnp.sqrt(jnp.where(pos, d, 1.0)), 1.0)
    return s, A * s[:, None] * s[None, :]


def _spd_solve(A: Float[Array, "P P"], B: Float[Array, "P Q"]) -> Float[Array, "P Q"]:
    """``A^{-1} B`` for symmetric positive (semi)definite ``A`` via equilibrated ``solve``."""
    s, K = _equilibrate(A)
    return s[:, None] * jnp.linalg.solve(K, s[:, None] * B)


def crb_from_fim(J: Float[Array, "P P"], eps=0.0) -> Float[Array, "P P"]:
    """CRB matrix ``(J + eps I)^{-1}``; ``eps > 0`` is the regularisation meant by 004 eq. (29).

    (29) as printed, ``Tr(J_LB^{-1} + eps I)``, only adds the constant ``n eps`` and regularises
    nothing; the useful (and here implemented) reading is Tikhonov, ``Tr((J_LB + eps I)^{-1})``,
    which stays finite when a target is unilluminated (``J_LB -> 0``).
    """
    J = jnp.asarray(J)
    P = J.shape[-1]
    A = J + eps * jnp.eye(P, dtype=J.dtype)
    C = _spd_solve(A, jnp.eye(P, dtype=J.dtype))
    return 0.5 * (C + C.T)


def _split(P: int, idx_interest: Sequence[int]):
    i1 = [int(i) % P for i in idx_interest]
    if len(set(i1)) != len(i1):
        raise ValueError(f"idx_interest has repeated entries: {idx_interest}")
    i2 = [i for i in range(P) if i not in i1]
    return jnp.asarray(i1, dtype=int), jnp.asarray(i2, dtype=int), len(i2)


def _blocks(J, idx_interest):
    i1, i2, n2 = _split(J.shape[-1], idx_interest)
    J11 = J[i1][:, i1]
    J12 = J[i1][:, i2]
    J22 = J[i2][:, i2]
    return J11, J12, J22, n2


def schur_lower_bound(J: Float[Array, "P P"], idx_interest: Sequence[int]) -> Float[Array, "p p"]:
    """Equivalent FIM of the parameters of interest, 004 eq. (28):
    ``J_LB = J11 - J12 J22^{-1} J21`` with block 1 = ``idx_interest`` (in that order) and block 2
    the remaining (nuisance) parameters.

    ``J_LB <= J11`` (information lost to the unknown nuisances) and, exactly,
    ``J_LB^{-1} = [J^{-1}]_{11}``: the Schur complement is *not* an approximation of the CRB of
    the parameters of interest, it *is* that CRB (see ``docs/derivations/sim_sensing.md``).
    """
    J = jnp.asarray(J)
    J11, J12, J22, n2 = _blocks(J, idx_interest)
    if n2 == 0:
        return J11
    JLB = J11 - J12 @ _spd_solve(J22, J12.T)
    return 0.5 * (JLB + JLB.T)


def crb_total(J_list, eps=0.0):
    """``CRB_total = sum_i tr(J_LB,i^{-1})``, 004 eq. (15); with ``eps > 0`` the regularised
    surrogate ``sum_i tr((J_LB,i + eps I)^{-1})`` of 004 eq. (29) (see :func:`crb_from_fim`).

    ``J_list``: a sequence of ``(p, p)`` equivalent FIMs or a stacked ``(T, p, p)`` array.
    Note the trace adds variances in different units (rad^2, m^2, (m/s)^2); the paper only ever
    uses it normalised by ``CRB_min`` (004 eq. (24)).
    """
    Js = jnp.stack([jnp.asarray(J) for J in J_list]) if isinstance(J_list, (list, tuple)) \
        else jnp.asarray(J_list)
    return jnp.sum(jax.vmap(lambda J: jnp.trace(crb_from_fim(J, eps)))(Js))


# --------------------------------------------------------------------------------------------
# Theorem 5 of paper 004 (eqs. (57)-(58)) as numerical diagnostics
# --------------------------------------------------------------------------------------------
#
# What Theorem 5 compares (read from its proof): CRB(xi) = tr([J^{-1}]_11) -- the true CRB of
# the parameters of interest, which equals tr(J_LB^{-1}) with the Schur complement (28) -- and
# "CRB_LB(xi)" = tr(J11^{-1}), the bound obtained by *ignoring* the cross-coupling J12 (nuisances
# treated as known). So the theorem bounds the error of the decoupled approximation, not of the
# Schur complement (which is exact).


def thm5_error_diag(J: Float[Array, "P P"], idx_interest: Sequence[int]):
    """Per-parameter Theorem-5 error ``diag(E)``, ``E = [J^{-1}]_11 - J11^{-1} = B S^{-1} B^T``
    (``B = J11^{-1} J12``, ``S`` of :func:`_schur_of_11`), and the decoupled CRBs
    ``diag(J11^{-1})``; returns ``(e, d)`` (each ``(p,)``, order of ``idx_interest``), so the exact
    CRB of parameter ``i`` is ``d_i + e_i = [J^{-1}]_ii`` and its relative error ``e_i / (d_i + e_i)``.
    ``E`` is computed directly, not as a difference of two nearly equal inverses, so small coupling
    errors keep their relative accuracy."""
    J = jnp.asarray(J)
    J11, J12, _, n2 = _blocks(J, idx_interest)
    d = jnp.diagonal(crb_from_fim(J11))
    if n2 == 0:
        return jnp.zeros_like(d), d
    B = _spd_solve(J11, J12)
    e = jnp.sum(B * _spd_solve(_schur_of_11(J, idx_interest), B.T).T, axis=1)
    return e, d


def thm5_measured_error(J: Float[Array, "P P"], idx_interest: Sequence[int]):
    """Measured Theorem-5 error: returns ``(abs_err, rel_err)`` with
    ``abs_err = tr([J^{-1}]_11) - tr(J11^{-1}) >= 0`` and ``rel_err = abs_err / tr([J^{-1}]_11)``.
    """
    e, d = thm5_error_diag(J, idx_interest)
    err, crb_lb = jnp.sum(e), jnp.sum(d)
    return err, err / (crb_lb + err)


def _schur_of_11(J, idx_interest):
    """``S = J22 - J21 J11^{-1} J12`` (the Schur complement used in the proof of Thm. 5)."""
    J11, J12, J22, _ = _blocks(J, idx_interest)
    S = J22 - J12.T @ _spd_solve(J11, J12)
    return 0.5 * (S + S.T)


def thm5_bound_abs(J: Float[Array, "P P"], idx_interest: Sequence[int]):
    """Printed bound 004 eq. (57) on ``tr([J^{-1}]_11) - tr(J11^{-1})``:
    ``||J12||_F^2 tr(J11^{-2}) / (lambda_min(J22) - ||J12||_F^2 ||J11^{-1}||_2)``.
    Valid (the proof's Weyl step needs the denominator positive); returns ``+inf`` where the
    denominator is ``<= 0`` (bound vacuous).
    """
    J11, J12, J22, _ = _blocks(jnp.asarray(J), idx_interest)
    J11inv = crb_from_fim(J11)
    f2 = jnp.sum(J12 * J12)
    den = jnp.linalg.eigvalsh(J22)[0] - f2 * jnp.linalg.eigvalsh(J11inv)[-1]
    num = f2 * jnp.trace(J11inv @ J11inv)
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), jnp.inf)


def thm5_bound_rel_printed(J: Float[Array, "P P"], idx_interest: Sequence[int]):
    """004 eq. (58) exactly as printed:
    ``kappa^2(J11) ||J12||_F^{-1} ||J22||_2 / lambda_min(J11)``.

    ERRATUM: this is not a bound. It is not invariant to ``J -> c J`` (the relative error is), it
    grows as ``J12 -> 0`` where the error vanishes, and it can be smaller than the measured error
    (shown in ``tests/test_crb.py``). Kept only to reproduce the paper's Fig. 7 "theoretical bound".
    """
    J11, J12, J22, _ = _blocks(jnp.asarray(J), idx_interest)
    ev = jnp.linalg.eigvalsh(J11)
    kappa = ev[-1] / ev[0]
    return kappa ** 2 * jnp.linalg.eigvalsh(J22)[-1] / (jnp.sqrt(jnp.sum(J12 * J12)) * ev[0])


def _thm5_trace_bound(J: Float[Array, "P P"], idx_interest: Sequence[int]):
    """First line of the proof of 004 Thm. 5 (von Neumann):
    ``tr(E) <= ||J11^{-1}||_2^2 ||J12||_F^2 ||S^{-1}||_2``; ``+inf`` where ``lambda_min(S) <= 0``
    (numerically singular FIM). Also returns ``J11^{-1}``."""
    J11, J12, _, _ = _blocks(jnp.asarray(J), idx_interest)
    J11inv = crb_from_fim(J11)
    lam_S = jnp.linalg.eigvalsh(_schur_of_11(jnp.asarray(J), idx_interest))[0]
    ok = lam_S > 0
    b = jnp.linalg.eigvalsh(J11inv)[-1] ** 2 * jnp.sum(J12 * J12) / jnp.where(ok, lam_S, 1.0)
    return jnp.where(ok, b, jnp.inf), J11inv


def thm5_bound_rel_corrected(J: Float[Array, "P P"], idx_interest: Sequence[int]):
    """Valid relative bound from the first line of the proof of 004 Thm. 5:
    ``rel_err <= ||J11^{-1}||_2^2 ||J12||_F^2 ||S^{-1}||_2 / tr(J11^{-1})``,
    ``S = J22 - J21 J11^{-1} J12``; scale-invariant and ``-> 0`` as ``J12 -> 0``
    (``+inf`` where ``S`` is numerically singular).
    """
    b, J11inv = _thm5_trace_bound(J, idx_interest)
    return b / jnp.trace(J11inv)


def thm5_param_errors(J: Float[Array, "P P"], idx_interest: Sequence[int]) -> dict:
    """Per-parameter Theorem-5 quantities of one FIM (004 Fig. 7), parameters ``idx_interest``.

    * ``err``: ``e_i = [J^{-1}]_ii - [J11^{-1}]_ii >= 0`` (:func:`thm5_error_diag`), the error of
      the decoupled CRB (nuisances treated as known) -- what Thm. 5 bounds;
    * ``crb``: the exact CRB ``[J^{-1}]_ii = d_i + e_i``; ``decoupled``: ``d_i = [J11^{-1}]_ii``;
    * ``bound``: a bound on ``e_i`` from the proof of Thm. 5 applied to the *equilibrated* FIM
      ``K = D J D`` (``D = diag(J)^{-1/2}``, unit diagonal): ``E_K`` is PSD so
      ``[E_K]_ii <= tr(E_K) <= ||K11^{-1}||_2^2 ||K12||_F^2 ||S_K^{-1}||_2`` and ``e_i = D_ii^2
      [E_K]_ii``. In these coordinates the relative errors ``e_i / [J^{-1}]_ii`` are unchanged
      (they are invariant to a rescaling of each parameter) while the spectral norms are no longer
      dominated by the unit choice (rad vs m vs m/s vs m^2). ``+inf`` where ``S_K`` is singular;
    * ``schur``: ``[J_LB^{-1}]_ii`` with ``J_LB`` the Schur complement (28) -- equal to ``crb``
      identically (``J_LB^{-1} = [J^{-1}]_11``); kept as a numerical check.
    """
    J = jnp.asarray(J)
    e, d = thm5_error_diag(J, idx_interest)
    i1, _, _ = _split(J.shape[-1], idx_interest)
    sc, K = _equilibrate(J)
    bK, _ = _thm5_trace_bound(K, idx_interest)
    schur = jnp.diagonal(crb_from_fim(schur_lower_bound(J, idx_interest)))
    return {"err": e, "decoupled": d, "crb": d + e, "bound": sc[i1] ** 2 * bK, "schur": schur}


# --------------------------------------------------------------------------------------------
# Paper 004: SIM sensing model (eqs. (12)-(14)), see docs/derivations/sim_sensing.md
# --------------------------------------------------------------------------------------------


def radar_pathloss(r, wavelength, d0=1.0, pathloss_exp=2.0):
    """Round-trip path loss ``rho(r)`` of 004 eq. (13), in m^2 so ``rcs / rho`` is a power gain:
    ``rho(r) = (4 pi)^3 d0^4 / lambda^2 * (r / d0)^(2 n)``, ``n`` the one-way exponent of 004
    eq. (8).
    For ``n = 2`` this is the radar equation ``|beta|^2 = rcs lambda^2 / ((4 pi)^3 r^4)`` (as
    000's ``sigma_alpha^2``) for every ``d0``.
    """
    return (4 * jnp.pi) ** 3 * d0 ** 4 / wavelength ** 2 * (r / d0) ** (2 * pathloss_exp)


def orthogonal_probing(n_tx: int, n_samples: int, p_sense, dtype=None
                       ) -> Complex[Array, "M T"]:
    """Orthogonal probing ``X`` (M x T_s, ``T_s >= M``): DFT rows with
    ``X X^H / T_s = (p_sense / M) I_M`` so that the power at the M BS ports is ``p_sense`` per
    sample (004's ``X X^H = P_sense I`` made dimensionally explicit)."""
    if n_samples < n_tx:
        raise ValueError(f"orthogonal probing needs n_samples >= n_tx, got {n_samples} < {n_tx}")
    m = jnp.arange(n_tx)[:, None]
    k = jnp.arange(n_samples)[None, :]
    amp = jnp.sqrt(jnp.asarray(p_sense) / n_tx)
    X = amp * jnp.exp(2j * jnp.pi * m * k / n_samples)  # default complex dtype (x64 or not)
    return X if dtype is None else X.astype(dtype)


def _origin_referenced_steering(positions, q, r, wavelength):
    """``exp(-j 2 pi (||q - p_n|| - r) / lambda)`` with the path difference written as
    ``(||p_n||^2 - 2 p_n.q) / (||q - p_n|| + r)`` (no cancellation of two ~r numbers)."""
    dist = jnp.sqrt(jnp.sum((positions - q[None, :]) ** 2, axis=-1))
    delta = (jnp.sum(positions * positions, axis=-1) - 2.0 * positions @ q) / (dist + r)
    return jnp.exp(-2j * jnp.pi * delta / wavelength)


def sim_echo_mean(xi: Float[Array, " 5"], G: Complex[Array, "N M"], X: Complex[Array, "M T"],
                  positions: Float[Array, "N 3"], wavelength, sample_period, *, azimuth=0.0,
                  d0=1.0, pathloss_exp=2.0, rx_positions: Float[Array, "Nr 3"] | None = None,
                  subcarriers: Float[Array, " F"] | None = None) -> Complex[Array, "Mr T *F"]:
    """Noise-free echo of ONE target through the SIM (our precise form of 004 eq. (12)).

    ``xi = [theta, r, v, rcs, phi]``. Target at ``q = polar_to_cartesian(r, azimuth, theta)``
    relative to the origin of ``positions`` (the SIM output layer; use centred positions).

    ``mu = beta(r, rcs, phi) * a_rx * (a^T G X) ⊙ exp(j 2 pi f_d t_k)``, with
    ``a = near_field_steering(positions, q) * exp(+j 2 pi r / lambda)`` (004 eq. (5) referred to
    the array origin: ``phi`` is the echo phase at the origin, i.e. the reflection phase of 004
    eq. (13) plus the carrier round trip ``-4 pi r / lambda``; an exact nuisance
    reparametrisation that leaves the CRB of ``theta, r, v, rcs`` unchanged and removes a
    ``(4 pi r / lambda)``-sized cancellation from the Schur complement),
    ``beta = sqrt(rcs / rho(r)) e^{j phi}`` (004 eq. (13), ``rho`` = :func:`radar_pathloss`),
    ``f_d = 2 v / lambda`` (= 2 v f_c / c, ``v > 0`` approaching), ``t_k = k * sample_period``.
    Receive: ``a_rx = G^T a`` (echo back through the same SIM to the M BS ports; ``G^T`` by
    reciprocity of the cascade) when ``rx_positions is None``, else ``a_rx`` is the near-field
    steering of a separate ``Nr``-element receive array (output ``(Nr, T)``).

    Range from delay (``subcarriers``): the narrowband model above identifies ``r`` only through
    the wavefront curvature across the (small) SIM aperture and the unknown-RCS-confounded path
    loss, so in the far field ``CRB(r)`` is astronomically large and swamps ``CRB_total``. A real
    probing waveform has bandwidth: with ``subcarriers`` (offsets ``f_i`` in Hz from the carrier,
    shape ``(F,)``; use offsets symmetric about 0) every snapshot is an OFDM symbol whose
    subcarrier ``i`` carries ``1/F`` of the power and the round-trip delay phase
    ``exp(-j 2 pi f_i 2 r / c)`` (the carrier's own ``4 pi r / lambda`` stays absorbed in
    ``phi``). Output ``(Mr, T, F)``. Then ``J_rr`` gains the delay term
    ``(2/sigma^2) sum |mu|^2 (4 pi f_i / c)^2`` (``docs/derivations/sim_sensing.md``, Sec. 2b).
    """
    theta, r, v, rcs, phi = xi[0], xi[1], xi[2], xi[3], xi[4]
    q = polar_to_cartesian(r, azimuth, theta)
    a = _origin_referenced_steering(positions, q, r, wavelength)  # (N,)
    s = (a @ G) @ X  # (T,) signal impinging on the target
    a_rx = (G.T @ a if rx_positions is None
            else _origin_referenced_steering(rx_positions, q, r, wavelength))
    beta = jnp.sqrt(rcs / radar_pathloss(r, wavelength, d0, pathloss_exp)) * jnp.exp(1j * phi)
    t = jnp.arange(X.shape[1], dtype=jnp.real(s).dtype) * sample_period
    doppler = jnp.exp(2j * jnp.pi * (2.0 * v / wavelength) * t)
    mu = beta * a_rx[:, None] * (s * doppler)[None, :]
    if subcarriers is None:
        return mu
    f = jnp.asarray(subcarriers, dtype=jnp.real(s).dtype)
    delay = jnp.exp(-2j * jnp.pi * f * (2.0 * r / SPEED_OF_LIGHT)) / jnp.sqrt(f.shape[0])
    return mu[:, :, None] * delay[None, None, :]


def sim_target_fim(xi: Float[Array, " 5"], G, X, positions, wavelength, sample_period, noise_var,
                   **model_kw) -> Float[Array, "5 5"]:
    """Full 5x5 FIM of one target, ``xi = [theta, r, v, rcs, phi]``, via :func:`fim_gaussian_mean`
    on :func:`sim_echo_mean` (noise ``CN(0, noise_var I)`` on every receive sample)."""
    mu = lambda x: sim_echo_mean(x, G, X, positions, wavelength, sample_period, **model_kw)
    return fim_gaussian_mean(mu, xi, noise_var)


def sim_joint_fim(targets: Float[Array, "T 5"], G, X, positions, wavelength, sample_period,
                  noise_var, **model_kw) -> Float[Array, "5T 5T"]:
    """Exact joint FIM of all targets from the summed echo (004 eq. (12)); parameter order is
    target-major ``[xi_1, xi_2, ...]``. 004 eq. (15) instead uses the per-target FIMs
    (inter-target coupling ignored), which is what :func:`sim_crb_total` does."""
    T = targets.shape[0]

    def mu(flat):
        xs = flat.reshape(T, 5)
        return jnp.sum(jax.vmap(lambda x: sim_echo_mean(x, G, X, positions, wavelength,
                                                         sample_period, **model_kw))(xs), axis=0)

    return fim_gaussian_mean(mu, targets.reshape(-1), noise_var)


def sim_target_fims(targets: Float[Array, "T 5"], G, X, positions, wavelength, sample_period,
                    noise_var, **model_kw) -> Float[Array, "T 5 5"]:
    """Per-target 5x5 FIMs (:func:`sim_target_fim`) of ``T`` targets, stacked; the input of
    :func:`sim_crb_total` (eq. (15) ignores inter-target coupling)."""
    return jax.vmap(lambda x: sim_target_fim(x, G, X, positions, wavelength, sample_period,
                                             noise_var, **model_kw))(targets)


def sim_crb_total_from_fims(fims: Float[Array, "T 5 5"], idx_interest: Sequence[int] = (0, 1, 2),
                            eps=0.0):
    """``CRB_total`` (15) from per-target FIMs: Schur complement (28) onto ``idx_interest``, then
    ``sum_i tr((J_LB,i + eps I)^{-1})``."""
    jlb = jax.vmap(lambda J: schur_lower_bound(J, idx_interest))(fims)
    return crb_total(jlb, eps)


def sim_crb_total(targets: Float[Array, "T 5"], G, X, positions, wavelength, sample_period,
                  noise_var, *, idx_interest: Sequence[int] = (0, 1, 2), eps=0.0, **model_kw):
    """``CRB_total`` of 004 eq. (15) (``eps > 0``: surrogate (29)) for ``T`` targets.

    Per target: FIM over ``[theta, r, v, rcs, phi]`` (:func:`sim_target_fim`), Schur complement
    (28) onto ``idx_interest`` (default ``[theta, r, v]``; ``rcs`` and the reflection phase
    ``phi`` are eliminated nuisances -- use ``(0, 1, 2, 3)`` to keep the RCS as in 004's xi),
    then ``sum_i tr((J_LB,i + eps I)^{-1})``. Differentiable in ``G`` (hence the SIM phases) and
    ``X`` (hence ``P_sense``).
    """
    fims = sim_target_fims(targets, G, X, positions, wavelength, sample_period, noise_var,
                           **model_kw)
    return sim_crb_total_from_fims(fims, idx_interest, eps)


# --------------------------------------------------------------------------------------------
# Paper 000: TRIS radar, single feed receive antenna (eqs. (11)-(13)), docs/derivations/tris_crb.md
# --------------------------------------------------------------------------------------------


def _upa_phase_derivs(pitch, azimuth, n_rows, n_cols, spacing_over_lambda):
    """d psi_n / d(azimuth) and d psi_n / d(pitch) of 000 eq. (37)'s phases
    ``psi_n = 2 pi s sin(pitch) (cos(az) n_r + sin(az) n_c)`` (``a_n = exp(-j psi_n)``)."""
    dt = jnp.result_type(pitch, azimuth, float)
    nr = jnp.repeat(jnp.arange(n_rows, dtype=dt), n_cols)  # row-major n = Nc n_r + n_c
    nc = jnp.tile(jnp.arange(n_cols, dtype=dt), n_rows)
    k = 2 * jnp.pi * spacing_over_lambda
    dpsi_az = k * jnp.sin(pitch) * (-jnp.sin(azimuth) * nr + jnp.cos(azimuth) * nc)
    dpsi_pt = k * jnp.cos(pitch) * (jnp.cos(azimuth) * nr + jnp.sin(azimuth) * nc)
    return dpsi_az, dpsi_pt


def tris_echo_mean(params: Float[Array, " 4"], X: Complex[Array, "N T"], amp_const, n_rows: int,
                   n_cols: int, spacing_over_lambda, wavelength) -> Complex[Array, " T"]:
    """Noise-free TRIS echo at the single feed antenna, 000 eqs. (11)-(13):
    ``mu_t = alpha b(d) a(pitch, azimuth)^H x_t`` with ``b(d) = exp(-j 2 pi d / lambda)``
    (000 eq. (12)), ``a`` the UPA steering (000 eq. (11)), ``|alpha| = amp_const / d^2``: the
    radar-equation magnitude (known RCS, ``amp_const = sqrt(S_RCS lambda^2 / (4 pi)^3)`` as in
    000's ``sigma_alpha``), and unknown phase. ``params = [d, azimuth, pitch, psi]`` with
    ``psi = arg(alpha b(d))`` the total echo phase, so ``mu_t = (amp_const/d^2) e^{j psi} a^H x_t``:
    ``b(d)`` only shifts the unknown phase and carries no information on ``d`` (exact nuisance
    reparametrisation of ``arg(alpha)``; it also avoids a ``(2 pi d / lambda)^2``-sized
    cancellation in the Schur complement). ``wavelength`` is kept for the signature's symmetry.
    """
    del wavelength  # b(d) is absorbed in psi (see above and docs/derivations/tris_crb.md)
    d, az, pt, psi = params[0], params[1], params[2], params[3]
    a = upa_steering(pt, az, n_rows, n_cols, spacing_over_lambda)
    return amp_const / d ** 2 * jnp.exp(1j * psi) * (jnp.conj(a) @ X)


def tris_fim(Rx: Complex[Array, "N N"], d, azimuth, pitch, alpha, n_rows: int, n_cols: int,
             spacing_over_lambda, wavelength, noise_var, n_snapshots) -> Float[Array, "4 4"]:
    """Closed-form FIM of ``[d, azimuth, pitch, psi]`` for :func:`tris_echo_mean`, in terms of the
    transmit covariance ``Rx = X X^H / T_s`` (000: ``Rx = sum_i W_i``); ``alpha`` is the complex
    reflection coefficient at the true ``d`` (only ``|alpha|`` matters).

    Parameters ``[d, azimuth, pitch, psi]``, ``psi`` the total echo phase (see
    :func:`tris_echo_mean`). ``d mu_t / d xi_i = c g_i v_i^H x_t`` with ``c = alpha b``,
    ``(g, v)`` = ``(-2/d, a)``, ``(1, da/daz)``, ``(1, da/dpitch)``, ``(j, a)``, so
    ``J_ij = (2 T_s |alpha|^2 / sigma^2) Re{ conj(g_i) g_j v_j^H Rx v_i }``
    (``da/dx = -j (d psi_n / dx) a``, phases ``psi_n`` of 000 eq. (37)).
    """
    a = upa_steering(pitch, azimuth, n_rows, n_cols, spacing_over_lambda)
    dpsi_az, dpsi_pt = _upa_phase_derivs(pitch, azimuth, n_rows, n_cols, spacing_over_lambda)
    V = jnp.stack([a, -1j * dpsi_az * a, -1j * dpsi_pt * a, a], axis=1)  # (N, 4)
    g = jnp.stack([-2.0 / d + 0j, jnp.ones_like(d) + 0j,
                   jnp.ones_like(d) + 0j, jnp.ones_like(d) * 1j])
    Q = V.conj().T @ Rx @ V  # Q[j, i] = v_j^H Rx v_i
    M = jnp.conj(g)[:, None] * g[None, :] * Q.T  # M[i, j] = conj(g_i) g_j v_j^H Rx v_i
    J = 2.0 * n_snapshots * jnp.abs(alpha) ** 2 / noise_var * jnp.real(M)
    return 0.5 * (J + J.T)


def tris_rcrb(Rx: Complex[Array, "N N"], d, azimuth, pitch, alpha, n_rows: int, n_cols: int,
              spacing_over_lambda, wavelength, noise_var, n_snapshots) -> Float[Array, " 3"]:
    """Root CRB ``[RCRB(d) in m, RCRB(azimuth) in rad, RCRB(pitch) in rad]`` (000 Fig. 10).

    FIM from :func:`tris_fim`; the unknown reflection phase ``psi`` is eliminated by the Schur
    complement (004 eq. (28)). Distance is identifiable only through the ``1/d^2`` radar-equation
    magnitude (``b(d)``'s phase is confounded with ``psi``); see ``docs/derivations/tris_crb.md``.
    Singular (infinite RCRB of azimuth) at ``pitch = 0``.
    """
    J = tris_fim(Rx, d, azimuth, pitch, alpha, n_rows, n_cols, spacing_over_lambda, wavelength,
                 noise_var, n_snapshots)
    C = crb_from_fim(schur_lower_bound(J, (0, 1, 2)))
    return jnp.sqrt(jnp.diagonal(C))
