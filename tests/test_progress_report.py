"""``jisac.progress.report``: the algorithms' own steps reach the job's log while it runs.

Checked: the reporter/scope semantics (no-op without a reporter, nested prefixes, reset on
exceptions, no leak into threads that did not inherit it); an L-BCD design reports one line per
iteration whose numbers are the run's own trajectory (parsed back and compared); a job writes
those lines to the progress callback (log.txt); the TRIS-RSMA design routes its BCD log to the
reporter inside a job and to stderr outside one.
"""

import re
import threading

import jax
import pytest

import jisac.designs.tris_rsma as tris_design
from jisac.designs.sim_lbcd import design_lbcd
from jisac.jobs import run_job
from jisac.progress import report, reporter_active, reporting, scope
from jisac.scenarios import SimScenario
from jisac.schemes import LbcdParams
from jisac.systems.sim import realize_sim_drops
from small_systems import SMALL_SIM
from test_lbcd_baselines import _job, stub_blocks  # noqa: F401 -- the fixture (identity blocks)


def test_report_is_silent_without_a_reporter():
    assert not reporter_active()
    report("nobody listens")            # must not raise


def test_scopes_nest_and_reset_after_an_exception():
    out = []
    with reporting(out.append):
        assert reporter_active()
        with scope("drop 1"):
            report("a")
            with pytest.raises(RuntimeError):
                with scope("start paper"):
                    report("b")
                    raise RuntimeError
            report("c")
        report("d")
    report("e")
    assert out == ["drop 1: a", "drop 1: start paper: b", "drop 1: c", "d"]
    assert not reporter_active()


def test_a_new_thread_does_not_inherit_the_reporter():
    out, seen = [], []

    def worker():
        seen.append(reporter_active())
        report("from the pool")

    with reporting(out.append):
        t = threading.Thread(target=worker)
        t.start()
        t.join()
    assert seen == [False] and out == []


_IT = re.compile(r"^drop 0 \(design shared by all drops\): start (\w+): L-BCD it (\d+)/2: "
                 r"U=(\S+) S=(\S+) CRB=(\S+) ")


def test_lbcd_reports_each_iteration_with_its_trajectory(stub_blocks):
    s = SimScenario(**SMALL_SIM)
    sysb = realize_sim_drops(s, jax.random.PRNGKey(0), 2)
    out = []
    with reporting(out.append):
        _, info = design_lbcd(sysb, s, LbcdParams(max_iterations=2, r_max=2.0, crb_min=3.0,
                                                  shared_design=True), jax.random.PRNGKey(1))
    its = [m.groups() for m in map(_IT.match, out) if m]
    starts = info["details"][0]["starts"]
    # every start runs its iterations and reports each one
    assert [(g[0], int(g[1])) for g in its] == [(r["start"], t) for r in starts
                                               for t in range(1, r["iterations"] + 1)]
    # the returned start's lines carry the numbers of its own trajectory (4 significant digits)
    chosen = info["details"][0]["start"]
    traj = info["details"][0]["trajectory"]
    mine = [g for g in its if g[0] == chosen]
    assert len(mine) == len(traj)
    for g, tr in zip(mine, traj):
        for txt, key in zip(g[2:], ("utility", "secrecy_throughput", "crb_total")):
            assert float(txt) == pytest.approx(tr[key], rel=1e-3, abs=1e-12)
    assert any(m.endswith(f"returned the design of start {chosen}") for m in out)


def test_job_progress_carries_the_bcd_iterations(stub_blocks):
    msgs = []
    run_job(_job("lbcd", shared_design=True), progress=msgs.append)
    # the job's own notes and, between them, the algorithm's iteration lines
    i_real = next(i for i, m in enumerate(msgs) if m.startswith("realised"))
    i_designed = next(i for i, m in enumerate(msgs) if m.startswith("designed with"))
    inner = msgs[i_real + 1:i_designed]
    assert any(_IT.match(m) for m in inner)
    assert not reporter_active()


class _Stop(Exception):
    pass


def test_tris_design_log_goes_to_the_reporter_in_a_job_and_to_stderr_outside(monkeypatch,
                                                                             capsys):
    calls = []

    def fake_solve_drop(system, s, opt, log=None):
        log("iteration 1: F = 1.0")
        calls.append(opt.seed)
        raise _Stop                # the routing is all this test needs

    monkeypatch.setattr(tris_design, "solve_drop", fake_solve_drop)
    monkeypatch.setattr(tris_design, "options_from_params", lambda s, p: tris_design.BcdOptions())
    system = {"x": jax.numpy.zeros((1, 2))}
    params = type("P", (), {"name": "rsma"})()
    out = []
    with reporting(out.append), scope("job"), pytest.raises(_Stop):
        tris_design.design(system, None, params)
    assert out == ["job: drop 0: iteration 1: F = 1.0"]
    assert capsys.readouterr().err == ""
    with pytest.raises(_Stop):
        tris_design.design(system, None, params)
    assert "[rsma drop 0] iteration 1: F = 1.0" in capsys.readouterr().err
