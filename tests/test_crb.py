"""Tests for jisac.metrics.crb: every quantity against an independent reference written here
(closed-form CRBs, NumPy linear algebra, NumPy-loop models with central finite differences).

Tolerances: float64 linear algebra / closed forms are compared at 1e-9 relative (a few hundred
ulps after inverting FIMs of condition <= 1e6); central finite differences with step h have
truncation error O(h^2 f''') -- steps are chosen so that this is <= 1e-7 relative and the
tolerance is 1e-5 (round-off eps/h ~ 1e-10 included).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.metrics import crb

RTOL = 1e-9  # float64 closed-form / linear-algebra comparisons
FD_RTOL = 1e-5  # central finite differences (see module docstring)


def _rand_spd(rng, n, cond=1e3):
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    ev = np.logspace(0, np.log10(cond), n)
    return (q * ev) @ q.T


# ------------------------------------------------------------------------------------------------
# generic Slepian-Bangs FIM
# ------------------------------------------------------------------------------------------------


def test_fim_gaussian_mean_vs_numpy_finite_differences(rng):
    """Nonlinear complex mean of matrix shape; reference = (2/s2) Re{D^H D} with D by numpy
    central differences of a numpy implementation of the same mean."""
    A = rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4))

    def mu_np(x):
        return A * np.exp(1j * x[0] * np.arange(4))[None, :] * (x[1] ** 2 + np.sin(x[2]))

    def mu_jx(x):
        ph = jnp.exp(1j * x[0] * jnp.arange(4))[None, :]
        return jnp.asarray(A) * ph * (x[1] ** 2 + jnp.sin(x[2]))

    x0 = np.array([0.3, 1.2, -0.4])
    s2 = 0.7
    h = 1e-5
    D = np.stack([(mu_np(x0 + h * e) - mu_np(x0 - h * e)).ravel() / (2 * h) for e in np.eye(3)], 1)
    J_ref = 2 / s2 * np.real(D.conj().T @ D)
    J = crb.fim_gaussian_mean(mu_jx, jnp.asarray(x0), s2)
    np.testing.assert_allclose(J, J_ref, rtol=FD_RTOL, atol=FD_RTOL * np.abs(J_ref).max())


def test_ula_angle_crb_closed_form():
    """Single source, N-element half-wavelength ULA, known waveform s_t, unknown complex gain
    beta (re, im nuisances): CRB(theta) = sigma^2 / (2 |beta|^2 E_s ||P_a^perp da/dtheta||^2)
    with ||P^perp da||^2 = pi^2 cos^2(theta) N (N^2 - 1) / 12 (derived by hand: a_n = e^{-j pi n
    sin theta}, da_n = -j pi n cos(theta) a_n, sum n^2 - (sum n)^2 / N = N (N^2-1)/12)."""
    N, T, theta, beta, s2 = 8, 5, 0.35, 0.8 * np.exp(0.4j), 0.3
    s = np.exp(1j * np.linspace(0, 2, T)) * np.linspace(0.5, 1.5, T)
    E = np.sum(np.abs(s) ** 2)

    def mu(x):
        a = jnp.exp(-1j * jnp.pi * jnp.arange(N) * jnp.sin(x[0]))
        return (x[1] + 1j * x[2]) * a[:, None] * jnp.asarray(s)[None, :]

    J = crb.fim_gaussian_mean(mu, jnp.array([theta, beta.real, beta.imag]), s2)
    ref = s2 / (2 * abs(beta) ** 2 * E * np.pi ** 2 * np.cos(theta) ** 2 * N * (N ** 2 - 1) / 12)
    np.testing.assert_allclose(crb.crb_from_fim(J)[0, 0], ref, rtol=RTOL)
    np.testing.assert_allclose(1 / crb.schur_lower_bound(J, (0,))[0, 0], ref, rtol=RTOL)


def test_complex_amplitude_magnitude_phase_crb(rng):
    """mu = rho e^{j phi} m: CRB(rho) = s2 / (2||m||^2), CRB(phi) = s2 / (2 rho^2 ||m||^2),
    uncorrelated."""
    m = rng.normal(size=6) + 1j * rng.normal(size=6)
    rho, phi, s2 = 1.7, -0.8, 0.2
    J = crb.fim_gaussian_mean(lambda x: x[0] * jnp.exp(1j * x[1]) * jnp.asarray(m),
                              jnp.array([rho, phi]), s2)
    m2 = np.sum(np.abs(m) ** 2)
    np.testing.assert_allclose(crb.crb_from_fim(J),
                               np.diag([s2 / (2 * m2), s2 / (2 * rho ** 2 * m2)]),
                               rtol=RTOL, atol=1e-14)


def test_single_tone_doppler_crb():
    """Tone beta e^{j 2 pi f_d k Tp}, f_d = 2 v / lambda, unknown |beta|, arg(beta), v:
    CRB(omega) = 6 s2 / (|beta|^2 N (N^2 - 1)) (Rife-Boorstyn), omega = 4 pi v Tp / lambda."""
    Nk, lam, Tp, s2, b = 64, 0.01, 1e-4, 0.5, 0.9

    def mu(x):
        k = jnp.arange(Nk)
        return x[0] * jnp.exp(1j * x[1]) * jnp.exp(2j * jnp.pi * (2 * x[2] / lam) * k * Tp)

    J = crb.fim_gaussian_mean(mu, jnp.array([b, 0.3, 7.0]), s2)
    ref_w = 6 * s2 / (b ** 2 * Nk * (Nk ** 2 - 1))
    ref_v = ref_w / (4 * np.pi * Tp / lam) ** 2
    np.testing.assert_allclose(crb.crb_from_fim(J)[2, 2], ref_v, rtol=RTOL)


# ------------------------------------------------------------------------------------------------
# Schur complement, inversion, CRB_total
# ------------------------------------------------------------------------------------------------


def test_schur_equals_block_of_inverse(rng):
    J = _rand_spd(rng, 6, cond=1e4)
    idx = (4, 1, 2)  # non-contiguous, unsorted: order must be preserved
    JLB = np.asarray(crb.schur_lower_bound(jnp.asarray(J), idx))
    Jinv = np.linalg.inv(J)
    np.testing.assert_allclose(np.linalg.inv(JLB), Jinv[np.ix_(idx, idx)], rtol=1e-8)
    np.testing.assert_allclose(np.trace(np.linalg.inv(JLB)), np.trace(Jinv[np.ix_(idx, idx)]),
                               rtol=RTOL)
    # information lost to nuisances: J11 - J_LB is PSD
    assert np.linalg.eigvalsh(J[np.ix_(idx, idx)] - JLB).min() > -1e-10 * np.abs(J).max()
    # all parameters of interest: no elimination
    np.testing.assert_allclose(crb.schur_lower_bound(jnp.asarray(J), range(6)), J, rtol=RTOL)


def test_crb_from_fim_and_total_vs_numpy(rng):
    # badly scaled FIM (units rad vs m^2): equilibration keeps the inverse accurate
    D = np.diag([1e8, 1.0, 1e-6, 1e3])
    Js = [D @ _rand_spd(rng, 4, 1e2) @ D for _ in range(3)]
    eps = 1e-3
    ref = sum(np.trace(np.linalg.inv(J)) for J in Js)
    ref_eps = sum(np.trace(np.linalg.inv(J + eps * np.eye(4))) for J in Js)
    np.testing.assert_allclose(crb.crb_total([jnp.asarray(J) for J in Js]), ref, rtol=RTOL)
    np.testing.assert_allclose(crb.crb_total(jnp.asarray(np.stack(Js)), eps), ref_eps, rtol=RTOL)
    np.testing.assert_allclose(crb.crb_from_fim(jnp.asarray(Js[0])), np.linalg.inv(Js[0]),
                               rtol=1e-8)


# ------------------------------------------------------------------------------------------------
# Theorem 5 (004 eqs. (57)-(58))
# ------------------------------------------------------------------------------------------------


def test_thm5_measured_error_and_bounds(rng):
    idx = (0, 1, 2)
    n_den_pos = 0
    for i in range(20):
        J = _rand_spd(rng, 5, cond=30.0)
        if i % 2:  # weakly coupled instances, where the denominator of (57) is positive
            J[:3, 3:] *= 0.05
            J[3:, :3] *= 0.05
        Jinv = np.linalg.inv(J)
        crb_true = np.trace(Jinv[:3, :3])
        crb_dec = np.trace(np.linalg.inv(J[:3, :3]))
        err, rel = crb.thm5_measured_error(jnp.asarray(J), idx)
        np.testing.assert_allclose(err, crb_true - crb_dec, rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(rel, (crb_true - crb_dec) / crb_true, rtol=1e-8, atol=1e-14)
        assert err >= -1e-14
        b57 = crb.thm5_bound_abs(jnp.asarray(J), idx)
        if np.isfinite(b57):
            n_den_pos += 1
            assert err <= b57 * (1 + 1e-12)
        assert rel <= crb.thm5_bound_rel_corrected(jnp.asarray(J), idx) * (1 + 1e-12)
    assert n_den_pos > 0  # (57) was actually exercised

    # (58) as printed is not a bound: rescaling J leaves the relative error unchanged but divides
    # the printed expression by c, so it drops below the measured error.
    J = jnp.asarray(_rand_spd(rng, 5, cond=30.0))
    _, rel = crb.thm5_measured_error(J, idx)
    p = crb.thm5_bound_rel_printed(J, idx)
    c = 10 * p / rel
    _, rel_c = crb.thm5_measured_error(c * J, idx)
    np.testing.assert_allclose(rel_c, rel, rtol=1e-8)
    assert crb.thm5_bound_rel_printed(c * J, idx) < rel_c
    np.testing.assert_allclose(crb.thm5_bound_rel_corrected(c * J, idx),
                               crb.thm5_bound_rel_corrected(J, idx), rtol=1e-8)


# ------------------------------------------------------------------------------------------------
# Paper 004: SIM sensing model
# ------------------------------------------------------------------------------------------------

LAM = 0.01  # 30 GHz
TP = 1e-5


def centered_upa_positions(nr, nc, spacing, z=0.0):
    """Centred UPA element positions (row-major), written here in NumPy."""
    return np.array([[(i - (nr - 1) / 2) * spacing, (j - (nc - 1) / 2) * spacing, z]
                     for i in range(nr) for j in range(nc)])


def _sim_setup(rng, M=3, nr=4, nc=4, T=8):
    pos = centered_upa_positions(nr, nc, LAM / 2)
    N = nr * nc
    G = (rng.normal(size=(N, M)) + 1j * rng.normal(size=(N, M))) / np.sqrt(2 * N)
    X = np.asarray(crb.orthogonal_probing(M, T, 0.1))
    return pos, G, X


def _sim_mean_numpy(xi, G, X, pos, lam, Tp, azimuth=0.0, d0=1.0, n=2.0, rx_pos=None):
    """Plain-NumPy implementation of the model in docs/derivations/sim_sensing.md, written with
    the paper's raw steering exp(-j 2 pi ||q - p_n|| / lam) (004 eq. (5))."""
    th, r, v, rcs, phi = xi
    q = r * np.array([np.sin(th) * np.cos(azimuth), np.sin(th) * np.sin(azimuth), np.cos(th)])
    a = np.exp(-2j * np.pi * np.linalg.norm(q[None, :] - pos, axis=1) / lam)
    rho = (4 * np.pi) ** 3 * d0 ** 4 / lam ** 2 * (r / d0) ** (2 * n)
    # phi is the echo phase at the origin; the paper's reflection phase is phi + 4 pi r / lam
    beta = np.sqrt(rcs / rho) * np.exp(1j * (phi + 4 * np.pi * r / lam))
    if rx_pos is None:  # back through the SIM: sum_n G[n, m] a[n]
        arx = np.einsum("nm,n->m", G, a)
    else:
        arx = np.exp(-2j * np.pi * np.linalg.norm(q[None, :] - rx_pos, axis=1) / lam)
    s = np.einsum("n,nm,mk->k", a, G, X)
    dop = np.exp(2j * np.pi * 2 * v / lam * np.arange(X.shape[1]) * Tp)
    return beta * np.outer(arx, s * dop)


