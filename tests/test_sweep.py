"""experiments.sweep: config composition, run directories, resume, failures, launchers, progress.

Fast: the real ``run_job`` is replaced by a fake (``FAKE_SRC``) except in one end-to-end smoke
test. The fake is written to tmp as a module; in-process tests monkeypatch it in, subprocess
tests (joblib, submitit_local) load it through a ``sitecustomize.py`` on PYTHONPATH so that
every worker process gets it too. Each call appends "<pid> <p_t_dbm>" to $JISAC_FAKE_CALLS.
"""

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

import experiments.sweep as sweep_mod
from experiments.report import make_report, status_ok
from jisac import io as jio
from jisac.config import job_from_dict
from jisac.progress import Progress

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

FAKE_SRC = textwrap.dedent('''
    """Fake jisac.jobs.run_job for the sweep tests (fast, deterministic)."""
    import os
    import numpy as np
    from jisac.jobs import JobResult

    def run_job(job, progress=None):
        p = job.scenario.p_t_dbm
        with open(os.environ["JISAC_FAKE_CALLS"], "a") as f:
            f.write(f"{os.getpid()} {p}\\n")
        if progress is not None:
            progress("fake iteration 1")
        stop_at = os.environ.get("JISAC_FAKE_INTERRUPT_AT")
        if stop_at is not None and p == float(stop_at):
            if os.environ.get("JISAC_FAKE_HARD_KILL"):
                os._exit(137)           # like SIGKILL / node loss: nothing is cleaned up
            raise KeyboardInterrupt     # like Ctrl-C
        if p == 3:
            return JobResult(metrics={"status": "infeasible"}, design={}, log=["fake: infeasible"])
        if p == 6:
            raise RuntimeError("solver crashed")
        n = job.n_drops
        rates = [float(p) + 0.5 * i for i in range(n)]
        metrics = {"status": "optimal", "secrecy_sum_rate": rates, "mean_rate": float(np.mean(rates)),
                   "per_user": [[1.0, 2.0, 3.0]] * n, "solver": {"iterations": 7}}
        design = {"W": np.full((2, 3), 1 + 1j) * p}
        return JobResult(metrics=metrics, design=design, log=["fake: done"])
''')


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Install the fake in-process and return a reader of the recorded calls."""
    d = tmp_path / "fake"
    d.mkdir()
    (d / "jisac_fake_jobs.py").write_text(FAKE_SRC)
    (d / "sitecustomize.py").write_text(
        "import os\n"
        "if os.environ.get('JISAC_FAKE_CALLS'):\n"
        "    import jisac.jobs, jisac_fake_jobs\n"
        "    jisac.jobs.run_job = jisac_fake_jobs.run_job\n")
    calls = tmp_path / "calls.txt"
    calls.touch()
    monkeypatch.setenv("JISAC_FAKE_CALLS", str(calls))
    monkeypatch.syspath_prepend(str(d))
    import jisac.jobs
    import jisac_fake_jobs

    monkeypatch.setattr(jisac.jobs, "run_job", jisac_fake_jobs.run_job)

    def read():
        return [float(line.split()[1]) for line in calls.read_text().splitlines()]

    read.site_dir = d
    read.pids = lambda: {int(line.split()[0]) for line in calls.read_text().splitlines()}
    read.calls = lambda: [(int(a), float(b)) for a, b in (x.split() for x in calls.read_text().splitlines())]
    return read


def _compose(overrides=(), hydra_cfg=False):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra_cfg)


def _job_dict(overrides=()):
    cfg = _compose(overrides)
    return OmegaConf.to_container(cfg, resolve=True)


def _main(argv, monkeypatch):
    """Run the Hydra entry point in-process; return the SystemExit code (0 if it returned)."""
    GlobalHydra.instance().clear()
    # Hydra's default logging config would replace the handlers of this (pytest's) process
    # and break its output capture; the logging config is not what these tests check.
    argv = [*argv, "hydra/job_logging=none", "hydra/hydra_logging=none"]
    monkeypatch.setattr(sys, "argv", ["sweep.py", *argv])
    try:
        sweep_mod.main()
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    finally:
        GlobalHydra.instance().clear()


# --------------------------------------------------------------------------------------------
# config composition


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONF / "sweep").glob("*.yaml")))
def test_every_figure_config_composes_and_validates(name):
    cfg = _compose([f"+sweep={name}"], hydra_cfg=True)
    assert cfg.sweep.name == name  # the sweep dir below is keyed by it
    assert cfg.hydra.sweep.dir == f"multirun/{name}"
    assert cfg.hydra.sweeper.params, "a figure config must set hydra.sweeper.params"
    plain = OmegaConf.to_container(cfg, resolve=False)
    del plain["hydra"]
    job = job_from_dict(OmegaConf.to_container(OmegaConf.create(plain), resolve=True))
    flat = OmegaConf.to_container(OmegaConf.create(job.to_dict()))
    x = cfg.sweep.x
    assert OmegaConf.select(OmegaConf.create(flat), x) is not None, f"sweep.x={x} is not a config key"
    for y in cfg.sweep.y:
        assert y.metric and y.label
    # every swept key must be a valid override of this config (parse with Hydra's own parser)
    _compose([f"+sweep={name}"] + [f"{k}={str(v).split(',')[0]}" for k, v in cfg.hydra.sweeper.params.items()])


def test_default_sweep_dir_is_timestamped_and_subdir_per_parameters():
    cfg = _compose([], hydra_cfg=True)
    assert cfg.hydra.sweep.dir.startswith("multirun/20")
    assert OmegaConf.to_container(cfg.hydra.sweep, resolve=False)["subdir"] == "${hydra.job.override_dirname}"
    assert list(cfg.hydra.job.config.override_dirname.exclude_keys) == ["sweep"]
    assert "sweep" not in cfg  # only a figure config adds the node; job_from_dict defaults it


# --------------------------------------------------------------------------------------------
# run(): run directory, resume, failures


def test_run_writes_complete_run_dir_then_resumes(tmp_path, fake):
    cfg = _job_dict(["scenario.p_t_dbm=-3", "n_drops=2"])
    out = tmp_path / "job"
    m = sweep_mod.run(cfg, out)
    job = job_from_dict(cfg)
    assert fake() == [-3.0]
    assert m["status"] == "optimal" and m["complete"] is True
    assert m["job_seed"] == job.job_seed() and isinstance(m["wall_time_s"], float)
    import jisac

    assert m["jisac_version"] == jisac.__version__
    env = m["environment"]                      # jisac.provenance.environment() of the job
    import jax

    assert env["versions"]["jax"] == jax.__version__
    assert env["xla_flags"] == os.environ.get("XLA_FLAGS", "")
    assert env["jax_backend"] == jax.default_backend()
    config, metrics, design = jio.load_run(out)
    assert metrics == m and metrics["secrecy_sum_rate"] == [-3.0, -2.5]
    assert config == {**jio.canonical(job.to_dict()), "job_seed": job.job_seed()}
    np.testing.assert_array_equal(design["W"], np.full((2, 3), -3 - 3j))
    log = (out / "log.txt").read_text()
    assert "fake iteration 1" in log and "fake: done" in log and "end status=optimal" in log

    mtime = (out / "metrics.json").stat().st_mtime_ns
    m2 = sweep_mod.run(cfg, out)
    assert fake() == [-3.0], "a complete run must not be recomputed"
    assert m2["resumed"] is True and {k: v for k, v in m2.items() if k != "resumed"} == m
    assert (out / "metrics.json").stat().st_mtime_ns == mtime

    # a different config in the same dir (e.g. n_drops changed) is recomputed, not trusted
    sweep_mod.run(_job_dict(["scenario.p_t_dbm=-3", "n_drops=3"]), out)
    assert fake() == [-3.0, -3.0]
    assert jio.load_run(out)[1]["secrecy_sum_rate"] == [-3.0, -2.5, -2.0]
    # the plot metadata does not invalidate a finished job
    sweep_mod.run({**_job_dict(["scenario.p_t_dbm=-3", "n_drops=3"]), "sweep": {"name": "x"}}, out)
    assert len(fake()) == 2
    # a metrics.json without the completion marker (torn/foreign) is recomputed
    met = jio.read_json(out / "metrics.json")
    del met["complete"]
    (out / "metrics.json").write_text(json.dumps(met))
    sweep_mod.run(_job_dict(["scenario.p_t_dbm=-3", "n_drops=3"]), out)
    assert len(fake()) == 3


def test_run_records_failures_retries_errors_keeps_infeasible(tmp_path, fake):
    out6, out3 = tmp_path / "p6", tmp_path / "p3"
    m = sweep_mod.run(_job_dict(["scenario.p_t_dbm=6"]), out6)
    assert m["status"] == "error: RuntimeError: solver crashed" and m["complete"] is True
    assert "Traceback" in (out6 / "log.txt").read_text() and not (out6 / "design.npz").exists()
    m = sweep_mod.run(_job_dict(["scenario.p_t_dbm=3"]), out3)
    assert m["status"] == "infeasible"
    assert fake() == [6.0, 3.0]
    sweep_mod.run(_job_dict(["scenario.p_t_dbm=6"]), out6)  # crash: retried
    sweep_mod.run(_job_dict(["scenario.p_t_dbm=3"]), out3)  # deterministic result: kept
    assert fake() == [6.0, 3.0, 6.0]


def test_interrupted_job_leaves_incomplete_dir(tmp_path, fake, monkeypatch):
    out = tmp_path / "job"
    sweep_mod.run(_job_dict(["scenario.p_t_dbm=0"]), out)
    monkeypatch.setenv("JISAC_FAKE_INTERRUPT_AT", "0")
    monkeypatch.setenv("JISAC_FORCE", "1")
    with pytest.raises(KeyboardInterrupt):
        sweep_mod.run(_job_dict(["scenario.p_t_dbm=0"]), out)
    # the old completion marker was removed before the new attempt started
    assert (out / "config.yaml").exists() and not (out / "metrics.json").exists()
    assert not jio.is_complete(out)
    log = (out / "log.txt").read_text()  # the killed attempt's log, not the finished one's
    assert "start job_seed=" in log and "end status" not in log


# --------------------------------------------------------------------------------------------
# the Hydra entry point: exit codes, fail-fast validation


def test_bad_overrides_fail_fast_naming_the_key(tmp_path, fake, monkeypatch, capsys):
    rd = f"hydra.run.dir={tmp_path}/run"
    assert _main(["scenario.p_out_lu=1.5", rd], monkeypatch) == 2
    err = capsys.readouterr().err
    assert "scenario.p_out_lu = 1.5" in err and "probability" in err
    assert not (tmp_path / "run" / "config.yaml").exists()

    assert _main(["+scenario.foo=1", rd], monkeypatch) == 2
    assert "scenario.foo = 1: unknown key" in capsys.readouterr().err

    assert _main(["scenario.foo=1", rd], monkeypatch) == 1  # rejected by Hydra itself
    err = capsys.readouterr().err
    assert "scenario.foo" in err and "not in struct" in err

    # multirun: every job is validated before the first one runs
    sd = f"hydra.sweep.dir={tmp_path}/multi"
    assert _main(["-m", "scenario.p_out_lu=0.02,1.5", sd], monkeypatch) == 2
    assert "scenario.p_out_lu = 1.5" in capsys.readouterr().err
    assert fake() == []


def test_single_run_exit_code_follows_status(tmp_path, fake, monkeypatch):
    assert _main(["scenario.p_t_dbm=0", f"hydra.run.dir={tmp_path}/a"], monkeypatch) == 0
    assert _main(["scenario.p_t_dbm=3", f"hydra.run.dir={tmp_path}/b"], monkeypatch) == 1
    assert _main(["scenario.p_t_dbm=6", f"hydra.run.dir={tmp_path}/c"], monkeypatch) == 1
    assert jio.load_run(tmp_path / "b")[1]["status"] == "infeasible"
    assert jio.load_run(tmp_path / "c")[1]["status"].startswith("error: RuntimeError")


def test_multirun_kill_and_resume_then_report(tmp_path, fake, monkeypatch):
    sd = tmp_path / "sweep"
    argv = ["-m", "+sweep=example_power", "scenario.p_t_dbm=-3,0,3,6", "n_drops=3", f"hydra.sweep.dir={sd}"]
    monkeypatch.setenv("JISAC_FAKE_INTERRUPT_AT", "0")
    with pytest.raises(KeyboardInterrupt):
        _main(argv, monkeypatch)
    assert fake() == [-3.0, 0.0]
    # run dirs are named by Hydra's override_dirname (sorted key=value list)
    d = {p: sd / f"n_drops=3,scenario.p_t_dbm={p},scheme=mrt" for p in (-3, 0, 3, 6)}
    assert jio.is_complete(d[-3]) and not jio.is_complete(d[0]) and not d[3].exists()
    mtime = (d[-3] / "metrics.json").stat().st_mtime_ns
    # a report of the partial sweep lists every job of the launch (from multirun.yaml)
    import csv

    rows = list(csv.DictReader(open(make_report(sd, figure=False)["csv"])))
    assert len(rows) == 4 * 3
    assert {(r["scenario.p_t_dbm"], r["status"]) for r in rows} == \
        {("-3.0", "optimal"), ("0.0", "incomplete"), ("3.0", "not_started"), ("6.0", "not_started")}

    monkeypatch.delenv("JISAC_FAKE_INTERRUPT_AT")
    assert _main(argv, monkeypatch) == 0  # failed jobs do not fail a multirun
    assert fake() == [-3.0, 0.0, 0.0, 3.0, 6.0]  # -3 was not recomputed
    assert (d[-3] / "metrics.json").stat().st_mtime_ns == mtime
    assert [jio.load_run(d[p])[1]["status"] for p in (0, 3, 6)] == \
        ["optimal", "infeasible", "error: RuntimeError: solver crashed"]
    # the callback wrote the report
    rows = list(csv.DictReader(open(sd / "results.csv")))
    assert len(rows) == 4 * 3
    assert {r["status"] for r in rows} == {"optimal", "infeasible", "error: RuntimeError: solver crashed"}
    assert (sd / "figure.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (sd / "figure.pdf").read_bytes()[:5] == b"%PDF-"
    assert {r["in_last_sweep"] for r in rows} == {"True"}
    # the jobs' environment stays in metrics.json: no results.csv column, no inferred metric
    assert "environment" in jio.load_run(d[-3])[1]
    assert not [c for c in rows[0] if c.startswith("environment")]

    # a later launch over a subset: nothing recomputed; older points kept but flagged
    assert _main(["-m", "+sweep=example_power", "scenario.p_t_dbm=-3", "n_drops=3",
                  f"hydra.sweep.dir={sd}", "hydra.callbacks.jisac_sweep.report=false"], monkeypatch) == 0
    assert len(fake()) == 5
    rows = list(csv.DictReader(open(make_report(sd, figure=False)["csv"])))
    assert {(r["scenario.p_t_dbm"], r["in_last_sweep"]) for r in rows} == \
        {("-3.0", "True"), ("0.0", "False"), ("3.0", "False"), ("6.0", "False")}


# --------------------------------------------------------------------------------------------
# other launchers (subprocesses: the fake reaches the workers through sitecustomize)


def _subprocess(argv, fake, tmp_path, extra_env=None, timeout=120):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(fake.site_dir), str(REPO), env.get("PYTHONPATH", "")])
    env["JISAC_PROGRESS"] = "0"
    env.update(extra_env or {})
    return subprocess.run([sys.executable, "-m", "experiments.sweep", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_joblib_launcher_parallel_and_resume(tmp_path, fake):
    """Two workers; the -3 point is already complete (an earlier, interrupted sweep) and must
    not be recomputed by the workers; the report is written by the callback."""
    sd = tmp_path / "sweep"
    sweep_mod.run(_job_dict(["scenario.p_t_dbm=-3"]), sd / "scenario.p_t_dbm=-3")
    assert fake() == [-3.0]
    r = _subprocess(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                     "hydra.callbacks.jisac_sweep.report=false",  # report: in-process below (faster)
                     "scenario.p_t_dbm=-3,0,3", f"hydra.sweep.dir={sd}"], fake, tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(fake()) == [-3.0, 0.0, 3.0]  # -3 only from the in-process run above
    assert all(pid != os.getpid() for pid, p in fake.calls() if p != -3.0)  # in workers
    assert [jio.load_run(sd / f"scenario.p_t_dbm={p}")[1]["status"] for p in (-3, 0, 3)] == \
        ["optimal", "optimal", "infeasible"]
    import csv

    rows = list(csv.DictReader(open(make_report(sd, figure=False)["csv"])))
    assert sorted((r["scenario.p_t_dbm"], r["status"]) for r in rows) == \
        [("-3.0", "optimal"), ("0.0", "optimal"), ("3.0", "infeasible")]


def test_submitit_local_launcher(tmp_path, fake):
    """The cluster path (submitit pickles the job, runs it in a fresh process); one infeasible
    job, so the multirun still exits 0 and the status is recorded. Report off: tested above."""
    sd = tmp_path / "sweep"
    r = _subprocess(["-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=2",
                     "hydra.callbacks.jisac_sweep.report=false", "scenario.p_t_dbm=3",
                     f"hydra.sweep.dir={sd}"], fake, tmp_path, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    assert fake() == [3.0] and os.getpid() not in fake.pids()
    assert jio.load_run(sd / "scenario.p_t_dbm=3")[1]["status"] == "infeasible"
    assert list((sd / ".submitit").iterdir())  # it really went through submitit


# --------------------------------------------------------------------------------------------
# end to end with the real run_job


def test_smoke_real_run_job_single_run(tmp_path, monkeypatch):
    out = tmp_path / "run"
    code = _main(["n_drops=1", "mc_draws=1000", "mc_chunk=1000", f"hydra.run.dir={out}"], monkeypatch)
    config, metrics, design = jio.load_run(out)
    assert metrics["complete"] is True
    assert metrics["job_seed"] == job_from_dict({k: v for k, v in config.items() if k != "job_seed"}).job_seed()
    assert (code == 0) == status_ok(metrics["status"])
    # the report reads the real metrics layout: one row per drop, the per-drop values
    rep = make_report(out, figure=False)
    import csv

    (row,) = list(csv.DictReader(open(rep["csv"])))
    assert row["status"] == metrics["status"] and int(row["job_seed"]) == metrics["job_seed"]
    if "drops" in metrics and "secrecy_sum_rate" in metrics["drops"][0]:
        assert float(row["secrecy_sum_rate"]) == metrics["drops"][0]["secrecy_sum_rate"]


# --------------------------------------------------------------------------------------------
# progress display


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_on_tty_and_is_quiet_otherwise(monkeypatch):
    monkeypatch.delenv("JISAC_PROGRESS", raising=False)
    s = _Tty()
    with Progress(total=4, desc="BCD", stream=s, min_interval=0.0) as p:
        p.update()
        p("obj=1.5")  # run_job's progress(msg) callback: message, no advance
        assert p.n == 1
        p.update(3)
    frames = s.getvalue().split("\r\x1b[K")
    assert frames[0] == "" and len(frames) >= 4  # >= one redraw per call (min_interval=0)
    assert frames[1].startswith("BCD [######" + "." * 18 + "] 1/4 ")
    assert frames[2].endswith(" obj=1.5")
    assert frames[-1].startswith("BCD [" + "#" * 24 + "] 4/4 ") and frames[-1].endswith("obj=1.5\n")

    quiet = io.StringIO()  # not a TTY (files, pipes, SLURM logs)
    with Progress(total=4, stream=quiet, min_interval=0.0) as p:
        p.update(4, msg="x")
    assert quiet.getvalue() == ""
    monkeypatch.setenv("JISAC_PROGRESS", "0")
    assert Progress(stream=_Tty()).enabled is False
    monkeypatch.setenv("JISAC_PROGRESS", "1")
    assert Progress(stream=io.StringIO()).enabled is True


def test_progress_throttles_and_erases_when_not_leaving():
    s = _Tty()
    p = Progress(total=None, desc="MC", stream=s, min_interval=3600.0, leave=False)
    for _ in range(100):
        p.update()
    assert s.getvalue().count("\r\x1b[K") == 1  # first draw only, the rest throttled
    assert p.render().startswith("MC 100 ")
    p.close()
    assert s.getvalue().endswith("\r\x1b[K") and "\n" not in s.getvalue()

    s = _Tty()  # the sweep-level display: one committed line per finished job
    p = Progress(total=2, desc="sweep", stream=s, min_interval=3600.0)
    p.update(1, commit=True)
    p.update(1, msg="1 failed", commit=True)
    lines = s.getvalue().split("\n")
    assert len(lines) == 3 and lines[2] == ""
    assert "] 1/2 " in lines[0] and lines[1].endswith("] 2/2 00:00<00:00 1 failed")
