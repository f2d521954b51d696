"""Tests of jisac.hardware.tma (paper 000 eqs. (1)-(3), the 0.91 dB first-harmonic loss).

References: the switching waveform sampled in NumPy and its FFT (Fourier coefficients of the
+-1 periodic waveform), NumPy loops for row powers. FFT tolerances follow from the sampling:
with ``M`` midpoint samples per period, each of the two switching edges is misplaced by at most
half a sample, changing ``c_1`` by at most ``1/M`` each; the midpoint rule on the smooth part
adds at most ``(pi/M)^2``. Hence ``|c_1^FFT - c_1| <= 2/M + (pi/M)^2``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jisac.hardware import tma

T_P = 1e-6
A_MAX = np.sqrt(1e-3)  # P_t = 1 mW (000 Table I)
M = 2**14


def np_waveform(tau, t_on, t_p=T_P, m=M):
    """+1 during [t_on, t_on + tau) (mod T_p), -1 elsewhere, at midpoint samples."""
    t = (np.arange(m) + 0.5) * t_p / m
    rel = np.mod(t - t_on, t_p)
    return np.where(rel < tau, 1.0, -1.0)


def fft_coeffs(u):
    c = np.fft.fft(u) / len(u)
    return c[1], c[-1]


def random_x(rng, n, a_max=A_MAX):
    r = a_max * np.sqrt(rng.uniform(0, 1, n))
    x = r * np.exp(1j * rng.uniform(-np.pi, np.pi, n))
    # edge cases: zero, full amplitude, phase exactly +-pi and 0
    x[:4] = [0.0, a_max, -a_max, 1j * a_max]
    return x


def test_round_trip_and_ranges(rng):
    x = random_x(rng, 256)
    tau, t_on = jax.jit(tma.tma_encode)(x, A_MAX, T_P)
    tau, t_on = np.asarray(tau), np.asarray(t_on)
    assert np.all((tau >= 0) & (tau <= T_P / 2))
    assert np.all((t_on >= 0) & (t_on < T_P))
    # eq. (2) and (3) hold directly
    np.testing.assert_allclose(A_MAX * np.sin(np.pi * tau / T_P), np.abs(x), atol=1e-12 * A_MAX)
    lhs = -np.pi * (2 * t_on + tau) / T_P
    nz = np.abs(x) > 0
    wrapped = np.angle(np.exp(1j * (lhs[nz] - np.angle(x[nz]))))  # = 2 k pi up to round-off
    assert np.all(np.abs(wrapped) < 1e-9)
    np.testing.assert_allclose(tma.tma_decode(tau, t_on, A_MAX, T_P), x, atol=1e-12 * A_MAX)


def test_decode_amplitude_bound_and_saturation(rng):
    tau = rng.uniform(0, T_P, 1000)
    t_on = rng.uniform(0, T_P, 1000)
    assert np.all(np.abs(tma.tma_decode(tau, t_on, A_MAX, T_P)) <= A_MAX * (1 + 1e-12))
    x = np.array([2.0, 3j, -5.0 - 5j]) * A_MAX  # above A_max: saturate, keep the phase
    y = np.asarray(tma.tma_decode(*tma.tma_encode(x, A_MAX, T_P), A_MAX, T_P))
    np.testing.assert_allclose(np.abs(y), A_MAX, rtol=1e-12)
    np.testing.assert_allclose(np.angle(y * np.conj(x)), 0.0, atol=1e-9)


def test_fft_first_harmonic_matches_decode(rng):
    x = random_x(rng, 12)
    tau, t_on = map(np.asarray, tma.tma_encode(x, A_MAX, T_P))
    tol = 2 / M + (np.pi / M) ** 2
    for i in range(len(x)):
        u = np_waveform(tau[i], t_on[i])
        # the same waveform from the library helper
        t = (np.arange(M) + 0.5) * T_P / M
        np.testing.assert_array_equal(tma.switching_waveform(tau[i], t_on[i], T_P, t), u)
        c1, cm1 = fft_coeffs(u)
        # c_1 = (2/pi) x / A_max; c_-1 = conj(c_1) (real waveform)
        assert abs(c1 - 2 / np.pi * x[i] / A_MAX) <= tol
        assert abs(cm1 - np.conj(2 / np.pi * x[i] / A_MAX)) <= tol


def test_first_harmonic_loss_0p91_db():
    # 50 % duty, edges on sample boundaries: c_1 = (2/M)/sin(pi/M) exactly (Dirichlet kernel),
    # relative deviation from 2/pi below (pi/M)^2/6
    u = np_waveform(T_P / 2, 0.0)
    c1, cm1 = fft_coeffs(u)
    pair = abs(c1) ** 2 + abs(cm1) ** 2
    total = np.mean(u**2)  # Parseval: total power of the +-1 waveform is 1
    assert total == 1.0
    loss_db = -10 * np.log10(pair / total)
    assert abs(loss_db - tma.FIRST_HARMONIC_PAIR_LOSS_DB) < 10 / np.log(10) * (np.pi / M) ** 2
    assert abs(tma.FIRST_HARMONIC_PAIR_LOSS_DB - 0.91) < 0.005  # the value quoted by 000
    np.testing.assert_allclose(tma.FIRST_HARMONIC_PAIR_EFFICIENCY, 8 / np.pi**2, rtol=1e-15)
    np.testing.assert_allclose(tma.FIRST_HARMONIC_EFFICIENCY * 2, 8 / np.pi**2, rtol=1e-15)


@pytest.mark.parametrize("amp", [0.1, 0.5, 0.9, 1.0])
def test_radiated_power_vs_fft(amp):
    x = amp * A_MAX * np.exp(0.7j)
    tau, t_on = map(float, tma.tma_encode(x, A_MAX, T_P))
    c1, cm1 = fft_coeffs(np_waveform(tau, t_on))
    pair = (abs(c1) ** 2 + abs(cm1) ** 2) * A_MAX**2  # carrier power normalised to A_max^2
    delta = 2 / M + (np.pi / M) ** 2  # |c_1| error bound; power error <= 2 (2|c1| delta + delta^2)
    tol = 2 * (2 * (2 / np.pi) * delta + delta**2) * A_MAX**2
    assert abs(float(tma.first_harmonic_radiated_power(abs(x) ** 2)) - pair) <= tol


def test_per_element_power_and_sdr(rng):
    n, k1, L = 6, 4, 3
    W = rng.normal(size=(L, n, k1)) + 1j * rng.normal(size=(L, n, k1))
    ref = np.zeros((L, n))
    for l in range(L):
        for i in range(n):
            for j in range(k1):
                ref[l, i] += abs(W[l, i, j]) ** 2
    np.testing.assert_allclose(tma.per_element_power(W), ref, rtol=1e-13)
    np.testing.assert_allclose(tma.per_element_power(W[0]), np.real(np.diag(W[0] @ W[0].conj().T)),
                               rtol=1e-13)
    wm = np.stack([np.outer(W[0][:, i], W[0][:, i].conj()) for i in range(k1)])
    np.testing.assert_allclose(tma.per_element_power_sdr(wm), ref[0], rtol=1e-13)


def test_scale_to_element_power(rng):
    n, k1, p_t = 8, 4, 1e-3
    W = (rng.normal(size=(n, k1)) + 1j * rng.normal(size=(n, k1))) * np.sqrt(p_t / k1)
    W[0] = 0.0  # a zero row must stay zero (NaN-safe)
    p = np.sum(np.abs(W) ** 2, axis=1)
    assert np.any(p > p_t) and np.any((p < p_t) & (p > 0))
    V = np.asarray(tma.scale_to_element_power(W, p_t))
    pv = np.sum(np.abs(V) ** 2, axis=1)
    ok = p <= p_t
    np.testing.assert_array_equal(V[ok], W[ok])
    np.testing.assert_allclose(pv[~ok], p_t, rtol=1e-12)
    # direction of each row kept: V_n = c_n W_n with c_n in (0, 1]
    for i in np.flatnonzero(~ok):
        c = V[i] / W[i]
        np.testing.assert_allclose(c, np.sqrt(p_t / p[i]), rtol=1e-12)
    # batched (L, N, K+1)
    Vb = np.asarray(tma.scale_to_element_power(np.stack([W, 2 * W]), p_t))
    assert np.all(np.sum(np.abs(Vb) ** 2, axis=-1) <= p_t * (1 + 1e-12))


def test_grad_and_vmap_smoke():
    def loss(x):
        tau, t_on = tma.tma_encode(x, A_MAX, T_P)
        return jnp.sum(tau) + jnp.sum(t_on)

    x = jnp.array([0.0 + 0j, A_MAX + 0j, 0.3 * A_MAX * (1 + 1j)])
    g = jax.jit(jax.grad(loss))(x)
    assert np.all(np.isfinite(np.asarray(g)))
    W = jnp.zeros((3, 2), complex).at[1].set(1.0)
    gw = jax.jit(jax.grad(lambda w: jnp.sum(jnp.abs(tma.scale_to_element_power(w, 0.5)) ** 2)))(W)
    assert np.all(np.isfinite(np.asarray(gw)))
    xs = jax.jit(jax.vmap(lambda x: tma.tma_decode(*tma.tma_encode(x, A_MAX, T_P), A_MAX, T_P)))(
        jnp.ones((5, 3), complex) * 0.2 * A_MAX)
    np.testing.assert_allclose(xs, 0.2 * A_MAX, atol=1e-12 * A_MAX)
