"""AN-aided secrecy metrics of paper 004 (Sec. II-E, eqs. (16)-(22)).

Model: ``x = W s + z_AN``, ``s ~ CN(0, I_K)``, ``z_AN ~ CN(0, R_AN)`` (eq. (16)); receiver j sees
``y_j = h_eff,j^H x + n_j`` with ``h_eff,j = G_SIM^H h_j`` (eqs. (17)-(19)).

Shapes: ``W: (M, K)`` (column k = w_k), ``R_AN: (M, M)`` Hermitian PSD, user channels
``h_eff_users: (K, M)``, eavesdropper channels ``h_eff_eves: (E, M)`` (rows are the column vectors
``h_eff``), noise powers ``sigma2`` scalar or per receiver. Rates in bit/s/Hz.

NaN safety: ``|z|^2`` is computed as ``re^2 + im^2`` (no ``abs``), interference sums mask the
diagonal instead of subtracting it (no negative round-off), noise powers must be > 0 so SINRs
are finite and ``log2(1 + SINR)`` has ``SINR >= 0``; ``[.]^+`` is ``maximum(., 0)``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Complex, Float


def effective_channels(h: Complex[Array, "J N"], g_sim: Complex[Array, "N M"]) -> Complex[Array, "J M"]:
    """``h_eff,j = G_SIM^H h_j`` so that ``h_eff,j^H = h_j^H G_SIM`` (004 eqs. (17)-(18))."""
    return jnp.conj(jnp.conj(h) @ g_sim)


def _abs2(z):
    return jnp.real(z) ** 2 + jnp.imag(z) ** 2


def _sinr_matrix(h_eff: Complex[Array, "J M"], w: Complex[Array, "M K"], r_an: Complex[Array, "M M"], sigma2
                 ) -> Float[Array, "J K"]:
    """``[j, k]``: SINR at receiver j for stream k, all other streams + AN + noise as interference."""
    g = _abs2(jnp.conj(h_eff) @ w)  # (J, K): |h_j^H w_k|^2
    total = jnp.sum(g, axis=1)  # (J,)
    an = jnp.real(jnp.einsum("jm,mn,jn->j", jnp.conj(h_eff), r_an, h_eff))
    an = jnp.maximum(an, 0.0)  # PSD R_AN; clamps round-off only
    sigma2 = jnp.broadcast_to(jnp.asarray(sigma2, g.dtype), total.shape)
    # interference for stream k: total - g[:, k], written as a masked sum to stay >= 0 exactly
    k = w.shape[1]
    off = 1.0 - jnp.eye(k, dtype=g.dtype)
    interf = g @ off  # [j, k] = sum_{i != k} g[j, i]
    return g / (interf + an[:, None] + sigma2[:, None])


def user_sinr(h_eff_users: Complex[Array, "K M"], w: Complex[Array, "M K"], r_an: Complex[Array, "M M"],
              sigma2) -> Float[Array, " K"]:
    """``SINR_k`` of eq. (20): user k decodes stream k."""
    return jnp.diagonal(_sinr_matrix(h_eff_users, w, r_an, sigma2))


def eve_sinr(h_eff_eves: Complex[Array, "E M"], w: Complex[Array, "M K"], r_an: Complex[Array, "M M"],
             sigma2) -> Float[Array, "E K"]:
    """``SINR_e^(k)`` of eq. (21): ``[e, k]`` = eavesdropper e decoding user k's stream."""
    return _sinr_matrix(h_eff_eves, w, r_an, sigma2)


def secrecy_rates(
    h_eff_users: Complex[Array, "K M"],
    h_eff_eves: Complex[Array, "E M"],
    w: Complex[Array, "M K"],
    r_an: Complex[Array, "M M"],
    sigma2_users,
    sigma2_eves,
) -> Float[Array, " K"]:
    """``R_k^sec = [log2(1 + SINR_k) - max_e log2(1 + SINR_e^(k))]^+`` (004 eq. (22))."""
    r_user = jnp.log2(1.0 + user_sinr(h_eff_users, w, r_an, sigma2_users))
    r_eve = jnp.max(jnp.log2(1.0 + eve_sinr(h_eff_eves, w, r_an, sigma2_eves)), axis=0)
    return jnp.maximum(r_user - r_eve, 0.0)


def sum_secrecy_rate(h_eff_users, h_eff_eves, w, r_an, sigma2_users, sigma2_eves) -> Float[Array, ""]:
    """``sum_k R_k^sec`` (the secrecy term of 004 eq. (23)/(24))."""
    return jnp.sum(secrecy_rates(h_eff_users, h_eff_eves, w, r_an, sigma2_users, sigma2_eves))
