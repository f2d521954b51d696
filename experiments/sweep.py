"""Run one job (or a Hydra multirun of jobs) into run directories; resumable.

    python -m experiments.sweep scenario.p_t_dbm=3                      # one job -> runs/<date>/<time>
    python -m experiments.sweep -m scenario.p_t_dbm=-3,0,3 scheme=mrt   # a sweep -> multirun/...
    python -m experiments.sweep +sweep=example_power -m                 # a figure -> multirun/example_power
    python -m experiments.sweep -m +sweep=example_power hydra/launcher=joblib hydra.launcher.n_jobs=4

The Hydra entry point :func:`main` only converts the DictConfig to a plain dict and calls
:func:`run`, which is what tests (and notebooks) call. See docs/sweeps.md and
docs/run_directory.md.

Contract of :func:`run`:

* validate with :func:`jisac.config.job_from_dict` first (a bad key/value raises ConfigError
  naming it, before anything is imported or computed);
* **resume**: a run directory is *complete* when ``metrics.json`` carries ``"complete": true``
  (written last, atomically), its ``job_seed`` equals this job's, its config (``config.yaml``,
  the ``sweep`` plot metadata excepted) equals this job's, and its status is not an exception
  (``"error: ..."`` runs are retried, since crashes may be transient; ``infeasible`` etc. are
  deterministic results and are kept). Complete runs are skipped and their metrics returned.
  ``JISAC_FORCE=1`` recomputes regardless;
* otherwise run :func:`jisac.jobs.run_job`; any exception it raises becomes the status
  ``"error: <type>: <msg>"`` (traceback in log.txt) -- a failed job never crashes a sweep.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping

import hydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from experiments.report import OK_STATUSES, status_ok  # noqa: F401 -- one status policy
from jisac import io as jio
from jisac import runtime
from jisac.config_errors import ConfigError
from jisac.progress import Progress

# JAX logs its accelerator probing at INFO, which Hydra's logging config would print on every run.
logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)

# Keys of config.yaml that are not inputs of the job: the figure's plot metadata, and the
# derived job_seed (checked separately against metrics.json).
NON_RESULT_KEYS = ("sweep", "job_seed")


def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _result_config(d: Mapping[str, Any]) -> Any:
    # a run written before a seed-neutral key existed matches a config at that key's default
    from jisac.config import without_neutral_defaults

    return jio.canonical(without_neutral_defaults(
        {k: v for k, v in d.items() if k not in NON_RESULT_KEYS}))


def stored_result(run_dir: str | os.PathLike, job_dict: Mapping[str, Any], job_seed: int,
                  drops_seed: int | None = None) -> dict | None:
    """Metrics of a complete, matching, non-crashed run in ``run_dir``; else None (recompute).
    With ``drops_seed`` the stored run must also have drawn its channels from that seed (runs made
    before drops were seeded per scenario have none and are recomputed)."""
    d = Path(run_dir)
    if not jio.is_complete(d):
        return None
    try:
        config, metrics, _ = jio.load_run(d)
    except (OSError, ValueError):
        return None
    if config is None or metrics is None:
        return None
    if metrics.get("job_seed") != job_seed or _result_config(config) != _result_config(job_dict):
        return None
    if drops_seed is not None and metrics.get("drops_seed") != drops_seed:
        return None
    if str(metrics.get("status", "")).startswith("error"):
        return None
    if _capped_unreachable_detection(job_dict, metrics):
        return None
    return metrics


def _capped_unreachable_detection(job_dict: Mapping[str, Any], metrics: Mapping[str, Any]) -> bool:
    """A paper-000 AN-baseline run written before ``scheme.detection_unreachable`` existed
    (8 Dec 2026) capped an unreachable detection floor (62) and reported success. Its config
    matches today's (the key is seed-neutral at ``infeasible``), but today that drop is
    ``infeasible``: such a run is not this job's result and is recomputed."""
    capped = [r for r in metrics.get("tris") or [] if isinstance(r, Mapping) and r.get("detection_capped")]
    scheme = job_dict.get("scheme") or {}
    if not capped or not isinstance(scheme, Mapping) or \
            scheme.get("detection_unreachable", "infeasible") != "infeasible":
        return False
    from jisac.units import dbm_to_watt

    scen = job_dict.get("scenario") or {}
    try:
        n_pt = float(scen["n_elements"]) * float(dbm_to_watt(float(scen["p_t_dbm"])))
    except (KeyError, TypeError, ValueError):
        return False
    return any(float(r.get("detection_floor_w", 0.0)) > n_pt * (1.0 + 1e-9) for r in capped)


def _hydra_output_dir() -> str:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime.output_dir


