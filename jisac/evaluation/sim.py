"""Metrics and Monte-Carlo certificate of a paper-004 design.

Evaluation uses the Rician inter-layer model of 004 eq. (10) (``h_inter_eval``), as the paper
prescribes for simulation; ``*_design_model`` metrics repeat the secrecy rate on the LoS design
model (9) so the gap between the two is visible.

Sensing (``docs/derivations/sim_sensing.md``): orthogonal probing ``X`` (M x T_s) of power
``P_sense`` through ``G_SIM(theta_sense)``; the T_s snapshots span the sensing window
``tau_sense T_slot`` (the paper's ``t in [0, T_sense]`` of eq. (12)), so the Doppler CRB
tightens with sensing time. ``CRB_total`` = eq. (15) over ``[theta, r, v]`` with RCS and the
echo phase eliminated by the Schur complement (28).

Figure metrics (per drop; definitions in ``docs/reproduction.md`` and
``docs/derivations/sim_lbcd.md``, "Figure metrics"):

* 004 Fig. 7 (:func:`evaluate_sim`): ``schur_crb_rel_error`` / ``schur_crb_rel_error_bound``,
  one value per parameter ``[theta, r, v, rcs]`` (Thm. 5, :func:`jisac.metrics.crb.thm5_param_errors`);
* 004 Fig. 3 (:func:`certify_sim`, same draws as the certificate): ``outage_secrecy_rate`` and the
  worst-case-CSI bound ``outage_secrecy_rate_bound``;
* 004 Fig. 9 (:func:`phase_loss_metrics`): ``phase_loss_secrecy``, ``phase_loss_sensing``,
  ``phase_loss_bound`` (%).

Coupling spread (:func:`coupling_certificate`, ``certificate[i]["coupling"]`` of a job): the
certificate holds at the drop's one realisation of (10); the design re-evaluated at fresh
realisations says how typical that is (pass rate, mean outage).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..certify.monte_carlo import mc_samples
from ..certify.stats import binomial_estimate
from ..designs.sim import SimDesign
from ..hardware.sim import quantize_phases, sim_cascade
from ..metrics import sim_secrecy
from ..metrics.crb import (orthogonal_probing, sim_crb_total_from_fims, sim_target_fims,
                           thm5_param_errors)
from ..scenarios import SimScenario
from ..systems.sim import SimSystem, sensing_model_kw


def _eff(H, G):
    """Rows ``h_eff = G^H h`` (004 eqs. (17)-(18)) for receivers ``H (J, N)``."""
    return H @ jnp.conj(G)


CRB_IDX = (0, 1, 2)            # CRB_total: [theta, r, v]; rcs and the echo phase eliminated (28)
FIG7_IDX = (0, 1, 2, 3)        # 004 Fig. 7 / Sec. III-B's xi = [theta, r, v, rcs]; nuisance: phase


def sensing_fims(system: SimSystem, design: SimDesign, s: SimScenario, model: str = "eval"):
    """Per-target 5x5 FIMs ``(T, 5, 5)`` of the sensing phase of ``design``: ``G_SIM(theta_sense)``
    on the Rician (``"eval"``, eq. (10)) or LoS (``"design"``, eq. (9)) inter-layer model,
    orthogonal probing of power ``P_sense``, ``T_s`` snapshots over ``tau_sense T_slot``, the
    scenario's sensing model (:func:`jisac.systems.sim.sensing_model_kw`). The one FIM behind
    ``crb_total`` and the Thm.-5 figures/diagnostics."""
    h_inter = {"eval": system.h_inter_eval, "design": system.h_inter}[model]
    G = sim_cascade(design.theta_sense, system.h1, h_inter)
    n_s = s.sensing_snapshots
    X = orthogonal_probing(system.h1.shape[1], n_s, design.p_sense, dtype=G.dtype)
    dt_sample = design.tau[1] * s.t_slot / n_s
    return sim_target_fims(system.targets, G, X, system.positions, s.wavelength, dt_sample,
                           s.noise, **sensing_model_kw(s))


def schur_crb_errors(fims) -> dict:
    """004 Fig. 7 metrics from the per-target FIMs, per parameter ``[theta, r, v, rcs]``
    (interest block ``FIG7_IDX``, nuisance: the echo phase), aggregated over targets as eq. (15)
    sums CRBs over targets:

    * ``schur_crb_rel_error[i] = sum_t e_t,i / sum_t [J_t^{-1}]_ii`` -- relative error of the
      decoupled CRB ``[J11^{-1}]_ii`` (nuisance treated as known; what Thm. 5 bounds) against the
      exact CRB ``[J^{-1}]_ii`` (inverse of the full 5x5 FIM);
    * ``schur_crb_rel_error_bound[i] = sum_t b_t,i / sum_t [J_t,11^{-1}]_ii`` with ``b_t,i`` the
      Thm.-5 bound on ``e_t,i`` (:func:`jisac.metrics.crb.thm5_param_errors`);
    * ``schur_crb_identity_residual = max_i |sum_t [J_LB,t^{-1}]_ii - sum_t [J_t^{-1}]_ii| /
      sum_t [J_t^{-1}]_ii``: the Schur complement (28) reproduces the exact CRB (round-off only).
    """
    pe = jax.vmap(lambda J: thm5_param_errors(J, FIG7_IDX))(fims)
    crb = jnp.sum(pe["crb"], axis=0)
    return {
        "schur_crb_rel_error": jnp.sum(pe["err"], axis=0) / crb,
        "schur_crb_rel_error_bound": jnp.sum(pe["bound"], axis=0) / jnp.sum(pe["decoupled"], axis=0),
        "schur_crb_identity_residual": jnp.max(jnp.abs(jnp.sum(pe["schur"], axis=0) - crb) / crb),
    }


def evaluate_sim(system: SimSystem, design: SimDesign, s: SimScenario) -> dict:
    """Metrics of one drop (pure)."""
    W = design.W
    G_eval = sim_cascade(design.theta_comm, system.h1, system.h_inter_eval)
    G_dsgn = sim_cascade(design.theta_comm, system.h1, system.h_inter)

    def secrecy(G):
        hu, he = _eff(system.H_users, G), _eff(system.H_eves, G)
        return (sim_secrecy.secrecy_rates(hu, he, W, design.R_AN, s.noise, s.noise_eve),
                sim_secrecy.user_sinr(hu, W, design.R_AN, s.noise))

    sec, sinr = secrecy(G_eval)
    sec_d, _ = secrecy(G_dsgn)
    fims = sensing_fims(system, design, s, "eval")
    crb = sim_crb_total_from_fims(fims, CRB_IDX)
    p_comm = jnp.real(jnp.trace(W @ jnp.conj(W.T))) + jnp.real(jnp.trace(design.R_AN))
    energy = s.t_slot * (design.tau[1] * design.p_sense + design.tau[2] * p_comm)
    return {
        "sum_secrecy_rate": jnp.sum(sec),
        "secrecy_rate": sec,
        "sum_secrecy_rate_design_model": jnp.sum(sec_d),
        "user_sinr_db": 10.0 * jnp.log10(sinr),
        "crb_total": crb,
        "tau": design.tau,
        "p_sense_w": design.p_sense,
        "p_comm_w": p_comm,
        "energy_j": energy,
        "energy_excess_j": energy - s.energy_budget,
        "time_excess": jnp.sum(design.tau) - s.phase_time,
        "power_excess_w": jnp.maximum(p_comm, design.p_sense) - s.p_bs_max,
        "rf_unit_modulus_error": jnp.max(jnp.abs(jnp.abs(design.W_RF) - 1.0)),
        **schur_crb_errors(fims),
    }


def outage_rank(eps: float, n: int) -> int:
    """0-based index ``m = floor(eps n)`` of the eps-outage order statistic of ``n`` samples
    (``eps`` read as the decimal it prints as, so ``0.29 * 100`` gives 29, not 28)."""
    return int(math.floor(Fraction(repr(float(eps))) * int(n)))


def outage_quantile(samples, eps: float):
    """eps-outage value of each column of ``samples (n, ...)``: the largest ``R`` with
    ``#{x_i < R} / n <= eps`` (the empirical ``Pr{X < R} <= eps``), i.e. the order statistic
    ``x_(m+1)``, ``m = floor(eps n)`` (ties included). Pure JAX."""
    x = jnp.sort(jnp.asarray(samples), axis=0)
    return x[outage_rank(eps, x.shape[0])]


def worst_case_user_sinr(hu, W, R, noise, radius):
    """Lower bound on ``SINR_k`` (20) over the CSI-error ball ``||dh_k|| <= radius_k`` of eq. (7):

        SINR_k >= [|h_k^H w_k| - eps_k ||w_k||]_+^2 / ((sqrt(h_k^H Q_k h_k) + eps_k sqrt(lambda_max(Q_k)))^2 + sigma^2),
        Q_k = sum_{j != k} w_j w_j^H + R_AN,

    from ``|(h + dh)^H w_k| >= |h^H w_k| - ||dh|| ||w_k||`` and
    ``||Q_k^{1/2} (h + dh)|| <= ||Q_k^{1/2} h|| + ||dh|| ||Q_k||_2^{1/2}`` (triangle inequality).
    Equals the nominal SINR at ``radius = 0``. ``hu (K, M)`` rows ``h_eff``."""
    K = W.shape[1]
    rdt = jnp.real(W).dtype
    a = jnp.abs(jnp.sum(jnp.conj(hu) * W.T, axis=1))                           # |h_k^H w_k|
    nw = jnp.linalg.norm(W, axis=0)
    off = 1.0 - jnp.eye(K, dtype=rdt)
    Q = jnp.einsum("mj,kj,nj->kmn", W, off, jnp.conj(W)) + R[None]             # (K, M, M)
    Q = 0.5 * (Q + jnp.conj(jnp.swapaxes(Q, 1, 2)))
    c = jnp.sqrt(jnp.maximum(jnp.real(jnp.einsum("km,kmn,kn->k", jnp.conj(hu), Q, hu)), 0.0))
    lam = jnp.maximum(jnp.linalg.eigvalsh(Q)[:, -1], 0.0)
    num = jnp.maximum(a - radius * nw, 0.0) ** 2
    return num / ((c + radius * jnp.sqrt(lam)) ** 2 + noise)


def secrecy_draw_model(system: SimSystem, design: SimDesign, s: SimScenario, G):
    """The certificate's uncertainty model for cascade ``G``: ``(draw, hu, eps)`` with
    ``draw(key) -> (R_k^sec (K,), max_e log2(1 + SINR_e^(k)) (K,))`` for one realisation (each
    eavesdropper's channel ``+ CN(0, eve_error_std^2 ||h_e||^2 / N I)``, each user's effective
    channel ``+`` an error uniform in the ball ``||dh|| <= eps_k = csi_error_bound ||h_eff,k||``),
    ``hu (K, M)`` the nominal effective user channels and ``eps (K,)`` the ball radii."""
    W, R = design.W, design.R_AN
    hu, He = _eff(system.H_users, G), system.H_eves
    K, E, N = hu.shape[0], He.shape[0], He.shape[1]
    M = hu.shape[1]
    eve_std = s.eve_error_std * jnp.linalg.norm(He, axis=1) / np.sqrt(N)      # (E,)
    eps = s.csi_error_bound * jnp.linalg.norm(hu, axis=1)                      # (K,)
    rdt = jnp.real(W).dtype

    def cn(k, shape):
        z = jax.random.normal(k, shape + (2,), rdt)
        return (z[..., 0] + 1j * z[..., 1]) / np.sqrt(2.0)

    def draw(k):
        k1, k2, k3 = jax.random.split(k, 3)
        he = He + eve_std[:, None] * cn(k1, (E, N))
        d = cn(k2, (K, M))
        r = eps * jax.random.uniform(k3, (K,), rdt) ** (1.0 / (2 * M))
        hu_t = hu + (r / jnp.linalg.norm(d, axis=1))[:, None] * d
        he_eff = _eff(he, G)
        sec = sim_secrecy.secrecy_rates(hu_t, he_eff, W, R, s.noise, s.noise_eve)
        r_eve = jnp.max(jnp.log2(1.0 + sim_secrecy.eve_sinr(he_eff, W, R, s.noise_eve)), axis=0)
        return sec, r_eve

    return draw, hu, eps


def certify_sim(system: SimSystem, design: SimDesign, s: SimScenario, key, *, n_draws: int,
                chunk: int) -> dict:
    """Empirical secrecy outage ``Pr{R_k^sec < R_min}`` (004 eq. (11)) per user, 95 % Wilson CIs.

    Uncertainty drawn per realisation: each eavesdropper's SIM->eve channel gets
    ``CN(0, (eve_error_std^2 ||h_e||^2 / N) I)`` (probabilistic eavesdropper errors, Sec. II-C),
    and each user's effective channel an error uniform in the ball
    ``||dh|| <= csi_error_bound ||h_eff,k||`` (eq. (7)). Certified when the upper limit is below
    ``eps_out``.

    From the same draws, 004 Fig. 3 (``drop_metrics``, moved into ``drops[i]`` by the job):
    ``outage_secrecy_rate_per_user[k]`` = eps_out-outage secrecy rate of user k (largest ``R`` with
    empirical ``Pr{R_k^sec < R} <= eps_out``, :func:`outage_quantile`), ``outage_secrecy_rate`` =
    their sum (bit/s/Hz); ``outage_secrecy_rate_bound(_per_user)``: the same quantiles of
    ``[log2(1 + SINR_k^wc) - max_e log2(1 + SINR_e^(k))]^+`` with the worst-case user SINR over
    the whole error ball (:func:`worst_case_user_sinr`) and the *same* eavesdropper draws -- a
    sample-wise lower bound of ``R_k^sec``, hence of its quantile, equal to it at
    ``csi_error_bound = 0`` (``docs/derivations/sim_lbcd.md``, "Figure metrics").
    """
    W, R = design.W, design.R_AN
    G = sim_cascade(design.theta_comm, system.h1, system.h_inter_eval)
    secrecy_draw, hu, eps = secrecy_draw_model(system, design, s, G)
    r_wc = jnp.log2(1.0 + worst_case_user_sinr(hu, W, R, s.noise, eps))        # (K,)

    def draw(k):
        sec, r_eve = secrecy_draw(k)
        return sec, jnp.maximum(r_wc - r_eve, 0.0)

    sec, sec_lb = mc_samples(draw, key, n_draws, chunk)                       # (n_draws, K) each
    est = binomial_estimate(jnp.sum(sec < s.r_min, axis=0, dtype=jnp.int32), n_draws, 0.95)
    hi = np.asarray(est.hi)
    q = np.asarray(outage_quantile(sec, s.eps_out), np.float64)
    q_lb = np.asarray(outage_quantile(sec_lb, s.eps_out), np.float64)
    return {
        "n_draws": n_draws,
        "confidence": 0.95,
        "secrecy_outage": np.asarray(est.p_hat).tolist(),
        "secrecy_outage_ci": [np.asarray(est.lo).tolist(), hi.tolist()],
        "eps_out": s.eps_out,
        "certified": bool(np.all(hi <= s.eps_out)),
        "drop_metrics": {
            "outage_secrecy_rate": float(np.sum(q)),
            "outage_secrecy_rate_per_user": q.tolist(),
            "outage_secrecy_rate_bound": float(np.sum(q_lb)),
            "outage_secrecy_rate_bound_per_user": q_lb.tolist(),
        },
    }


#: realisations of the Rician inter-layer model (10), and draws per realisation, with which a
#: job re-evaluates each certified design (``certificate[i]["coupling"]``)
COUPLING_REALISATIONS = 32
COUPLING_DRAWS = 4096


@functools.partial(jax.jit, static_argnames=("s", "n_draws", "chunk"))
def coupling_outages(system: SimSystem, design: SimDesign, s: SimScenario, h_inter_stack, key,
                     *, n_draws: int, chunk: int):
    """Secrecy outage ``Pr{R_k^sec < R_min}`` per user of ``design`` under each inter-layer
    coupling ``h_inter_stack[c] (L-1, N, N)`` in place of the drop's ``h_inter_eval``: ``(C, K)``
    empirical probabilities, ``n_draws`` draws each of :func:`certify_sim`'s uncertainty model.
    Realisation ``c`` draws with key ``fold_in(key, c)``, so for the drop's own coupling at
    ``c = 0`` row 0 counts the draws of ``certify_sim`` with key ``fold_in(key, 0)``. Pure JAX,
    jitted."""
    from ..certify.monte_carlo import draw_keys, scan_counts

    def one(args):
        h, k = args
        G = sim_cascade(design.theta_comm, system.h1, h)
        secrecy_draw, hu, _ = secrecy_draw_model(system, design, s, G)
        counts = scan_counts(
            lambda start, size: jax.vmap(lambda kk: secrecy_draw(kk)[0] < s.r_min)(
                draw_keys(k, start, size)), n_draws, chunk, (hu.shape[0],))
        return counts / n_draws

    keys = jax.vmap(lambda c: jax.random.fold_in(key, c))(jnp.arange(h_inter_stack.shape[0]))
    return jax.lax.map(one, (h_inter_stack, keys))


def coupling_certificate(system: SimSystem, design: SimDesign, s: SimScenario, key, *,
                         n_couplings: int = COUPLING_REALISATIONS, n_draws: int = COUPLING_DRAWS,
                         chunk: int = COUPLING_DRAWS) -> dict:
    """How much a one-drop certificate owes to that drop's inter-layer coupling.

    The certificate (:func:`certify_sim`) evaluates the design at *one* realisation of the
    Rician inter-layer model (10), the drop's ``h_inter_eval``; the design itself only saw the
    LoS model (9). Here ``n_couplings`` fresh realisations of (10) around the design model's
    ``h_inter`` (the law ``realize_sim_drops`` draws ``h_inter_eval`` from,
    :func:`jisac.channels.sim_coupling.rician_coupling`) are each evaluated on ``n_draws`` draws
    of the same CSI-error model. Returns

    * ``outage_mean`` (K,): per-user outage averaged over the realisations (what a design can
      expect over drops of the coupling);
    * ``pass_rate`` with a 95 % Wilson interval ``pass_rate_ci``: the fraction of realisations at
      which ``max_k P_k <= eps_out`` (point estimates; ``n_draws`` sets their resolution, a
      standard error of ``sqrt(eps_out (1 - eps_out) / n_draws)`` ~ 0.005 at 4096 draws);
    * ``max_outage_quantiles``: the 10/50/90 % quantiles of ``max_k P_k`` over realisations.

    One layer (no inter-layer link) or an infinite K-factor: every realisation is the LoS one.
    """
    from ..channels.sim_coupling import rician_coupling

    k_h, k_mc = jax.random.split(key)
    kappa = s.interlayer_rician_k / (1.0 + s.interlayer_rician_k)
    stack = jax.vmap(lambda k: rician_coupling(k, system.h_inter, kappa))(
        jax.random.split(k_h, n_couplings))
    p = np.asarray(coupling_outages(system, design, s, stack, k_mc, n_draws=n_draws,
                                    chunk=min(chunk, n_draws)), np.float64)         # (C, K)
    worst = p.max(axis=1)
    n_pass = int(np.sum(worst <= s.eps_out))
    est = binomial_estimate(jnp.asarray(n_pass), n_couplings, 0.95)
    return {
        "n_couplings": n_couplings,
        "n_draws": n_draws,
        "outage_mean": p.mean(axis=0).tolist(),
        "pass_rate": n_pass / n_couplings,
        "pass_rate_ci": [float(est.lo), float(est.hi)],
        "max_outage_quantiles": np.quantile(worst, [0.1, 0.5, 0.9]).tolist(),
    }


# ----------------------------------------------------------------------------------------------
# 004 Fig. 9: loss of the discretised phases against the continuous design
# ----------------------------------------------------------------------------------------------

_PHASE_FIELDS = ("theta_comm", "theta_sense", "theta_ce")


def project_phases(design: SimDesign, bits) -> SimDesign:
    """``design`` with all three phase sets projected onto the ``bits``-bit grid (eq. (31))."""
    return eqx.tree_at(lambda d: (d.theta_comm, d.theta_sense, d.theta_ce), design,
                       tuple(quantize_phases(getattr(design, f), bits) for f in _PHASE_FIELDS))


@functools.lru_cache(maxsize=16)
def _phase_loss_kernels(s: SimScenario):
    """Jitted per scenario: the evaluator and, vmapped over box points, the value and gradient of
    ``sum_secrecy_rate`` w.r.t. ``theta_comm`` and of ``crb_total`` w.r.t. ``theta_sense`` --
    both through :func:`evaluate_sim` itself."""
    def f_sec(tc, system, design):
        return evaluate_sim(system, eqx.tree_at(lambda d: d.theta_comm, design, tc), s)["sum_secrecy_rate"]

    def f_crb(ts, system, design):
        return evaluate_sim(system, eqx.tree_at(lambda d: d.theta_sense, design, ts), s)["crb_total"]

    def vg(f):
        return jax.jit(jax.vmap(jax.value_and_grad(f), in_axes=(0, None, None)))

    def ev(system, design):
        m = evaluate_sim(system, design, s)
        return m["sum_secrecy_rate"], m["crb_total"]

    return jax.jit(ev), vg(f_sec), vg(f_crb)


def _box_bound(vg, theta_c, theta_q, bits, system, design, key, n_segment, n_random):
    """Prop. 3 (corrected, mean-value form) for one metric ``f`` of one phase set:
    ``|f(theta_q) - f(theta_c)| <= sup_{xi in B} sum_i h_i |df/dtheta_i (xi)|``, ``B`` the box of
    half-widths ``h_i = max(pi / 2^b, |Delta_i|)`` around ``theta_c`` (``Delta = wrap(theta_q -
    theta_c)``; ``h_i = pi/2^b`` for a plain projection (31), larger only for elements the local
    search (32) moved further). The sup is estimated on ``n_segment`` points of the segment
    ``[theta_c, theta_c + Delta]`` (which holds the mean-value point), ``n_random`` uniform points
    and ``n_random`` random corners of ``B``. Returns ``(bound, f(theta_c))``."""
    rdt = theta_c.dtype
    delta = jnp.angle(jnp.exp(1j * (theta_q - theta_c)))
    b = jnp.asarray(bits, rdt)
    b = b[:, None] if b.ndim == 1 else b                                     # per-layer bits (L,)
    half = jnp.maximum(jnp.pi / 2.0 ** b, jnp.abs(delta))
    t = jnp.linspace(0.0, 1.0, n_segment, dtype=rdt)
    k1, k2 = jax.random.split(key)
    u = jax.random.uniform(k1, (n_random,) + theta_c.shape, rdt, -1.0, 1.0)
    c = jnp.where(jax.random.bernoulli(k2, 0.5, (n_random,) + theta_c.shape), 1.0, -1.0).astype(rdt)
    pts = jnp.concatenate([theta_c[None] + t[:, None, None] * delta[None],
                           theta_c[None] + u * half[None], theta_c[None] + c * half[None]])
    vals, grads = vg(pts, system, design)
    return float(jnp.max(jnp.sum(jnp.abs(grads) * half[None], axis=(1, 2)))), float(vals[0])


def _pct(num, den):
    v = 100.0 * num / den
    return float(v) if math.isfinite(v) else None


def phase_loss_metrics(system: SimSystem, design_c: SimDesign, design_q: SimDesign,
                       s: SimScenario, *, bits=None, key=None, source: str = "",
                       n_segment: int = 9, n_random: int = 8) -> dict:
    """004 Fig. 9 for one drop: loss of the discretised design ``design_q`` against the continuous
    design ``design_c`` it came from, both evaluated by :func:`evaluate_sim` (Rician model):

    * ``phase_loss_secrecy = 100 (R_c - R_q) / R_c`` [%], ``R`` = ``sum_secrecy_rate``;
    * ``phase_loss_sensing = 100 (CRB_q - CRB_c) / CRB_c`` [%], ``CRB`` = ``crb_total``
      (both signed: negative = the discrete design is better);
    * ``phase_loss_bound_secrecy`` / ``_sensing``: Prop. 3 (eq. (55), corrected to its valid
      mean-value form, :func:`_box_bound`) for that metric, in % of the continuous value;
      ``phase_loss_bound`` = the larger of the two (one dashed line above both curves).

    Undefined values (zero continuous secrecy rate, non-finite CRB, non-phase fields that differ)
    are ``None`` with a ``*_reason``. ``bits`` default ``s.phase_bits``; ``key`` (box samples)
    default ``PRNGKey(0)``.
    """
    bits = s.phase_bits if bits is None else bits
    key = jax.random.PRNGKey(0) if key is None else key
    ev, vg_sec, vg_crb = _phase_loss_kernels(s)
    r_c, crb_c = (float(x) for x in ev(system, design_c))
    r_q, crb_q = (float(x) for x in ev(system, design_q))
    out: dict = {"phase_loss_source": source, "phase_loss_secrecy_continuous": r_c,
                 "phase_loss_secrecy_discrete": r_q, "phase_loss_crb_continuous": crb_c,
                 "phase_loss_crb_discrete": crb_q}
    ok_r = math.isfinite(r_c) and r_c > 0 and math.isfinite(r_q)
    ok_c = math.isfinite(crb_c) and crb_c > 0 and math.isfinite(crb_q)
    out["phase_loss_secrecy"] = _pct(r_c - r_q, r_c) if ok_r else None
    if out["phase_loss_secrecy"] is None:
        out["phase_loss_secrecy_reason"] = f"continuous sum secrecy rate {r_c:.3g} (relative loss undefined)"
    out["phase_loss_sensing"] = _pct(crb_q - crb_c, crb_c) if ok_c else None
    if out["phase_loss_sensing"] is None:
        out["phase_loss_sensing_reason"] = f"continuous CRB_total {crb_c:.3g} (relative loss undefined)"
    same = all(np.array_equal(np.asarray(getattr(design_c, f)), np.asarray(getattr(design_q, f)))
               for f in ("W_RF", "W_BB", "R_AN", "tau", "p_sense", "p_comm"))
    k1, k2 = jax.random.split(key)
    for name, ok, vg, field, key_i in (("secrecy", ok_r, vg_sec, "theta_comm", k1),
                                        ("sensing", ok_c, vg_crb, "theta_sense", k2)):
        col = f"phase_loss_bound_{name}"
        if not same:
            out[col], out[col + "_reason"] = None, ("non-phase design fields differ between the "
                                                    "continuous and the discrete design")
            continue
        if not ok:
            out[col], out[col + "_reason"] = None, out[f"phase_loss_{name}_reason"]
            continue
        b, f0 = _box_bound(vg, getattr(design_c, field), getattr(design_q, field), bits, system,
                           design_c, key_i, n_segment, n_random)
        out[col] = _pct(b, abs(f0))
        if out[col] is None:
            out[col + "_reason"] = "non-finite gradient of the metric on the quantisation box"
    bounds = [out[c] for c in ("phase_loss_bound_secrecy", "phase_loss_bound_sensing")
              if out[c] is not None]
    out["phase_loss_bound"] = max(bounds) if bounds else None
    if not bounds:
        out["phase_loss_bound_reason"] = "neither per-metric bound is defined"
    return out


_FINITE_KEYS = ("schur_crb_rel_error", "schur_crb_rel_error_bound", "schur_crb_identity_residual",
                "outage_secrecy_rate", "outage_secrecy_rate_bound")


def null_nonfinite(drop: dict) -> dict:
    """JSON drop dict: non-finite entries of the figure metrics become ``None`` (element-wise in
    lists) with a ``<key>_reason`` -- never a made-up number. In place; returns ``drop``."""
    for k in _FINITE_KEYS:
        if k not in drop:
            continue
        v = drop[k]
        if isinstance(v, list):
            bad = [not (isinstance(x, (int, float)) and math.isfinite(x)) for x in v]
            if any(bad):
                drop[k] = [None if b else x for x, b in zip(v, bad)]
                drop[k + "_reason"] = (f"non-finite at index {[i for i, b in enumerate(bad) if b]}"
                                       " (numerically singular FIM, e.g. an unilluminated target)")
        elif not (isinstance(v, (int, float)) and math.isfinite(v)):
            drop[k] = None
            drop[k + "_reason"] = "non-finite value"
    return drop
