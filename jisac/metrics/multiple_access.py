"""Baseline access schemes with artificial noise (AN), paper 000 Sec. V baselines (2), (4), (5).

Common model (one slot). The BS sends ``K`` private streams plus Gaussian AN:

    x = sum_k w_k s_k + z,      z ~ CN(0, R_an),      W = [w_1, ..., w_K]  (N, K),

LU ``k`` receives ``h_k^H x + n_k``, IU ``m`` receives ``g_m^H x + v_m``. ``H`` (K, N) and ``G``
(M, N) stack the channels as rows, as in :mod:`jisac.metrics.rsma`. SDR form:
``Wmats[k] = w_k w_k^H`` (K, N, N). No common stream: these schemes replace it by AN.

Eavesdropper model (assumption, documented): identical to RSMA's worst case, 000 eq. (23) and
footnote 5 -- the IU cancels all *other* private streams before eavesdropping on LU ``k`` and
cannot remove the AN, so

    gamma_{k,m} = |g_m^H w_k|^2 / (g_m^H R_an g_m + sigma_{v_m}^2)

for both SDMA and NOMA. This makes the baselines' secrecy rates directly comparable with RSMA.

* **SDMA + AN** (baseline 4; ZF + AN, baseline 2, is SDMA+AN with :func:`zf_beamformer`): LU
  ``k`` treats other private streams and the AN as interference,
  ``gamma_k = |h_k^H w_k|^2 / (sum_{i != k} |h_k^H w_i|^2 + h_k^H R_an h_k + sigma_k^2)``.
* **NOMA + AN** (baseline 5): standard downlink MISO NOMA with SIC. Decoding order ``pi``
  (``pi[0]`` decoded first) is by increasing channel gain ``||h_k||^2`` (weakest user first) unless
  given. The user at position ``j`` decodes, in order, the messages ``pi[0], ..., pi[j]``; while
  decoding ``pi[i]`` (``i <= j``) the messages ``pi[0..i-1]`` are already cancelled and
  ``pi[i+1..K-1]`` plus AN are interference:

      gamma_{i <- j} = |h_{pi_j}^H w_{pi_i}|^2
                       / (sum_{l > i} |h_{pi_j}^H w_{pi_l}|^2 + h_{pi_j}^H R_an h_{pi_j} + sigma^2).

  Message ``pi[i]`` must be decodable by every user that decodes it (positions ``j >= i``), so its
  rate is ``R_{pi_i} = min_{j >= i} log2(1 + gamma_{i <- j})``.

Documented property: RSMA (:mod:`jisac.metrics.rsma`) with zero common power (``w_c = 0``) and
``C = 0`` equals SDMA with zero AN (``R_an = 0``): user rates, eavesdropping rates and secrecy
sum-rate coincide (checked in ``tests/test_multiple_access.py``). More generally RSMA's
eavesdropper SINR (23) equals SDMA+AN's with ``R_an = w_c w_c^H``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Complex, Float, Int

from .rsma import link_powers, link_powers_sdr, rate


def _noise(noise_var, n: int) -> Float[Array, " n"]:
    return jnp.broadcast_to(jnp.asarray(noise_var), (n,))


def an_powers(R_an: Complex[Array, "N N"], H: Complex[Array, "U N"]) -> Float[Array, " U"]:
    """AN power received by each user, ``h_u^H R_an h_u``."""
    return jnp.real(jnp.einsum("un,nm,um->u", jnp.conj(H), R_an, H))


# --------------------------------------------------------------------------------------------
# Core formulas on power matrices
# --------------------------------------------------------------------------------------------


def _sdma_sinr(P: Float[Array, "K K"], an: Float[Array, " K"], noise_var) -> Float[Array, " K"]:
    K = P.shape[0]
    # masked sum rather than (total - own): no cancellation when own >> interference
    off = jnp.sum(jnp.where(jnp.eye(K, dtype=bool), 0.0, P), axis=1)
    return jnp.diagonal(P) / (off + an + _noise(noise_var, K))


def _eve_sinr(Pg: Float[Array, "M K"], an_g: Float[Array, " M"], noise_var) -> Float[Array, "K M"]:
    return (Pg / (an_g + _noise(noise_var, Pg.shape[0]))[:, None]).T


def _noma_rates(P: Float[Array, "K K"], an: Float[Array, " K"], noise_var,
                order: Int[Array, " K"]) -> Float[Array, " K"]:
    K = P.shape[0]
    # Q[j, i]: power of message pi_i at the user in decoding position j.
    Q = P[order][:, order]
    # Interference while decoding message i: messages decoded after it, sum_{l > i} Q[j, l].
    # (a strictly-upper mask, not a reversed cumsum minus Q: no cancellation)
    after = jnp.arange(K)[:, None] > jnp.arange(K)[None, :]  # after[l, i] = l > i
    later = Q @ after.astype(Q.dtype)
    denom = later + (an + _noise(noise_var, K))[order][:, None]
    r = rate(Q / denom)
    j_ge_i = jnp.arange(K)[:, None] >= jnp.arange(K)[None, :]
    r_msg = jnp.min(jnp.where(j_ge_i, r, jnp.inf), axis=0)  # rate of message pi_i
    return jnp.zeros(K, r_msg.dtype).at[order].set(r_msg)


def _secrecy(r_k: Float[Array, " K"], r_km: Float[Array, "K M"]) -> Float[Array, ""]:
    return jnp.sum(jnp.maximum(r_k - jnp.max(r_km, axis=1), 0.0))


# --------------------------------------------------------------------------------------------
# SDMA + AN
# --------------------------------------------------------------------------------------------


def sdma_sinr(W: Complex[Array, "N K"], R_an: Complex[Array, "N N"], H: Complex[Array, "K N"],
              noise_var) -> Float[Array, " K"]:
    """SDMA+AN LU SINR: ``|h_k^H w_k|^2 / (sum_{i!=k} |h_k^H w_i|^2 + h_k^H R_an h_k + s^2)``."""
    return _sdma_sinr(link_powers(W, H), an_powers(R_an, H), noise_var)


def sdma_rates(W: Complex[Array, "N K"], R_an: Complex[Array, "N N"], H: Complex[Array, "K N"],
               noise_var) -> Float[Array, " K"]:
    """SDMA+AN LU rates ``log2(1 + gamma_k)``."""
    return rate(sdma_sinr(W, R_an, H, noise_var))


def an_eavesdropper_sinr(W: Complex[Array, "N K"], R_an: Complex[Array, "N N"],
                         G: Complex[Array, "M N"], noise_var) -> Float[Array, "K M"]:
    """Worst-case eavesdropper SINR with AN (module doc):
    ``gamma_{k,m} = |g_m^H w_k|^2 / (g_m^H R_an g_m + sigma_{v_m}^2)``. Output ``[k, m]``."""
    return _eve_sinr(link_powers(W, G), an_powers(R_an, G), noise_var)


def an_eavesdropper_rates(W: Complex[Array, "N K"], R_an: Complex[Array, "N N"],
                          G: Complex[Array, "M N"], noise_var) -> Float[Array, "K M"]:
    """``log2(1 + gamma_{k,m})`` of :func:`an_eavesdropper_sinr`. Output ``[k, m]``."""
    return rate(an_eavesdropper_sinr(W, R_an, G, noise_var))


def sdma_secrecy_sum_rate(W: Complex[Array, "N K"], R_an: Complex[Array, "N N"],
                          H: Complex[Array, "K N"], G: Complex[Array, "M N"], noise_lu, noise_iu
                          ) -> Float[Array, ""]:
    """SDMA+AN secrecy sum-rate ``sum_k [R_k - max_m R_{k,m}]^+`` (cf. 000 eq. (25))."""
    return _secrecy(sdma_rates(W, R_an, H, noise_lu), an_eavesdropper_rates(W, R_an, G, noise_iu))


def sdma_rates_sdr(Wmats: Complex[Array, "K N N"], R_an: Complex[Array, "N N"],
                   H: Complex[Array, "K N"], noise_var) -> Float[Array, " K"]:
    """SDR form of :func:`sdma_rates` (``Wmats[k] = w_k w_k^H``)."""
    return rate(_sdma_sinr(link_powers_sdr(Wmats, H), an_powers(R_an, H), noise_var))


def an_eavesdropper_rates_sdr(Wmats: Complex[Array, "K N N"], R_an: Complex[Array, "N N"],
                              G: Complex[Array, "M N"], noise_var) -> Float[Array, "K M"]:
    """SDR form of :func:`an_eavesdropper_rates`. Output ``[k, m]``."""
    return rate(_eve_sinr(link_powers_sdr(Wmats, G), an_powers(R_an, G), noise_var))


def sdma_secrecy_sum_rate_sdr(Wmats: Complex[Array, "K N N"], R_an: Complex[Array, "N N"],
                              H: Complex[Array, "K N"], G: Complex[Array, "M N"], noise_lu,
                              noise_iu) -> Float[Array, ""]:
    """SDR form of :func:`sdma_secrecy_sum_rate`."""
    return _secrecy(sdma_rates_sdr(Wmats, R_an, H, noise_lu),
                    an_eavesdropper_rates_sdr(Wmats, R_an, G, noise_iu))


# --------------------------------------------------------------------------------------------
# NOMA + AN
# --------------------------------------------------------------------------------------------


def noma_decoding_order(H: Complex[Array, "K N"]) -> Int[Array, " K"]:
    """SIC order by increasing channel gain ``||h_k||^2``: ``order[0]`` (weakest) decoded first."""
    return jnp.argsort(jnp.sum(jnp.real(H) ** 2 + jnp.imag(H) ** 2, axis=1))


def noma_rates(W: Complex[Array, "N K"], R_an: Complex[Array, "N N"], H: Complex[Array, "K N"],
               noise_var, order: Int[Array, " K"] | None = None) -> Float[Array, " K"]:
    """NOMA+AN LU rates (module doc): ``R_{pi_i} = min_{j >= i} log2(1 + gamma_{i <- j})``.

    ``order``: decoding order (``order[0]`` first); default :func:`noma_decoding_order`.
    Output indexed by user ``k`` (not by position).
    """
    if order is None:
        order = noma_decoding_order(H)
    return _noma_rates(link_powers(W, H), an_powers(R_an, H), noise_var, order)


def noma_rates_sdr(Wmats: Complex[Array, "K N N"], R_an: Complex[Array, "N N"],
                   H: Complex[Array, "K N"], noise_var, order: Int[Array, " K"] | None = None
                   ) -> Float[Array, " K"]:
    """SDR form of :func:`noma_rates`."""
    if order is None:
        order = noma_decoding_order(H)
    return _noma_rates(link_powers_sdr(Wmats, H), an_powers(R_an, H), noise_var, order)


def noma_secrecy_sum_rate(W: Complex[Array, "N K"], R_an: Complex[Array, "N N"],
                          H: Complex[Array, "K N"], G: Complex[Array, "M N"], noise_lu, noise_iu,
                          order: Int[Array, " K"] | None = None) -> Float[Array, ""]:
    """NOMA+AN secrecy sum-rate ``sum_k [R_k - max_m R_{k,m}]^+`` (worst-case IU, module doc)."""
    return _secrecy(noma_rates(W, R_an, H, noise_lu, order),
                    an_eavesdropper_rates(W, R_an, G, noise_iu))


def noma_secrecy_sum_rate_sdr(Wmats: Complex[Array, "K N N"], R_an: Complex[Array, "N N"],
                              H: Complex[Array, "K N"], G: Complex[Array, "M N"], noise_lu,
                              noise_iu, order: Int[Array, " K"] | None = None) -> Float[Array, ""]:
    """SDR form of :func:`noma_secrecy_sum_rate`."""
    return _secrecy(noma_rates_sdr(Wmats, R_an, H, noise_lu, order),
                    an_eavesdropper_rates_sdr(Wmats, R_an, G, noise_iu))


# --------------------------------------------------------------------------------------------
# Zero forcing (baseline 2: ZF + AN)
# --------------------------------------------------------------------------------------------


def zf_beamformer(H: Complex[Array, "K N"], powers: Float[Array, " K"] | None = None
                  ) -> Complex[Array, "N K"]:
    """Zero-forcing precoder: columns of ``pinv(conj(H))`` normalised to unit norm, then scaled by
    ``sqrt(powers)`` (unit power if ``None``). Since the receive model is ``conj(H) @ x``,
    ``conj(H) @ W`` is diagonal (no inter-user interference); requires ``K <= N`` and full rank.
    """
    V = jnp.linalg.pinv(jnp.conj(H))
    V = V / jnp.linalg.norm(V, axis=0)[None, :]
    if powers is None:
        return V
    return V * jnp.sqrt(jnp.asarray(powers))[None, :]


def an_null_space_projector(H: Complex[Array, "K N"]) -> Complex[Array, "N N"]:
    """Projector onto the null space of the LU channels, ``I - A^H (A A^H)^{-1} A``, ``A = conj(H)``.

    ``R_an = q P_perp`` is AN of total power ``q (N - K)`` that no LU receives (``h_k^H R_an h_k =
    0``); the usual AN covariance for the ZF+AN baseline.
    """
    A = jnp.conj(H)
    N = H.shape[1]
    return jnp.eye(N, dtype=A.dtype) - jnp.conj(A.T) @ jnp.linalg.solve(A @ jnp.conj(A.T), A)