def run(cfg: Mapping[str, Any], out_dir: str | os.PathLike | None = None, *,
        progress: Callable[[str], None] | None = None) -> dict:
    """Validate, resume or run one job into ``out_dir``; return its metrics dict.

    Args:
      cfg: resolved config as a plain dict (``OmegaConf.to_container(cfg, resolve=True)``).
      out_dir: the run directory; default Hydra's ``runtime.output_dir``.
      progress: extra ``progress(msg)`` callback (messages are also logged to log.txt).
    Returns:
      the metrics written to (or, when resumed, read from) ``metrics.json``; a resumed run has
      ``"resumed": True`` added to the returned dict (not to the file).
    Raises:
      ConfigError: invalid config, before any file is written.
    """
    from jisac.config import job_from_dict  # light: validation never imports the solvers

    job = job_from_dict(cfg)
    job_dict = job.to_dict()
    job_seed = job.job_seed()
    out = Path(out_dir if out_dir is not None else _hydra_output_dir())

    if os.environ.get("JISAC_FORCE", "") not in ("1", "true", "yes"):
        prev = stored_result(out, job_dict, job_seed, job.drops_seed())
        if prev is not None:
            print(f"jisac: {out} is complete (status {prev.get('status')}); skipped", file=sys.stderr)
            return {**prev, "resumed": True}

    out.mkdir(parents=True, exist_ok=True)
    # Outputs of an older/other run must not survive next to the new config: drop the
    # completion marker first, so an interruption from here on leaves an *incomplete* dir.
    for name in (jio.METRICS_FILE, jio.DESIGN_FILE):
        try:
            (out / name).unlink()
        except FileNotFoundError:
            pass
    jio.write_yaml_atomic(out / jio.CONFIG_FILE, {**job_dict, "job_seed": job_seed})

    log_lines: list[str] = [f"{_utc_now()} start job_seed={job_seed} host={socket.gethostname()}"]
    log_state = {"t": 0.0}

    def _flush_log(force: bool = False) -> None:
        # Rewritten (atomically) during the job, at most every 2 s: a job killed by a time
        # limit still leaves its progress in log.txt.
        now = time.monotonic()
        if force or now - log_state["t"] >= 2.0:
            log_state["t"] = now
            jio.write_text_atomic(out / jio.LOG_FILE, "\n".join(log_lines) + "\n")

    _flush_log(force=True)
    bar = Progress(total=None, desc=f"job {out.name or out}", leave=False)

    def _progress(msg: str) -> None:
        log_lines.append(f"{_utc_now()} {msg}")
        _flush_log()
        bar(msg)
        if progress is not None:
            progress(msg)

    from jisac import __version__ as jisac_version

    started = _utc_now()
    t0 = time.perf_counter()
    design: dict = {}
    try:
        from jisac import jobs  # looked up at call time (tests monkeypatch jisac.jobs.run_job)

        result = jobs.run_job(job, progress=_progress)
        metrics = jio.to_jsonable(dict(result.metrics))
        status = str(metrics.get("status", "unknown"))
        design = dict(result.design or {})
        log_lines.extend(str(x) for x in (result.log or []))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as e:  # noqa: BLE001 -- any failure of the job is a recorded result
        # (BaseException: a Rust solver's panic, pyo3's PanicException, is not an Exception)
        status = f"error: {type(e).__name__}: {e}"
        metrics = {}
        log_lines.append(traceback.format_exc())
    finally:
        bar.close()
    wall = time.perf_counter() - t0

    if design:
        try:
            jio.write_npz_atomic(out / jio.DESIGN_FILE, design)
        except Exception as e:  # noqa: BLE001
            status = f"error: {type(e).__name__}: design.npz: {e}"
            log_lines.append(traceback.format_exc())
    log_lines.append(f"{_utc_now()} end status={status} wall_time_s={wall:.3f}")
    _flush_log(force=True)

    metrics.update(
        status=status,
        job_seed=job_seed,
        drops_seed=job.drops_seed(),
        wall_time_s=wall,
        started_utc=started,
        finished_utc=_utc_now(),
        host=socket.gethostname(),
        jisac_version=jisac_version,
        environment=_environment(),
        complete=True,
    )
    jio.write_json_atomic(out / jio.METRICS_FILE, metrics)  # last: the completion marker
    return metrics


def _environment() -> dict:
    """``jisac.provenance.environment()``; its failure is recorded, never a failed job."""
    from jisac import provenance

    try:
        return provenance.environment()
    except Exception as e:  # noqa: BLE001 -- provenance must not cost a finished result
        return {"error": f"{type(e).__name__}: {e}"[:300]}


