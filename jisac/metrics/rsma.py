"""Secrecy metrics of rate-splitting multiple access (RSMA), paper 000 Sec. II-C and III-A.

Model (one slot ``l``; 000 eqs. (14)-(16)). The BS transmits

    x = W s = w_c s_c + sum_k w_k s_k,        W = [w_c, w_1, ..., w_K]  (N, K+1),

with unit-power, independent streams. Legitimate user (LU) ``k`` receives
``y_k = h_k^H x + n_k``, ``n_k ~ CN(0, sigma_{n_k}^2)``; illegal user (IU) ``m`` receives
``y_m = g_m^H x + v_m``. ``H`` stacks the LU channels as rows (row ``k`` = ``h_k``, shape
``(K, N)``), ``G`` the IU channels (row ``m`` = ``g_m``, shape ``(M, N)``).

* LUs decode the common stream first treating all private streams as noise (eq. (17)), remove
  it (SIC) and decode their own private stream treating the other private streams as noise
  (eq. (18)).
* IUs cannot decode the common stream, which therefore acts as artificial noise (AN). Worst case
  of footnote 5: the IU cancels all *other* private streams before eavesdropping on LU ``k``
  (eq. (23)).

SDR form. Optimisers work with ``Wmats[i] = w_i w_i^H`` (``(K+1, N, N)``, index 0 = common);
every ``|h^H w_i|^2`` becomes ``tr(h h^H W_i) = h^H W_i h``. Every metric below exists in both
forms (``*_sdr``); they agree exactly when ``Wmats[i] = w_i w_i^H``. For a general PSD ``Wmats``
(relaxed, rank > 1) the SDR form is the rate of the Gaussian signal with that covariance.

NaN safety: SINRs are ratios with a strictly positive noise power in the denominator (noise
powers must be > 0); rates are ``log1p(max(sinr, 0)) / ln 2`` so that a slightly negative
``h^H W h`` of a numerically non-PSD relaxation cannot produce NaN; ``[x]^+``, ``min``/``max`` use
``jnp.maximum``/``jnp.min``/``jnp.max`` whose (sub)gradients are finite.

Shapes: ``N`` transmit elements, ``K`` LUs, ``M`` IUs, ``L`` slots. Noise powers are scalars or
per-user vectors (``(K,)`` for LUs, ``(M,)`` for IUs), in W.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Complex, Float

_LN2 = 0.6931471805599453


# --------------------------------------------------------------------------------------------
# Received powers |h^H w_i|^2 (vector form) or h^H W_i h (SDR form)
# --------------------------------------------------------------------------------------------


def link_powers(W: Complex[Array, "N S"], H: Complex[Array, "U N"]) -> Float[Array, "U S"]:
    """``P[u, i] = |h_u^H w_i|^2``: power of stream ``i`` received by user ``u``.

    ``h_u^H w_i = (conj(H) @ W)[u, i]``. Squared modulus written as ``re^2 + im^2`` (no ``abs``,
    so the gradient is finite at zero).
    """
    z = jnp.conj(H) @ W
    return jnp.real(z) ** 2 + jnp.imag(z) ** 2


def link_powers_sdr(Wmats: Complex[Array, "S N N"], H: Complex[Array, "U N"]
                    ) -> Float[Array, "U S"]:
    """``P[u, i] = tr(h_u h_u^H W_i) = h_u^H W_i h_u`` (SDR form of :func:`link_powers`)."""
    return jnp.real(jnp.einsum("un,snm,um->us", jnp.conj(H), Wmats, H))


def rate(sinr: Float[Array, "..."]) -> Float[Array, "..."]:
    """Achievable rate ``log2(1 + sinr)`` in bit/s/Hz, eq. (19). Negative inputs clipped to 0."""
    return jnp.log1p(jnp.maximum(sinr, 0.0)) / _LN2


def _noise(noise_var, n: int) -> Float[Array, " n"]:
    return jnp.broadcast_to(jnp.asarray(noise_var), (n,))


# --------------------------------------------------------------------------------------------
# Core formulas on the power matrix (shared by vector and SDR forms)
# --------------------------------------------------------------------------------------------


def _common_sinr_from_powers(P: Float[Array, "K K+1"], noise_var) -> Float[Array, " K"]:
    # eq. (17): all K private streams are interference while decoding s_c.
    K = P.shape[0]
    return P[:, 0] / (jnp.sum(P[:, 1:], axis=1) + _noise(noise_var, K))


def _private_sinr_from_powers(P: Float[Array, "K K+1"], noise_var) -> Float[Array, " K"]:
    # eq. (18): s_c already removed by SIC; other private streams are interference.
    K = P.shape[0]
    # masked sum rather than (total - own): no cancellation when own >> interference
    off = jnp.sum(jnp.where(jnp.eye(K, dtype=bool), 0.0, P[:, 1:]), axis=1)
    return jnp.diagonal(P[:, 1:]) / (off + _noise(noise_var, K))


def _eve_sinr_from_powers(Pg: Float[Array, "M K+1"], noise_var) -> Float[Array, "K M"]:
    # eq. (23): IU m keeps only the common stream (AN) and noise as interference.
    M = Pg.shape[0]
    return (Pg[:, 1:] / (Pg[:, 0] + _noise(noise_var, M))[:, None]).T


def _secrecy_from_powers(P, Pg, noise_lu, noise_iu, c):
    r_c = jnp.min(rate(_common_sinr_from_powers(P, noise_lu)))
    c = common_rate_split(r_c, P.shape[0], c)
    r_k = c + rate(_private_sinr_from_powers(P, noise_lu))
    r_km = rate(_eve_sinr_from_powers(Pg, noise_iu))
    return jnp.sum(jnp.maximum(r_k - jnp.max(r_km, axis=1), 0.0))


# --------------------------------------------------------------------------------------------
# Vector form
# --------------------------------------------------------------------------------------------


def common_sinr(W: Complex[Array, "N K+1"], H: Complex[Array, "K N"], noise_var
                ) -> Float[Array, " K"]:
    """Common-stream SINR at each LU, eq. (17):
    ``gamma_{c,k} = |h_k^H w_c|^2 / (sum_{i=1}^K |h_k^H w_i|^2 + sigma_{n_k}^2)``."""
    return _common_sinr_from_powers(link_powers(W, H), noise_var)


def private_sinr(W: Complex[Array, "N K+1"], H: Complex[Array, "K N"], noise_var
                 ) -> Float[Array, " K"]:
    """Private-stream SINR after SIC of the common stream, eq. (18):
    ``gamma_{p,k} = |h_k^H w_k|^2 / (sum_{i != k} |h_k^H w_i|^2 + sigma_{n_k}^2)``."""
    return _private_sinr_from_powers(link_powers(W, H), noise_var)


def common_rate(W: Complex[Array, "N K+1"], H: Complex[Array, "K N"], noise_var
                ) -> Float[Array, ""]:
    """Common rate decodable by every LU, eq. (20): ``R_c = min_k log2(1 + gamma_{c,k})``."""
    return jnp.min(rate(common_sinr(W, H, noise_var)))


def common_rate_split(r_c: Float[Array, ""], num_users: int, c: Float[Array, " K"] | None = None
                      ) -> Float[Array, " K"]:
    """Common-rate split ``C`` of eq. (21): the given ``c`` or, if ``None``, the equal split
    ``C_k = R_c / K`` (which meets ``sum_k C_k = R_c`` with equality).

    A given ``c`` is returned unchanged (broadcast to ``(K,)``); check it with
    :func:`common_split_feasible`.
    """
    if c is None:
        return jnp.broadcast_to(r_c / num_users, (num_users,))
    return jnp.broadcast_to(jnp.asarray(c), (num_users,))


def common_split_feasible(c: Float[Array, " K"], r_c: Float[Array, ""], atol: float = 1e-9
                          ) -> Bool[Array, ""]:
    """Feasibility of a split, eqs. (21)/(34f)-(34g): ``C_k >= 0`` and ``sum_k C_k <= R_c``
    (both up to ``atol``)."""
    return jnp.logical_and(jnp.all(c >= -atol), jnp.sum(c) <= r_c + atol)


def user_rates(W: Complex[Array, "N K+1"], H: Complex[Array, "K N"], noise_var,
               c: Float[Array, " K"] | None = None) -> Float[Array, " K"]:
    """Achievable rate of each LU, eq. (22): ``R_k = C_k + log2(1 + gamma_{p,k})``.

    ``c=None`` uses the equal split of :func:`common_rate_split`."""
    P = link_powers(W, H)
    r_c = jnp.min(rate(_common_sinr_from_powers(P, noise_var)))
    return common_rate_split(r_c, H.shape[0], c) + rate(_private_sinr_from_powers(P, noise_var))


def eavesdropper_sinr(W: Complex[Array, "N K+1"], G: Complex[Array, "M N"], noise_var
                      ) -> Float[Array, "K M"]:
    """SINR of IU ``m`` eavesdropping on LU ``k``, eq. (23) (common stream = AN, other private
    streams cancelled, worst case):
    ``gamma_{k,m} = |g_m^H w_k|^2 / (|g_m^H w_c|^2 + sigma_{v_m}^2)``. Output ``[k, m]``."""
    return _eve_sinr_from_powers(link_powers(W, G), noise_var)


def eavesdropper_rates(W: Complex[Array, "N K+1"], G: Complex[Array, "M N"], noise_var
                       ) -> Float[Array, "K M"]:
    """Eavesdropping rates ``R_{k,m} = log2(1 + gamma_{k,m})``, eq. (24). Output ``[k, m]``."""
    return rate(eavesdropper_sinr(W, G, noise_var))


def secrecy_rates(W: Complex[Array, "N K+1"], H: Complex[Array, "K N"], G: Complex[Array, "M N"],
                  noise_lu, noise_iu, c: Float[Array, " K"] | None = None) -> Float[Array, " K"]:
    """Per-LU secrecy rate ``[R_k - max_m R_{k,m}]^+`` (the summand of eq. (25))."""
    r_k = user_rates(W, H, noise_lu, c)
    r_km = eavesdropper_rates(W, G, noise_iu)
    return jnp.maximum(r_k - jnp.max(r_km, axis=1), 0.0)


def secrecy_sum_rate(W: Complex[Array, "N K+1"], H: Complex[Array, "K N"],
                     G: Complex[Array, "M N"], noise_lu, noise_iu,
                     c: Float[Array, " K"] | None = None) -> Float[Array, ""]:
    """System secrecy sum-rate of one slot, eq. (25):
    ``R_tot = sum_k [R_k - max_m R_{k,m}]^+`` (bit/s/Hz)."""
    return _secrecy_from_powers(link_powers(W, H), link_powers(W, G), noise_lu, noise_iu, c)


def time_weighted_secrecy_rate(W: Complex[Array, "L N K+1"], H: Complex[Array, "L K N"],
                               G: Complex[Array, "L M N"], t: Float[Array, " L"], period,
                               noise_lu, noise_iu, c: Float[Array, "L K"] | None = None
                               ) -> Float[Array, ""]:
    """Scanning-period objective, eq. (35), evaluated at *given* channels:
    ``(1/T) sum_l t_l sum_k [R_k[l] - max_m R_{k,m}[l]]^+``.

    The paper's (35) takes ``min`` over LU errors and ``max`` over the IU uncertainty set; this
    function evaluates the bracket at the channels passed in (true channels for the achieved
    rate, estimated ones for the nominal design value). ``t`` in s, ``period`` = ``T`` in s.
    ``c=None``: equal split in every slot.
    """
    if c is None:
        per_slot = jax.vmap(lambda w, h, g: secrecy_sum_rate(w, h, g, noise_lu, noise_iu))(W, H, G)
    else:
        per_slot = jax.vmap(lambda w, h, g, cl: secrecy_sum_rate(w, h, g, noise_lu, noise_iu, cl)
                            )(W, H, G, c)
    return jnp.sum(t * per_slot) / period


# --------------------------------------------------------------------------------------------
# SDR form (Wmats[i] = w_i w_i^H, i = 0 common, 1..K private)
# --------------------------------------------------------------------------------------------


def common_sinr_sdr(Wmats: Complex[Array, "K+1 N N"], H: Complex[Array, "K N"], noise_var
                    ) -> Float[Array, " K"]:
    """Eq. (17) in SDR form: ``tr(h_k h_k^H W_c) / (sum_i tr(h_k h_k^H W_i) + sigma^2)``."""
    return _common_sinr_from_powers(link_powers_sdr(Wmats, H), noise_var)


def private_sinr_sdr(Wmats: Complex[Array, "K+1 N N"], H: Complex[Array, "K N"], noise_var
                     ) -> Float[Array, " K"]:
    """Eq. (18) in SDR form."""
    return _private_sinr_from_powers(link_powers_sdr(Wmats, H), noise_var)


def common_rate_sdr(Wmats: Complex[Array, "K+1 N N"], H: Complex[Array, "K N"], noise_var
                    ) -> Float[Array, ""]:
    """Eq. (20) in SDR form."""
    return jnp.min(rate(common_sinr_sdr(Wmats, H, noise_var)))


def user_rates_sdr(Wmats: Complex[Array, "K+1 N N"], H: Complex[Array, "K N"], noise_var,
                   c: Float[Array, " K"] | None = None) -> Float[Array, " K"]:
    """Eq. (22) in SDR form (``c=None``: equal split)."""
    P = link_powers_sdr(Wmats, H)
    r_c = jnp.min(rate(_common_sinr_from_powers(P, noise_var)))
    return common_rate_split(r_c, H.shape[0], c) + rate(_private_sinr_from_powers(P, noise_var))


def eavesdropper_sinr_sdr(Wmats: Complex[Array, "K+1 N N"], G: Complex[Array, "M N"], noise_var
                          ) -> Float[Array, "K M"]:
    """Eq. (23) in SDR form. Output ``[k, m]``."""
    return _eve_sinr_from_powers(link_powers_sdr(Wmats, G), noise_var)


def eavesdropper_rates_sdr(Wmats: Complex[Array, "K+1 N N"], G: Complex[Array, "M N"], noise_var
                           ) -> Float[Array, "K M"]:
    """Eq. (24) in SDR form. Output ``[k, m]``."""
    return rate(eavesdropper_sinr_sdr(Wmats, G, noise_var))


def secrecy_sum_rate_sdr(Wmats: Complex[Array, "K+1 N N"], H: Complex[Array, "K N"],
                         G: Complex[Array, "M N"], noise_lu, noise_iu,
                         c: Float[Array, " K"] | None = None) -> Float[Array, ""]:
    """Eq. (25) in SDR form."""
    return _secrecy_from_powers(link_powers_sdr(Wmats, H), link_powers_sdr(Wmats, G),
                                noise_lu, noise_iu, c)


def time_weighted_secrecy_rate_sdr(Wmats: Complex[Array, "L K+1 N N"], H: Complex[Array, "L K N"],
                                   G: Complex[Array, "L M N"], t: Float[Array, " L"], period,
                                   noise_lu, noise_iu, c: Float[Array, "L K"] | None = None
                                   ) -> Float[Array, ""]:
    """Eq. (35) at given channels, SDR form (see :func:`time_weighted_secrecy_rate`)."""
    if c is None:
        per_slot = jax.vmap(lambda w, h, g: secrecy_sum_rate_sdr(w, h, g, noise_lu, noise_iu)
                            )(Wmats, H, G)
    else:
        per_slot = jax.vmap(
            lambda w, h, g, cl: secrecy_sum_rate_sdr(w, h, g, noise_lu, noise_iu, cl))(Wmats, H, G, c)
    return jnp.sum(t * per_slot) / period


def outer_products(W: Complex[Array, "N S"]) -> Complex[Array, "S N N"]:
    """``Wmats[i] = w_i w_i^H`` for every column of ``W`` (vector -> SDR form)."""
    return jnp.einsum("ni,mi->inm", W, jnp.conj(W))


def transmit_power(W: Complex[Array, "N S"]) -> Float[Array, ""]:
    """Total transmit power ``p = tr(sum_i w_i w_i^H) = ||W||_F^2`` (000 after eq. (28))."""
    return jnp.sum(jnp.real(W) ** 2 + jnp.imag(W) ** 2)


def transmit_power_sdr(Wmats: Complex[Array, "S N N"]) -> Float[Array, ""]:
    """Total transmit power ``p = sum_i tr(W_i)``."""
    return jnp.real(jnp.sum(jnp.trace(Wmats, axis1=-2, axis2=-1)))
