"""One job: realise the scenario, design with the chosen scheme, evaluate, certify.

``run_job(job) -> JobResult`` is the library side of ``python -m experiments.sweep``; it does
no file I/O (the experiments layer writes the run directory). The ``n_drops`` random channel
drops of a job are realised, designed and evaluated as one ``vmap`` where the scheme allows;
certification runs drop by drop (each already a batched Monte-Carlo kernel).

``metrics`` layout (``docs/run_directory.md``): scalar summaries are means over drops, the
``drops`` list holds every drop's full metric dict, ``certificate`` a list with one entry per
drop, plus ``status`` (worst status over drops), ``iterations``, ``objective_history``,
``solver_status``, ``job_seed``, ``design_seed``, ``drops_seed``; per drop, the solver's own
record under ``lbcd`` (paper 004's L-BCD family) or ``tris`` (paper 000's schemes).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from .config import JobConfig
from .io import to_jsonable
from .progress import reporting
from .schemes import design_function


# Statuses of a usable design (the one list for exit codes, reports and figures). A scheme
# that stops at its iteration cap still returns a valid, feasible design ("max_iterations"); so
# does an L-BCD run stopped by repeated block failures ("block_failure": its best iterate; the
# driver accepts no output that breaks (23a)-(23e), (23i) and the start meets them; whether it
# meets the outage target (11) is the certificate's verdict, drawn as "not certified").
# Anything else -- "infeasible", "solver_error", "error: ..." -- is a failed point.
OK_STATUSES = ("optimal", "optimal_inaccurate", "closed_form", "converged", "max_iterations",
               "block_failure")


@dataclass
class JobResult:
    metrics: dict[str, Any]                 # JSON-serialisable; always has "status"
    design: dict[str, np.ndarray]           # arrays saved to design.npz (docs/run_directory.md)
    log: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.metrics.get("status", "unknown"))


_INFO_KEYS = ("status", "solver_status", "iterations", "objective_history", "details", "system",
              "scenario", "drops")


# per-drop keys of the TRIS solvers already at the top level of metrics.json
_TRIS_TOP = ("solver_status", "objective_history")


def _tris_solve_records(info: dict) -> list[dict]:
    """Per drop, the TRIS solver's own record (Algorithm 1: timings, rank-1 report per slot,
    ``infeasible_reason``, objective before/after rank-1; baselines: their per-drop info), with
    the keys already at the top level (``solver_status``, ``objective_history``) left out."""
    recs = info.get("drops") or info.get("details") or []
    return [to_jsonable({k: v for k, v in r.items() if k not in _TRIS_TOP and _jsonable(v)})
            for r in recs if isinstance(r, dict)]


def _jsonable(v) -> bool:
    try:
        to_jsonable(v)
        return True
    except TypeError:
        return False


def _drop(tree, i):
    return jax.tree_util.tree_map(lambda x: x[i], tree)


def _number(v) -> bool:
    return isinstance(v, (bool, int, float, np.number)) or (isinstance(v, np.ndarray) and v.ndim == 0)


def _summary(per_drop: list[dict]) -> dict:
    """Means over drops of every numeric scalar metric (``None`` when some drop has ``None``:
    an undefined value, see its ``*_reason``); strings and lists are per-drop only."""
    out = {}
    for k in per_drop[0]:
        vals = [d.get(k) for d in per_drop]
        if all(v is None or _number(v) for v in vals) and any(v is not None for v in vals):
            out[k] = (None if any(v is None for v in vals)
                      else float(np.mean([float(v) for v in vals])))
    return out


def _sim_phase_losses(system, design, s, info: dict, drops: list[dict]) -> None:
    """004 Fig. 9 per drop (``jisac.evaluation.sim.phase_loss_metrics``): the L-BCD family keeps
    the continuous iterate it discretised (``details[i]["design_continuous"]``) and, when the
    outage polish changed the beams afterwards, the design before it
    (``details[i]["design_discrete"]``); any other scheme,
    or one that skipped the discretisation phase, is compared with its own phases projected onto
    ``s.phase_bits`` bits (eq. (31))."""
    from .evaluation.sim import phase_loss_metrics, project_phases

    details = info.get("details") or [{}] * len(drops)
    for i, det in enumerate(details):
        d_i = _drop(design, i)
        disc = str(det.get("discretization", {}).get("status", "skipped"))
        if det.get("design_continuous") is not None and disc not in ("skipped",) \
                and not disc.startswith("error"):
            # after an accepted outage polish (B, D re-run on the grid phases) the returned
            # design differs in W, R_AN, tau, powers too: the loss of the phase rounding itself
            # is measured on the design before it (``design_discrete``)
            d_c, src = det["design_continuous"], "lbcd_discretization"
            d_q = det.get("design_discrete", d_i)
        else:
            d_c, d_q, src = d_i, project_phases(d_i, s.phase_bits), "projection"
        drops[i].update(to_jsonable(phase_loss_metrics(
            _drop(system, i), d_c, d_q, s, key=jax.random.fold_in(jax.random.PRNGKey(0), i),
            source=src)))


def _pipeline(job: JobConfig):
    s = job.scenario
    if s.kind == "tris_rsma":
        from .evaluation.tris import certify_tris, evaluate_tris
        from .systems.tris import realize_tris_drops

        def certify(sys_i, des_i, k):
            cert = certify_tris(sys_i, des_i, s, k, n_draws=job.mc_draws, chunk=job.mc_chunk)
            if job.scheme.name in ("rsma", "trsma", "perfect_csi"):
                # worst case over the bounded sets vs the S-procedure bounds, detection at
                # sampled true distances, constraint residuals (always against the TRUE error
                # sets, so perfect_csi shows what ignoring them costs)
                from .evaluation.tris_robust import robust_certificate
                cert["robust"] = robust_certificate(
                    sys_i, des_i, s, jax.random.fold_in(k, 1), robust=True,
                    detection=job.scheme.detection, power=job.scheme.power)
            return cert

        def design_arrays(system, design):
            return {"W": design.W, "t": design.t, "C": design.C, "H_hat": system.H_hat,
                    "G_hat": system.G_hat, "g_scale": system.g_scale,
                    "lu_sigma2": system.lu_sigma2, "iu_sigma2": system.iu_sigma2,
                    "lu_eps": system.lu_eps, "tau": system.tau}

        an_schemes = ("zf_an", "sdp_an", "sdma_an", "noma_an")
        if job.scheme.name in an_schemes:
            # AN baselines: private beams + full-rank AN covariance (no common stream)
            from .algorithms.tris_baselines import certify_an, evaluate_an

            def certify_an_drop(sys_i, des_i, k):
                return certify_an(sys_i, des_i, s, k, n_draws=job.mc_draws, chunk=job.mc_chunk)

            def an_arrays(system, design):
                return {"W_private": design.W_private, "R_AN": design.R_AN, "t": design.t,
                        "order": design.order, "H_hat": system.H_hat, "G_hat": system.G_hat,
                        "g_scale": system.g_scale, "lu_sigma2": system.lu_sigma2,
                        "iu_sigma2": system.iu_sigma2, "lu_eps": system.lu_eps, "tau": system.tau}

            return realize_tris_drops, evaluate_an, certify_an_drop, an_arrays
        # The traditional transceiver (TRSMA) pays N RF chains instead of N TMA switches.
        transceiver = "traditional" if job.scheme.name == "trsma" else "tris"

        def evaluate(sy, de, s_):
            return evaluate_tris(sy, de, s_, transceiver)

        return realize_tris_drops, evaluate, certify, design_arrays
    from .evaluation.sim import certify_sim, evaluate_sim
    from .systems.sim import realize_sim_drops

    def certify(sys_i, des_i, k):
        cert = certify_sim(sys_i, des_i, s, k, n_draws=job.mc_draws, chunk=job.mc_chunk)
        cert["coupling"] = sim_coupling_block(sys_i, des_i, s, k, job.mc_draws, job.mc_chunk)
        return cert

    def design_arrays(system, design):
        return {"theta_comm": design.theta_comm, "theta_sense": design.theta_sense,
                "theta_ce": design.theta_ce, "W_RF": design.W_RF, "W_BB": design.W_BB,
                "R_AN": design.R_AN, "tau": design.tau, "p_sense": design.p_sense,
                "p_comm": design.p_comm, "H_users": system.H_users, "H_eves": system.H_eves}

    return realize_sim_drops, evaluate_sim, certify, design_arrays


def certificate_keys(job_seed: int, n_drops: int):
    """Per-drop keys of the Monte-Carlo certificate of a job with seed ``job_seed``."""
    _, _, k_cert = jax.random.split(jax.random.PRNGKey(job_seed), 3)
    return jax.random.split(k_cert, n_drops)


def sim_coupling_block(system, design, s, cert_key, mc_draws: int, mc_chunk: int) -> dict:
    """``certificate[i]["coupling"]`` of a paper-004 drop (``evaluation.sim.coupling_certificate``):
    the certificate holds at this drop's one coupling realisation; how many others would the
    design pass? Its own key, folded from the certificate's, so the certificate's draws are
    unchanged; at most ``COUPLING_DRAWS`` draws per realisation. Also used by
    ``experiments.recertify`` for run directories written before the block existed."""
    from .evaluation.sim import COUPLING_DRAWS, coupling_certificate

    n = min(mc_draws, COUPLING_DRAWS)
    return coupling_certificate(system, design, s, jax.random.fold_in(cert_key, 0x434F55),
                                n_draws=n, chunk=min(mc_chunk, n))


def run_job(job: JobConfig, progress: Callable[[str], None] | None = None) -> JobResult:
    """Realise ``n_drops`` drops, design each with ``job.scheme``, evaluate and certify."""
    if job.x64:
        # At the edge, once per process: the solver path and references need float64.
        jax.config.update("jax_enable_x64", True)
    say = progress or (lambda msg: None)
    log: list[str] = []

    def note(msg):
        log.append(msg)
        say(msg)

    s = job.scenario
    t0 = time.perf_counter()
    # the design stream ignores keys only the discretisation reads (design_seed == job_seed at
    # their defaults): a phase-resolution sweep shares its continuous solves
    _, k_des, _ = jax.random.split(jax.random.PRNGKey(job.design_seed()), 3)
    # drops from the scenario-only seed: every scheme of a sweep point sees the same channels
    k_sys = jax.random.PRNGKey(job.drops_seed())
    realize, evaluate, certify, design_arrays = _pipeline(job)
    system = realize(s, k_sys, job.n_drops)
    note(f"realised {job.n_drops} drop(s) of {s.kind} in {time.perf_counter() - t0:.1f} s")

    t1 = time.perf_counter()
    with reporting(say):    # the algorithms' own steps (BCD iterations) reach log.txt
        design, info = design_function(s.kind, job.scheme.name)(system, s, job.scheme, k_des)
    note(f"designed with scheme={job.scheme.name}: status={info['status']} "
         f"in {time.perf_counter() - t1:.1f} s")

    if "scenario" in info or "system" in info:
        # e.g. SL-RIS designs on its own one-layer system: evaluate where it was designed
        s = info.get("scenario", s)
        system = info.get("system", system)
        _, evaluate, certify, design_arrays = _pipeline(dataclasses.replace(job, scenario=s))
    per_drop = jax.jit(jax.vmap(lambda sy, de: evaluate(sy, de, s)))(system, design)
    drops = [to_jsonable(_drop(per_drop, i)) for i in range(job.n_drops)]
    certs = []
    for i, k in enumerate(certificate_keys(job.job_seed(), job.n_drops)):
        cert = certify(_drop(system, i), _drop(design, i), k)
        # per-drop figure metrics computed from the certificate's own draws (004 Fig. 3)
        drops[i].update(to_jsonable(cert.pop("drop_metrics", {})))
        certs.append(cert)
        say(f"certified drop {i + 1}/{job.n_drops} ({job.mc_draws} draws)")
    note(f"certified {job.n_drops} drop(s) with {job.mc_draws} Monte-Carlo draws each")
    if s.kind == "sim_isac":
        from .evaluation.sim import null_nonfinite

        t2 = time.perf_counter()
        _sim_phase_losses(system, design, s, info, drops)
        for d in drops:
            null_nonfinite(d)
        note(f"figure metrics (phase-quantisation loss) in {time.perf_counter() - t2:.1f} s")

    metrics = {
        "status": info["status"],
        "solver_status": info.get("solver_status", [info["status"]]),
        "iterations": info.get("iterations", 0),
        "objective_history": to_jsonable(info.get("objective_history", [])),
        # anything else the scheme reports about its solve (rank-1 gap, normalisers, ...)
        "design_info": to_jsonable({k: v for k, v in info.items() if k not in _INFO_KEYS
                                    and _jsonable(v)}),
        "job_seed": job.job_seed(),
        "design_seed": job.design_seed(),
        "drops_seed": job.drops_seed(),
        "scenario": s.kind,
        "scheme": job.scheme.name,
        "n_drops": job.n_drops,
        **_summary(drops),
        "drops": drops,
        "certificate": certs,
        "wall_time_s": time.perf_counter() - t0,
    }
    if s.kind == "sim_isac" and "details" in info:   # L-BCD family: utility U(alpha) and the Sec. IV theory diagnostics
        from .algorithms.sim_lbcd.diagnostics import theory_for_job, utility_for_job

        metrics.update(to_jsonable(utility_for_job(system, design, s, info)))
        metrics["theory"] = to_jsonable(theory_for_job(system, design, s, info))
        metrics["lbcd"] = to_jsonable(info.get("drops", []))
    elif s.kind == "tris_rsma":
        metrics["tris"] = _tris_solve_records(info)
    arrays = {k: np.asarray(v) for k, v in design_arrays(system, design).items()}
    return JobResult(metrics=metrics, design=arrays, log=log)


def summary_lines(metrics: dict) -> list[str]:
    """A short human-readable summary of a job's metrics (printed by ``experiments.sweep``)."""
    lines = [f"scenario={metrics.get('scenario')} scheme={metrics.get('scheme')} "
             f"status={metrics.get('status')} drops={metrics.get('n_drops')} "
             f"iterations={metrics.get('iterations')}"]
    keys = ("secrecy_sum_rate", "see", "iee", "total_power_w", "sum_secrecy_rate", "utility",
            "crb_total", "energy_j")
    vals = [f"{k}={metrics[k]:.4g}" for k in keys if isinstance(metrics.get(k), (int, float))]
    if vals:
        lines.append("  " + "  ".join(vals))
    for i, c in enumerate(metrics.get("certificate", [])):
        flags = {k: v for k, v in c.items() if k.endswith("certified")}
        lines.append(f"  certificate drop {i}: {c.get('n_draws')} draws, "
                     + ", ".join(f"{k}={v}" for k, v in flags.items()))
    return lines