def _jit_fim(rx_pos=None):
    kw = {} if rx_pos is None else dict(rx_positions=jnp.asarray(rx_pos))
    return jax.jit(lambda xi, G, X, pos, s2: crb.sim_target_fim(xi, G, X, pos, LAM, TP, s2, **kw))


def _normalised(J):
    d = np.sqrt(np.diag(np.asarray(J)))
    return np.asarray(J) / np.outer(d, d)


@pytest.mark.parametrize("separate_rx", [False, True])
def test_sim_mean_and_fim_vs_numpy_model(rng, separate_rx):
    pos, G, X = _sim_setup(rng)
    rx_pos = np.asarray(centered_upa_positions(3, 3, LAM / 2, z=0.001)) if separate_rx else None
    xi = np.array([0.3, 1.5, 4.0, 0.5, 0.2])
    kw = dict(rx_positions=None if rx_pos is None else jnp.asarray(rx_pos))
    mu = crb.sim_echo_mean(jnp.asarray(xi), jnp.asarray(G), jnp.asarray(X), jnp.asarray(pos), LAM,
                           TP, **kw)
    mu_ref = _sim_mean_numpy(xi, G, X, pos, LAM, TP, rx_pos=rx_pos)
    # reference carries the bulk phase 4 pi r / lam ~ 2e3 rad explicitly: round-off ~ 1e-12 rel
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-10, atol=1e-10 * np.abs(mu_ref).max())

    # FIM vs central differences of the numpy model (steps keep the O(h^2) truncation < 1e-7
    # relative; for r the bulk phases 4 pi r / lam ~ 2e3 rad cancel, round-off 1e-13 rad / h_r)
    steps = np.array([1e-6, 1e-5, 1e-4, 1e-6, 1e-6])
    def fd(h, e):
        up = _sim_mean_numpy(xi + h * e, G, X, pos, LAM, TP, rx_pos=rx_pos)
        dn = _sim_mean_numpy(xi - h * e, G, X, pos, LAM, TP, rx_pos=rx_pos)
        return (up - dn).ravel() / (2 * h)

    D = np.stack([fd(h, e) for h, e in zip(steps, np.eye(5))], 1)
    s2 = 1e-12
    J_ref = 2 / s2 * np.real(D.conj().T @ D)
    J = _jit_fim(rx_pos)(jnp.asarray(xi), jnp.asarray(G), jnp.asarray(X), jnp.asarray(pos), s2)
    scale = np.sqrt(np.outer(np.diag(J_ref), np.diag(J_ref)))
    np.testing.assert_allclose(J / scale, J_ref / scale, atol=FD_RTOL)
    if not separate_rx:  # monostatic reciprocity: the echo channel G^T a a^T G is symmetric
        mu_eye = crb.sim_echo_mean(jnp.asarray(np.r_[xi[:2], 0.0, xi[3:]]), jnp.asarray(G),
                                   jnp.eye(G.shape[1], dtype=complex), jnp.asarray(pos), LAM, TP)
        np.testing.assert_allclose(mu_eye, mu_eye.T, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("separate_rx", [False, True])
def test_sim_doppler_reduces_to_single_tone(rng, separate_rx):
    """Repeated waveform X = x0 1^T makes mu = u e^{j omega k}^T; eliminating (theta, r, rcs, phi)
    leaves CRB(v) = 6 s2 / ((4 pi Tp / lam)^2 ||u||^2 T (T^2 - 1)) (u from the numpy model)."""
    pos, G, _ = _sim_setup(rng)
    T = 40
    x0 = rng.normal(size=G.shape[1]) + 1j * rng.normal(size=G.shape[1])
    X = np.repeat(x0[:, None], T, axis=1)
    rx_pos = np.asarray(centered_upa_positions(3, 3, LAM / 2, z=0.001)) if separate_rx else None
    xi = np.array([-0.2, 1.2, -3.0, 0.8, 1.0])
    s2 = 1e-12
    J = _jit_fim(rx_pos)(jnp.asarray(xi), jnp.asarray(G), jnp.asarray(X), jnp.asarray(pos), s2)
    u = _sim_mean_numpy(np.r_[xi[:2], 0.0, xi[3:]], G, X[:, :1], pos, LAM, TP, rx_pos=rx_pos)[:, 0]
    ref = 6 * s2 / ((4 * np.pi * TP / LAM) ** 2 * np.sum(np.abs(u) ** 2) * T * (T ** 2 - 1))
    jlb = crb.schur_lower_bound(J, (2,))
    np.testing.assert_allclose(1 / jlb[0, 0], ref, rtol=1e-8)


def test_sim_crb_total_matches_manual_and_identifiable(rng):
    pos, G, X = _sim_setup(rng)
    # orthogonal probing: X X^H / T_s = (P_sense / M) I with P_sense = 0.1
    np.testing.assert_allclose(X @ X.conj().T / X.shape[1], 0.1 / X.shape[0] * np.eye(X.shape[0]),
                               atol=1e-15)
    targets = jnp.array([[0.3, 1.5, 4.0, 0.5, 0.2], [-0.5, 2.5, -2.0, 1.0, -1.0]])
    args = (jnp.asarray(G), jnp.asarray(X), jnp.asarray(pos), LAM, TP, 1e-12)
    tot = jax.jit(crb.sim_crb_total)(targets, *args)
    fim = _jit_fim()
    manual = 0.0
    for x in targets:
        J = np.asarray(fim(x, *args[:3], args[5]))
        # near field: all five parameters identifiable (equilibrated FIM well away from singular)
        assert np.linalg.eigvalsh(_normalised(J)).min() > 1e-8
        manual += np.trace(np.linalg.inv(J)[:3, :3])
    np.testing.assert_allclose(tot, manual, rtol=1e-7)
    # joint FIM: its diagonal blocks are the per-target FIMs (exact zeros compared at 1e-10 of
    # the normalised scale)
    Jj = jax.jit(crb.sim_joint_fim)(targets, *args)
    J1 = np.asarray(fim(targets[1], *args[:3], args[5]))
    np.testing.assert_allclose(_normalised(Jj[5:, 5:]), _normalised(J1), atol=1e-10)


def test_sim_crb_gradients_vs_finite_differences(rng):
    """d CRB_total / d P_sense (exactly -CRB/P since J is linear in P) and the directional
    derivative w.r.t. the SIM phases of G = diag(e^{j t}) H, against central differences."""
    pos, H, _ = _sim_setup(rng)
    M, T = H.shape[1], 12
    targets = jnp.array([[0.3, 1.5, 4.0, 0.5, 0.2], [-0.5, 2.5, -2.0, 1.0, -1.0]])
    t0 = jnp.asarray(rng.uniform(0, 2 * np.pi, H.shape[0]))

    def f(p, t):
        G = jnp.exp(1j * t)[:, None] * jnp.asarray(H)
        X = crb.orthogonal_probing(M, T, p)
        return crb.sim_crb_total(targets, G, X, jnp.asarray(pos), LAM, TP, 1e-12, eps=0.0)

    p0 = 0.1
    f = jax.jit(f)
    gp = jax.jit(jax.grad(f, argnums=0))(p0, t0)
    h = 1e-4 * p0
    fd = (f(p0 + h, t0) - f(p0 - h, t0)) / (2 * h)
    np.testing.assert_allclose(gp, fd, rtol=FD_RTOL)
    np.testing.assert_allclose(gp, -f(p0, t0) / p0, rtol=1e-8)

    direction = jnp.asarray(rng.normal(size=H.shape[0]))
    gt = jax.jit(jax.grad(f, argnums=1))(p0, t0) @ direction
    h = 1e-5
    fd = (f(p0, t0 + h * direction) - f(p0, t0 - h * direction)) / (2 * h)
    np.testing.assert_allclose(gt, fd, rtol=FD_RTOL)


# ------------------------------------------------------------------------------------------------
# Paper 000: TRIS radar
# ------------------------------------------------------------------------------------------------

NR, NC, SOL = 4, 4, 0.5


def _tris_mean_test(params, X, amp, lam, free_alpha=False):
    """Independent (loop-built steering) implementation of mu_t = alpha b(d) a^H x_t."""
    if free_alpha:
        d, az, pt, ar, ai = params
        alpha = ar + 1j * ai
    else:  # psi = total echo phase arg(alpha b(d)), so arg(alpha) = psi + 2 pi d / lam
        d, az, pt, psi = params
        alpha = amp / d ** 2 * jnp.exp(1j * (psi + 2 * jnp.pi * d / lam))
    dr = SOL * jnp.sin(pt) * jnp.cos(az)
    dc = SOL * jnp.sin(pt) * jnp.sin(az)
    a = jnp.stack([jnp.exp(-2j * jnp.pi * (dr * r + dc * c)) for r in range(NR) for c in range(NC)])
    return alpha * jnp.exp(-2j * jnp.pi * d / lam) * (jnp.conj(a) @ X)


def test_tris_closed_form_fim_vs_jacfwd(rng):
    N, T, lam, s2 = NR * NC, 30, 0.01, 1e-10
    X = rng.normal(size=(N, T)) + 1j * rng.normal(size=(N, T))
    d, az, pt, alpha = 40.0, 0.7, 0.5, 2e-4 * np.exp(0.9j)
    amp = abs(alpha) * d ** 2
    Rx = X @ X.conj().T / T
    J = crb.tris_fim(jnp.asarray(Rx), d, az, pt, alpha, NR, NC, SOL, lam, s2, T)
    J_ref = jax.jit(lambda x: crb.fim_gaussian_mean(
        lambda p: _tris_mean_test(p, jnp.asarray(X), amp, lam), x, s2))(
        jnp.array([d, az, pt, np.angle(alpha)]))
    np.testing.assert_allclose(J, J_ref, rtol=1e-9, atol=1e-9 * np.abs(J_ref).max())
    # and the library's own mean function agrees with the test's
    np.testing.assert_allclose(
        crb.tris_echo_mean(jnp.array([d, az, pt, 0.9]), jnp.asarray(X), amp, NR, NC, SOL, lam),
        _tris_mean_test(jnp.array([d, az, pt, 0.9]), jnp.asarray(X), amp, lam),
        rtol=1e-10)  # the test adds and removes 2 pi d / lam ~ 2.5e4 rad: round-off ~ 1e-11
    rc = crb.tris_rcrb(jnp.asarray(Rx), d, az, pt, alpha, NR, NC, SOL, lam, s2, T)
    np.testing.assert_allclose(rc ** 2, np.diag(np.linalg.inv(np.asarray(J_ref)))[:3], rtol=1e-8)


def test_tris_distance_unidentifiable_with_free_alpha(rng):
    """alpha fully unknown (re, im): d only moves b(d)'s phase, collinear with arg(alpha)."""
    N, T, lam = NR * NC, 30, 0.01
    X = rng.normal(size=(N, T)) + 1j * rng.normal(size=(N, T))
    J = np.asarray(jax.jit(lambda x: crb.fim_gaussian_mean(
        lambda p: _tris_mean_test(p, jnp.asarray(X), None, lam, free_alpha=True), x, 1e-10))(
        jnp.array([40.0, 0.7, 0.5, 1e-4, 2e-4])))
    Js = J / np.sqrt(np.outer(np.diag(J), np.diag(J)))
    ev = np.linalg.eigvalsh(Js)
    assert ev[0] < 1e-12 * ev[-1]  # singular: exactly one null direction (round-off level)
    assert ev[1] > 1e-6 * ev[-1]


def test_tris_fim_rank_of_transmit_covariance(rng):
    """X = W S of rank r reveals only the complex r-vector c W^H a: rank-1 Rx -> FIM rank 2
    (singular for 4 parameters), rank 2 -> regular (docs/derivations/tris_crb.md)."""
    for r, singular in [(1, True), (2, False)]:
        W = rng.normal(size=(NR * NC, r)) + 1j * rng.normal(size=(NR * NC, r))
        J = crb.tris_fim(jnp.asarray(W @ W.conj().T), 50.0, 0.3, 0.6, 1e-4, NR, NC, SOL, 0.01,
                         1e-10, 20)
        ev = np.linalg.eigvalsh(_normalised(J))
        assert (ev[1] < 1e-12) if singular else (ev[0] > 1e-4)


def test_tris_rcrb_distance_closed_form_isotropic():
    """Rx = (P/N) I: Re{a^H Rx da} = 0, so d decouples from the angles once psi is eliminated and
    CRB(d) = s2 d^2 / (8 T |alpha|^2 P) (from J_dd,eff = (2 T |alpha|^2 / s2)(4 / d^2) a^H Rx a)."""
    N, T, lam, s2, P = NR * NC, 25, 0.01, 1e-10, 1e-3
    d, alpha = 60.0, 3e-4
    Rx = P / N * jnp.eye(N, dtype=complex)
    rc = crb.tris_rcrb(Rx, d, 0.3, 0.8, alpha, NR, NC, SOL, lam, s2, T)
    np.testing.assert_allclose(rc[0] ** 2, s2 * d ** 2 / (8 * T * abs(alpha) ** 2 * P), rtol=1e-9)


# ------------------------------------------------------------------------------------------------
# jit / vmap / grad smoke
# ------------------------------------------------------------------------------------------------


def test_jit_vmap_grad_smoke(rng):
    pos, G, X = _sim_setup(rng)
    targets = jnp.array([[0.3, 1.5, 4.0, 0.5, 0.2], [-0.5, 2.5, -2.0, 1.0, -1.0]])
    args = (jnp.asarray(G), jnp.asarray(X), jnp.asarray(pos), LAM, TP, 1e-12)
    f = jax.jit(jax.vmap(lambda tg: crb.sim_crb_total(tg, *args, eps=1e-9)))
    # CRB_total is a sum over targets: swapping them must not change it
    moved = targets * jnp.array([1.0, 1.1, 1.0, 1.0, 1.0])[None, :]
    vb = f(jnp.stack([targets, targets[::-1], moved]))
    assert np.all(np.isfinite(vb)) and np.all(vb > 0)
    # equilibrated FIM condition ~1e6: summation-order differences ~1e-10 relative
    np.testing.assert_allclose(vb[1], vb[0], rtol=1e-8)
    assert abs(vb[2] - vb[0]) > 1e-3 * vb[0]
    g = jax.jit(jax.grad(lambda tg: crb.sim_crb_total(tg, *args)))(targets)  # eager grad: slow
    assert np.all(np.isfinite(g))

    N = NR * NC
    Rx = jnp.eye(N, dtype=complex) * 1e-3 / N
    rc = jax.jit(jax.vmap(lambda pt: crb.tris_rcrb(Rx, 50.0, 0.3, pt, 1e-4, NR, NC, SOL, 0.01,
                                                   1e-10, 20)))(jnp.linspace(0.2, 1.0, 4))
    assert rc.shape == (4, 3) and np.all(np.isfinite(rc))
    # Rx enters through a real parametrisation (its diagonal) for a plain real gradient
    gdiag = jax.jit(jax.grad(lambda w: jnp.sum(crb.tris_rcrb(
        jnp.diag(w).astype(complex), 50.0, 0.3, 0.6, 1e-4, NR, NC, SOL, 0.01, 1e-10, 20))))(
        jnp.full(N, 1e-3 / N))
    assert np.all(np.isfinite(gdiag)) and np.all(gdiag < 0)  # more power never hurts the RCRB
    Jb = jax.vmap(lambda J: crb.schur_lower_bound(J, (0, 2)))(
        jnp.asarray(np.stack([_rand_spd(rng, 4) for _ in range(3)])))
    assert Jb.shape == (3, 2, 2)


def test_sim_range_from_delay_matches_closed_form():
    """With OFDM subcarriers, range is measured by delay. One receive port, one element at the
    origin (no wavefront curvature), RCS and echo phase eliminated (Schur): the range Fisher
    information is the delay term alone, (2/s2) |beta|^2 P T (1/F) sum_i (4 pi f_i / c)^2,
    written here from the textbook delay CRB (subcarrier offsets symmetric, so the delay is
    decoupled from the echo phase)."""
    from jisac.metrics.crb import radar_pathloss, schur_lower_bound, sim_target_fim

    c = 299_792_458.0
    lam, P, T, s2 = 0.0107, 0.5, 16, 1e-12
    f = np.linspace(-50e6, 50e6, 8)
    G = jnp.ones((1, 1), jnp.complex128)
    X = jnp.sqrt(P) * jnp.ones((1, T), jnp.complex128)
    pos = jnp.zeros((1, 3))
    xi = jnp.array([0.2, 30.0, 3.0, 1.5, 0.4])
    J = sim_target_fim(xi, G, X, pos, lam, 1e-4, s2, subcarriers=f)
    # one element at the origin carries no angle information (theta row is zero); eliminate the
    # nuisances (rcs, phi) from the (r, rcs, phi) block. v is decoupled from r (sum_i f_i = 0).
    sub = jnp.asarray(J)[jnp.ix_(jnp.array([1, 3, 4]), jnp.array([1, 3, 4]))]
    J_r = schur_lower_bound(sub, (0,))[0, 0]
    assert abs(float(J[1, 2])) < 1e-9 * float(J[1, 1])
    beta2 = 1.5 / float(radar_pathloss(30.0, lam, 1.0, 2.0))
    # the path-loss part of d|beta|/dr is absorbed by the unknown RCS (eliminated), so only the
    # delay term remains; doppler and angle carry no range information here
    ref = 2.0 / s2 * beta2 * P * T * np.mean((4 * np.pi * f / c) ** 2)
    np.testing.assert_allclose(float(J_r), ref, rtol=1e-8)
    # narrowband (no subcarriers): the range is unidentifiable for one element at the origin
    J0 = sim_target_fim(xi, G, X, pos, lam, 1e-4, s2)
    sub0 = jnp.asarray(J0)[jnp.ix_(jnp.array([1, 3, 4]), jnp.array([1, 3, 4]))]
    assert abs(float(schur_lower_bound(sub0, (0,))[0, 0])) < 1e-6 * ref