# --------------------------------------------------------------------------------------------
# Hydra glue


# "../conf" made absolute: a relative config_path is resolved as a *package* when this module is
# imported (tests, notebooks, joblib workers) rather than run as __main__, and conf/ is no package.
CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(config_path=CONF_DIR, config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> dict:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    plain = OmegaConf.to_container(cfg, resolve=True)
    # one BLAS thread + JAX compilation cache (jisac.runtime; JISAC_BLAS_THREADS, JISAC_JAX_CACHE)
    # -- speed only, in every process that runs jobs (joblib/submitit workers included)
    try:
        runtime.configure()
        metrics = run(plain, hc.runtime.output_dir)
    except ConfigError as e:
        print(f"jisac: invalid configuration: {e}", file=sys.stderr)
        if multirun:
            raise  # Hydra reports it and stops the sweep (non-zero exit)
        sys.exit(2)
    status = metrics.get("status")
    if not multirun:
        from jisac.jobs import summary_lines

        print("\n".join(summary_lines(metrics) + [f"  run directory: {hc.runtime.output_dir}"]))
    if not multirun and not status_ok(status):
        print(f"jisac: job ended with status {status!r}; see {hc.runtime.output_dir}/log.txt",
              file=sys.stderr)
        sys.exit(1)
    return metrics


class SweepCallback(Callback):
    """Registered in conf/config.yaml (``hydra.callbacks.jisac_sweep``).

    * ``on_multirun_start``: with the basic sweeper, compose and validate *every* job of the
      sweep before the first one runs (a bad value anywhere fails fast, exit code 2), and
      start a sweep-level progress line.
    * ``on_job_end``: advance it (only in the launching process; joblib/submitit workers
      have their own copy of this object).
    * ``on_multirun_end``: write results.csv and the figure (experiments.report).
    """

    def __init__(self, report: bool = True, prevalidate: bool = True) -> None:
        self.report = report
        self.prevalidate = prevalidate
        self._pid: int | None = None
        self._bar: Progress | None = None
        self._failed = 0

    def __getstate__(self) -> dict:
        # Launchers pickle the callbacks to their workers; the display (a stream) stays here.
        return {**self.__dict__, "_bar": None}

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._pid = os.getpid()
        total = None
        if self.prevalidate:
            total = _prevalidate(config)
        self._bar = Progress(total=total, desc="sweep: jobs done")

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        if self._bar is None or os.getpid() != self._pid:
            return
        ret = getattr(job_return, "_return_value", None)
        if not (isinstance(ret, Mapping) and status_ok(ret.get("status"))):
            self._failed += 1
        # one committed line per finished job; the live line belongs to the running job
        self._bar.update(1, msg=f"{self._failed} failed" if self._failed else None, commit=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self._bar = None  # every state is already committed (no close(): it would repeat the line)
        if not self.report:
            return
        sweep_dir = str(config.hydra.sweep.dir)
        try:
            from experiments.report import make_report

            rep = make_report(sweep_dir)
            print(f"jisac: report written: {rep['csv']} {rep.get('png', '')}", file=sys.stderr)
        except Exception as e:  # noqa: BLE001 -- never lose a finished sweep to a plotting bug
            print(f"jisac: report failed ({type(e).__name__}: {e}); rerun "
                  f"`python -m experiments.report {sweep_dir}`", file=sys.stderr)


def _prevalidate(config: DictConfig) -> int | None:
    """Compose and validate all jobs of a basic-sweeper multirun; return the job count.

    Exits with status 2 on the first invalid job. Returns None (no validation) for other
    sweepers, whose job lists are not known in advance.
    """
    target = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
    if not target.endswith("BasicSweeper"):
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from jisac.config import job_from_dict

    gh = GlobalHydra.instance()
    if not gh.is_initialized():
        return None
    loader = gh.config_loader()
    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    args = [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    batches = BasicSweeper.split_arguments(
        OverridesParser.create(config_loader=loader).parse_overrides(args), None)[0]
    for job_overrides in batches:
        try:
            job_cfg = loader.load_sweep_config(master_config=config, sweep_overrides=list(job_overrides))
            with open_dict(job_cfg):
                del job_cfg["hydra"]
            plain = OmegaConf.to_container(job_cfg, resolve=True)
        except Exception:  # noqa: BLE001 -- composition errors are Hydra's to report, per job
            continue
        try:
            job_from_dict(plain)
        except ConfigError as e:
            print(f"jisac: invalid configuration in sweep job [{' '.join(job_overrides)}]: {e}",
                  file=sys.stderr)
            sys.exit(2)
    return len(batches)


if __name__ == "__main__":
    main()
