"""Tests of jisac.metrics.detection: LRT detection (000 eqs. (28)-(32), (61)-(62)) and beampattern
matching (eq. (33)), against Monte Carlo, closed forms and NumPy loops written here."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.geometry import upa_steering
from jisac.metrics import detection as det

NR, NC, SPACING = 3, 4, 0.5
N = NR * NC
N_MC = 200_000


def steer(th, ph):  # independent NumPy steering vector, 000 eq. (5)
    dr = SPACING * np.sin(th) * np.cos(ph)
    dc = SPACING * np.sin(th) * np.sin(ph)
    return np.array([np.exp(-2j * np.pi * (dr * r + dc * c)) for r in range(NR) for c in range(NC)])


def binom_tol(p, n):
    """5-sigma binomial half-width for an empirical frequency of n Bernoulli(p) draws."""
    return 5.0 * np.sqrt(p * (1.0 - p) / n)


def cgauss(key, var, n):
    kr, ki = jax.random.split(key)
    s = jnp.sqrt(var / 2.0)
    return s * (jax.random.normal(kr, (n,), jnp.float64) + 1j * jax.random.normal(ki, (n,), jnp.float64))


# ---- chi-square(2) closed forms --------------------------------------------------------------


def test_chi2_2_closed_forms():
    x = np.linspace(0.0, 30.0, 301)
    # CDF by trapezoidal integration of the chi2_2 pdf exp(-x/2)/2 on a fine grid
    xf = np.linspace(0.0, 30.0, 300_001)
    cdf_num = np.concatenate([[0.0], np.cumsum((np.exp(-xf[1:] / 2) + np.exp(-xf[:-1] / 2)) / 4
                                               * np.diff(xf))])[::1000]
    # trapezoid error <= (b-a) h^2 max|f''| / 12 = 30 * 1e-8 * (1/8) / 12 ~ 3e-9
    np.testing.assert_allclose(det.chi2_2_cdf(x), cdf_num, atol=1e-8)
    np.testing.assert_allclose(det.chi2_2_sf(x), 1.0 - cdf_num, atol=1e-8)
    q = np.linspace(0.0, 0.999, 50)
    np.testing.assert_allclose(det.chi2_2_cdf(det.chi2_2_icdf(q)), q, atol=1e-14)
    assert float(det.chi2_2_cdf(-1.0)) == 0.0 and float(det.chi2_2_sf(-1.0)) == 1.0


# ---- Monte-Carlo LRT ------------------------------------------------------------------------


@pytest.mark.parametrize("p_fa,sigma_r2", [(1e-2, 1e-3), (0.1, 2.0)])
def test_false_alarm_matches_monte_carlo(key, p_fa, sigma_r2):
    # H0 of (28): T = |n|^2, n ~ CN(0, sigma_r^2)  <=>  T ~ (sigma_r^2/2) chi2_2
    delta = det.detection_threshold(p_fa, sigma_r2)
    np.testing.assert_allclose(det.false_alarm_probability(delta, sigma_r2), p_fa, rtol=1e-13)
    T = jnp.abs(cgauss(key, sigma_r2, N_MC)) ** 2
    emp = float(jnp.mean(T > delta))
    assert abs(emp - p_fa) <= binom_tol(p_fa, N_MC)


@pytest.mark.parametrize("p,sigma_a2,sigma_r2,p_fa", [
    (1e-3, 2.0e-2, 1e-3, 1e-2),   # p varsigma ~ 0.24: weak target
    (1.0, 1.0, 3.0, 1e-3),        # p varsigma = 4
    (0.5, 0.4, 0.1, 0.05),        # p varsigma = 24: P_D close to 1
])
def test_detection_probability_matches_monte_carlo(key, p, sigma_a2, sigma_r2, p_fa):
    # H1 of (28): echo alpha * sqrt(p ||c||^2) + n, alpha ~ CN(0, sigma_alpha^2), n ~ CN(0,sigma_r^2)
    # => T = |y|^2 ~ (sigma_r^2/2 + sigma_alpha^2 p ||c||^2 / 2) chi2_2, ||c||^2 = N (eq. (13)).
    a = steer(0.3, 0.7)
    c_norm2 = float(np.sum(np.abs(a) ** 2))
    ka, kn = jax.random.split(key)
    y = cgauss(ka, sigma_a2, N_MC) * np.sqrt(p * c_norm2) + cgauss(kn, sigma_r2, N_MC)
    T = jnp.abs(y) ** 2
    delta = det.detection_threshold(p_fa, sigma_r2)
    # varsigma consistent with (28): the "echo_snr" normalisation at a perfect estimate
    vs = det.sensing_gain(sigma_a2, a, a, sigma_r2, normalization="echo_snr")
    np.testing.assert_allclose(vs, sigma_a2 * c_norm2 / sigma_r2, rtol=1e-12)
    pd = float(det.detection_probability(p, vs, delta, sigma_r2))
    np.testing.assert_allclose(det.detection_probability_from_pfa(p, vs, p_fa), pd, rtol=1e-12)
    emp = float(jnp.mean(T > delta))
    assert abs(emp - pd) <= binom_tol(pd, N_MC), (emp, pd)


def test_sensing_gain_eq32_and_worst_distance():
    a, a_hat = steer(0.4, 0.9), steer(0.42, 0.95)
    lam, s_rcs, sigma_r2 = 0.01, 1.5, 1e-11
    d = 60.0
    sa2 = det.rcs_variance(s_rcs, lam, d)
    np.testing.assert_allclose(sa2, s_rcs * lam**2 / ((4 * np.pi) ** 3 * d**4), rtol=1e-14)
    # (32) with c = b a^H, c_hat = b_hat a_hat^H, |b| = |b_hat| = 1: |c c_hat^H|^2
    b, b_hat = np.exp(-2j * np.pi * d / lam), np.exp(-2j * np.pi * 61.3 / lam)
    cc = (b * np.conj(a)) @ np.conj(b_hat * np.conj(a_hat))
    ref = sa2 * abs(cc) ** 2 / (N**2 * sigma_r2)
    np.testing.assert_allclose(det.sensing_gain(sa2, a, a_hat, sigma_r2), ref, rtol=1e-12)
    np.testing.assert_allclose(det.sensing_gain(sa2, a, a_hat, sigma_r2, "echo_snr"), N * ref,
                               rtol=1e-12)
    # (62): p S lambda^2 |a^H a_hat|^2 / (sigma_r^2 N^2 (4 pi)^3 (d_hat + D)^4), per unit p
    d_hat, D = 60.0, 5.0
    ref62 = s_rcs * lam**2 * abs(np.vdot(a, a_hat)) ** 2 / (sigma_r2 * N**2 * (4 * np.pi) ** 3
                                                             * (d_hat + D) ** 4)
    worst = det.sensing_gain_worst_distance(s_rcs, lam, d_hat, D, a, a_hat, sigma_r2)
    np.testing.assert_allclose(worst, ref62, rtol=1e-12)
    # and it is the minimum over the uncertainty interval |Delta d| <= D
    for dd in np.linspace(-D, D, 41):
        g = det.sensing_gain(det.rcs_variance(s_rcs, lam, d_hat + dd), a, a_hat, sigma_r2)
        assert float(g) >= float(worst) * (1 - 1e-12)
    with pytest.raises(ValueError):
        det.sensing_gain(sa2, a, a_hat, sigma_r2, "bogus")


def test_echo_snr_links_beam_and_sensing_gain():
    a, a_hat = steer(0.4, 0.9), steer(0.45, 0.85)
    p, sa2, sr2 = 0.7, 2e-3, 1e-4
    Rx = p / N * np.outer(a_hat, np.conj(a_hat))
    ref = sa2 * np.real(np.conj(a) @ Rx @ a) / sr2
    np.testing.assert_allclose(det.echo_snr(Rx, a, sa2, sr2), ref, rtol=1e-12)
    np.testing.assert_allclose(det.echo_snr(Rx, a, sa2, sr2),
                               p * det.sensing_gain(sa2, a, a_hat, sr2, "echo_snr"), rtol=1e-12)
    # the paper's (32) is N times smaller than the echo SNR (erratum in docs/derivations)
    np.testing.assert_allclose(det.echo_snr(Rx, a, sa2, sr2),
                               N * p * det.sensing_gain(sa2, a, a_hat, sr2), rtol=1e-12)


@pytest.mark.parametrize("target,p_fa", [(0.9, 1e-2), (0.99, 1e-4), (0.5, 0.1)])
def test_snr_threshold_inverts_detection_probability(target, p_fa):
    I_m = float(det.detection_snr_threshold(target, p_fa))
    vs, sigma_r2 = 3.7, 0.2
    delta = det.detection_threshold(p_fa, sigma_r2)
    np.testing.assert_allclose(det.detection_probability(I_m / vs, vs, delta, sigma_r2), target,
                               rtol=1e-12)
    # monotone: slightly more power beats the target, slightly less misses it
    assert float(det.detection_probability(1.01 * I_m / vs, vs, delta, sigma_r2)) > target
    assert float(det.detection_probability(0.99 * I_m / vs, vs, delta, sigma_r2)) < target


@pytest.mark.parametrize("p", [1e-3, 0.3, 5.0])
def test_detection_probability_gradient_finite_differences(p):
    vs, sigma_r2, p_fa = 2.0, 0.5, 1e-3
    delta = det.detection_threshold(p_fa, sigma_r2)
    f = lambda q: det.detection_probability(q, vs, delta, sigma_r2)  # noqa: E731
    g = float(jax.grad(f)(p))
    h = 1e-6 * max(p, 1e-2)
    fd = (float(f(p + h)) - float(f(p - h))) / (2 * h)
    # central differences in x64: truncation O(h^2 f''') ~ 1e-12 relative, round-off ~ 1e-16/h
    np.testing.assert_allclose(g, fd, rtol=1e-7)
    # finite at p = 0 as well
    assert np.isfinite(float(jax.grad(f)(0.0)))


# ---- beampattern ----------------------------------------------------------------------------


def test_beampattern_peak_at_steering_direction():
    th0, ph0, P = 0.35, 0.8, 2.5
    a = np.asarray(upa_steering(th0, ph0, NR, NC, SPACING))
    np.testing.assert_allclose(a, steer(th0, ph0), atol=1e-14)
    R = P * np.outer(a, np.conj(a))
    np.testing.assert_allclose(det.beampattern(R, jnp.array(th0), jnp.array(ph0), NR, NC, SPACING),
                               P * N**2, rtol=1e-12)
    th, ph = np.meshgrid(np.linspace(0.0, 1.2, 121), np.linspace(0.0, 1.6, 161), indexing="ij")
    # put the true direction on the grid
    th[35, 80], ph[35, 80] = th0, ph0
    bp = np.asarray(det.beampattern(R, th, ph, NR, NC, SPACING))
    assert bp.shape == th.shape
    assert np.unravel_index(np.argmax(bp), bp.shape) == (35, 80)
    # vs NumPy loop for a random Hermitian PSD R
    rng = np.random.default_rng(1)
    B = rng.standard_normal((N, 3)) + 1j * rng.standard_normal((N, 3))
    R2 = B @ np.conj(B.T)
    ref = np.array([np.real(np.conj(steer(t, p)) @ R2 @ steer(t, p))
                    for t, p in zip(th[::20, ::20].ravel(), ph[::20, ::20].ravel())])
    np.testing.assert_allclose(det.beampattern(R2, th[::20, ::20], ph[::20, ::20], NR, NC, SPACING
                                               ).ravel(), ref, rtol=1e-11)
    with pytest.raises(ValueError):
        det.beampattern(R2, th, ph[0], NR, NC, SPACING)


def test_matching_error(rng):
    W = rng.standard_normal((N, 4)) + 1j * rng.standard_normal((N, 4))
    R = rng.standard_normal((N, N)) + 1j * rng.standard_normal((N, N))
    Wm = np.stack([np.outer(W[:, i], np.conj(W[:, i])) for i in range(4)])
    ref = sum(abs(sum(Wm[i][r, c] for i in range(4)) - R[r, c]) ** 2
              for r in range(N) for c in range(N))
    np.testing.assert_allclose(det.beampattern_matching_error(Wm, R), ref, rtol=1e-12)
    np.testing.assert_allclose(det.beampattern_matching_error_vec(W, R), ref, rtol=1e-12)


def test_scan_covariance_design():
    P_t = 1e-3
    th, ph = np.array([0.2, 0.5]), np.array([0.4, 1.1])
    R = np.asarray(det.scan_covariance(th, ph, NR, NC, SPACING, P_t))
    a1, a2 = steer(th[0], ph[0]), steer(th[1], ph[1])
    ref = P_t / 2 * (np.outer(a1, np.conj(a1)) + np.outer(a2, np.conj(a2)))
    np.testing.assert_allclose(R, ref, atol=1e-15)
    np.testing.assert_allclose(np.diag(R).real, P_t, rtol=1e-12)  # per-element power (34d)
    np.testing.assert_allclose(R, np.conj(R.T), atol=1e-18)
    assert np.min(np.linalg.eigvalsh(R)) > -1e-15
    # beampattern at a scan direction: P_t/2 (N^2 + |a1^H a2|^2)
    np.testing.assert_allclose(det.beampattern(R, jnp.array(th[0]), jnp.array(ph[0]), NR, NC,
                                               SPACING),
                               P_t / 2 * (N**2 + abs(np.vdot(a1, a2)) ** 2), rtol=1e-12)
    # per-slot design over a sector grid
    tg, pg = det.scan_grid((0.1, 0.6), (0.2, 1.2), 2, 3)
    np.testing.assert_allclose(tg, [0.1, 0.1, 0.1, 0.6, 0.6, 0.6])
    np.testing.assert_allclose(pg, [0.2, 0.7, 1.2, 0.2, 0.7, 1.2])
    t1, p1 = det.scan_grid((0.1, 0.5), (0.2, 1.2), 1, 5)
    np.testing.assert_allclose(t1, 0.3)
    Rl = np.asarray(det.scanning_covariances(tg, pg, NR, NC, SPACING, P_t))
    assert Rl.shape == (6, N, N)
    for l in range(6):
        a = steer(tg[l], pg[l])
        np.testing.assert_allclose(Rl[l], P_t * np.outer(a, np.conj(a)), atol=1e-15)


def test_jit_vmap_smoke():
    f = jax.jit(jax.vmap(det.detection_probability_from_pfa, in_axes=(0, None, None)))
    p = jnp.linspace(0.0, 2.0, 7)
    out = f(p, 1.5, 1e-2)
    np.testing.assert_allclose(out[3], 1e-2 ** (1 / (1 + 1.0 * 1.5)), rtol=1e-13)
    g = jax.jit(lambda R: det.beampattern(R, jnp.zeros((2, 3)), jnp.ones((2, 3)), NR, NC, SPACING))
    assert g(jnp.eye(N, dtype=complex)).shape == (2, 3)
    np.testing.assert_allclose(g(jnp.eye(N, dtype=complex)), N, rtol=1e-13)
