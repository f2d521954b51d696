"""experiments.report: tidy CSV (job x drop), statistics, figure, on a synthetic sweep dir.

The sweep dir is written with jisac.io in the layout experiments.sweep produces, with metrics
in the layout of jisac.jobs.run_job (job-level means + a ``drops`` list of per-drop dicts).
"""

import csv
import math

import numpy as np
import pytest

from experiments import report
from jisac import io as jio

META = {"name": "t", "title": "test", "x": "scenario.p_t_dbm", "x_label": "P_t [dBm]",
        "series": ["scheme.name"], "y": [{"metric": "secrecy_sum_rate", "label": "SSR [bps/Hz]"}]}
N_DROPS = 4


def _job(root, scheme, p, status, drops=None, complete=True, meta=META):
    d = root / f"p={p},scheme={scheme}"
    cfg = {"scenario": {"kind": "tris_rsma", "p_t_dbm": p, "n_rows": 4,
                        "lu_positions": [[50.0, 22.5, 10.0]]},
           "scheme": {"name": scheme}, "seed": 0, "n_drops": N_DROPS, "job_seed": 11,
           "sweep": meta}
    jio.write_yaml_atomic(d / "config.yaml", cfg)
    if not complete:
        return d
    m = {"status": status, "job_seed": 11, "complete": True, "wall_time_s": 0.1}
    if drops is not None:
        m["secrecy_sum_rate"] = float(np.nanmean(drops))  # job-level mean, as run_job writes
        m["drops"] = [{"secrecy_sum_rate": v, "user_rate": [0.1, 0.2]} for v in drops]
        m["solver"] = {"iterations": 7}
        m["per_user"] = [[1.0, 2.0]] * N_DROPS          # not a scalar: not a column
    jio.write_json_atomic(d / "metrics.json", m)
    return d


@pytest.fixture
def sweep_dir(tmp_path):
    root = tmp_path / "sweep"
    _job(root, "mrt", 0, "optimal", [1.0, 2.0, 3.0, 4.0])
    _job(root, "mrt", 5, "closed_form", [2.0, float("nan"), 4.0, 6.0])
    _job(root, "mrt", 10, "optimal_inaccurate", [3.0, 3.0, 3.0, 3.0])
    _job(root, "opt", 0, "infeasible")
    _job(root, "opt", 5, "error: RuntimeError: boom")
    _job(root, "opt", 10, None, complete=False)  # interrupted: config only
    (root / ".submitit" / "123").mkdir(parents=True)  # launcher debris is not a job
    return root


def _read(p):
    with open(p) as f:
        return list(csv.DictReader(f))


def test_results_csv_has_one_row_per_job_and_drop(sweep_dir):
    rep = report.make_report(sweep_dir, figure=False)
    rows = _read(rep["csv"])
    assert rep["n_jobs"] == 6 and len(rows) == 6 * N_DROPS == rep["n_rows"]
    assert rep["status_counts"] == {"optimal": 1, "closed_form": 1, "optimal_inaccurate": 1,
                                    "infeasible": 1, "error: RuntimeError: boom": 1, "incomplete": 1}
    assert rep["n_failed"] == 3
    cols = list(rows[0])
    assert cols[:4] == ["run_dir", "status", "job_seed", "drop"]
    # varying parameters only (n_rows, lu_positions, seed are constant), no plot metadata
    assert "scenario.p_t_dbm" in cols and "scheme.name" in cols
    assert not any(c.startswith(("sweep", "scenario.n_rows", "scenario.lu_positions")) for c in cols)
    assert "solver.iterations" in cols and "per_user" not in cols and "user_rate" not in cols
    by = {(r["scheme.name"], r["scenario.p_t_dbm"], r["drop"]): r for r in rows}
    # per-drop values come from metrics.drops, not the job-level mean
    assert [by[("mrt", "0", str(i))]["secrecy_sum_rate"] for i in range(4)] == ["1.0", "2.0", "3.0", "4.0"]
    assert by[("mrt", "5", "1")]["secrecy_sum_rate"] == "nan"
    for p, st in (("0", "infeasible"), ("5", "error: RuntimeError: boom"), ("10", "incomplete")):
        assert {by[("opt", p, str(i))]["status"] for i in range(4)} == {st}
        assert by[("opt", p, "0")]["secrecy_sum_rate"] == ""


def test_summary_mean_and_student_t_ci(sweep_dir):
    rep = report.make_report(sweep_dir, figure=False)
    summ = {(r["series"], float(r["x"])): r for r in _read(rep["summary"])}
    # independent reference: t_{0.975, 3} = 3.182446305284263 (table value), s of [1,2,3,4]
    s = math.sqrt(sum((v - 2.5) ** 2 for v in (1, 2, 3, 4)) / 3)
    h = 3.182446305284263 * s / 2.0
    r = summ[("mrt", 0.0)]
    assert int(r["n"]) == 4 and float(r["mean"]) == pytest.approx(2.5, rel=1e-12)
    assert float(r["ci95_lo"]) == pytest.approx(2.5 - h, rel=1e-9)
    assert float(r["ci95_hi"]) == pytest.approx(2.5 + h, rel=1e-9)
    # NaN drop excluded and counted; t_{0.975, 2} = 4.302652729911275
    r = summ[("mrt", 5.0)]
    assert int(r["n"]) == 3 and int(r["n_nonfinite_drops"]) == 1 and float(r["mean"]) == 4.0
    assert float(r["ci95_hi"]) - 4.0 == pytest.approx(4.302652729911275 * 2.0 / math.sqrt(3), rel=1e-9)
    for p, st in ((0.0, "infeasible"), (5.0, "error: RuntimeError: boom"), (10.0, "incomplete")):
        r = summ[("opt", p)]
        assert int(r["n"]) == 0 and int(r["n_failed_jobs"]) == 1 and r["failed_statuses"] == st


def test_figure_draws_means_bands_and_failed_points(sweep_dir):
    rep = report.make_report(sweep_dir)
    assert rep["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert rep["pdf"].read_bytes()[:5] == b"%PDF-"
    c = report.collect(sweep_dir)
    plot = report.resolve_plot(c.meta, c.rows, c.params, c.metric_cols)
    fig = report.render_figure(report.summarize(c.rows, plot), plot)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "P_t [dBm]" and ax.get_ylabel() == "SSR [bps/Hz]"
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    np.testing.assert_array_equal(lines["mrt"].get_xdata(), [0.0, 5.0, 10.0])
    np.testing.assert_allclose(lines["mrt"].get_ydata(), [2.5, 4.0, 3.0])
    assert "opt" not in lines  # no successful point: nothing to connect
    (failed,) = [ln for k, ln in lines.items() if k.startswith("failed")]
    assert failed.get_label() == "failed/infeasible/incomplete: 3 job(s), 1 non-finite drop(s)"
    assert failed.get_marker() == "x" and failed.get_color() == "red"
    assert sorted(failed.get_xdata()) == [0.0, 5.0, 5.0, 10.0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "mrt" and legend[-1].startswith("failed")
    assert len(ax.collections) == 1  # one CI band (mrt)
    assert "3 failed job(s)" in ax.get_title()


def test_adhoc_sweep_without_metadata_infers_axes(tmp_path):
    root = tmp_path / "adhoc"
    for p in (0, 5):
        _job(root, "mrt", p, "optimal", [1.0, 2.0, 3.0, 4.0], meta=None)
    c = report.collect(root)
    plot = report.resolve_plot(c.meta, c.rows, c.params, c.metric_cols)
    assert plot["x"] == "scenario.p_t_dbm"
    assert {y["metric"] for y in plot["y"]} == {"secrecy_sum_rate", "solver.iterations"}
    assert report.main([str(root)]) == 0 and (root / "figure.png").exists()


def test_redraw_finished_jobs_as_another_figure(sweep_dir, tmp_path, capsys):
    """``--as``: the jobs drawn with another sweep node (here: y = the iteration count), written
    beside the sweep's own files, which stay untouched; ``--title`` replaces the title."""
    assert report.main([str(sweep_dir)]) == 0
    own = (sweep_dir / "table.md").read_text()
    other = tmp_path / "other.yaml"
    jio.write_yaml_atomic(other, {"defaults": [], "sweep": {
        **META, "title": "as other", "y": [{"metric": "solver.iterations", "label": "iterations"}]}})
    assert report.main([str(sweep_dir), "--as", str(other), "--title", "redrawn"]) == 0
    out = sweep_dir / "as_other"
    assert (sweep_dir / "table.md").read_text() == own
    table = (out / "table.md").read_text()
    assert table.startswith("# redrawn") and "solver.iterations" in table
    assert "secrecy_sum_rate" not in table and (out / "figure.png").is_file()
    summ = {(s["series"], s["x"]): s["mean"] for s in _read(out / "summary.csv")}
    assert float(summ[("mrt", "5")]) == 7.0                    # the job-level scalar, every drop
    # a name resolves under conf/sweep/; an unknown one is a clear error listing the known names
    assert report.sweep_meta("tris_fig12")["plot"] == "slots"
    assert report.main([str(sweep_dir), "--as", "no_such_fig"]) == 2
    err = capsys.readouterr().err
    assert "no_such_fig" in err and "tris_fig11" in err


def test_cli_on_empty_dir_fails(tmp_path, capsys):
    assert report.main([str(tmp_path)]) == 2
    assert "no run directories" in capsys.readouterr().err


def test_uncertified_drops_are_counted_flagged_and_ringed(tmp_path):
    """A drop whose Monte-Carlo certificate failed stays in the mean (it is a measurement of that
    design) and is counted in summary.csv, flagged in table.md and ringed in the figure; the
    TRIS flags (lu_certified AND iu_certified) and the SIM flag (certified) are both read."""
    root = tmp_path / "sweep"
    d = _job(root, "rsma", 0, "optimal", [1.0, 2.0, 3.0, 4.0])
    m = jio.read_json(d / "metrics.json")
    m["certificate"] = [{"lu_certified": True, "iu_certified": i != 2} for i in range(N_DROPS)]
    jio.write_json_atomic(d / "metrics.json", m)
    d = _job(root, "sim", 0, "converged", [5.0, 6.0, 7.0, 8.0])
    m = jio.read_json(d / "metrics.json")
    m["certificate"] = [{"certified": i % 2 == 0} for i in range(N_DROPS)]
    jio.write_json_atomic(d / "metrics.json", m)
    _job(root, "mrt", 0, "optimal", [1.0, 1.0, 1.0, 1.0])               # no certificate at all
    rep = report.make_report(root)
    rows = _read(rep["csv"])
    cert = {(r["scheme.name"], r["drop"]): r["certified"] for r in rows}
    assert [cert[("rsma", str(i))] for i in range(4)] == ["True", "True", "False", "True"]
    assert [cert[("sim", str(i))] for i in range(4)] == ["True", "False", "True", "False"]
    assert cert[("mrt", "0")] == ""
    summ = {r["series"]: r for r in _read(rep["summary"])}
    assert (int(summ["rsma"]["n_uncertified"]), int(summ["sim"]["n_uncertified"]),
            int(summ["mrt"]["n_uncertified"])) == (1, 2, 0)
    assert float(summ["sim"]["mean"]) == 6.5                           # still in the mean
    table = rep["table"].read_text()
    assert "not certified: 1/4" in table and "not certified: 2/4" in table
    c = report.collect(root)
    plot = report.resolve_plot(c.meta, c.rows, c.params, c.metric_cols)
    fig = report.render_figure(report.summarize(c.rows, plot), plot)
    (ax,) = fig.axes
    (ring,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("not certified")]
    assert ring.get_label() == "not certified (Monte Carlo): 3 drop(s)"
    assert sorted(ring.get_ydata()) == [2.5, 6.5]
    assert "3 uncertified drop(s)" in ax.get_title()
    # two metrics of the same jobs in one panel: each job's drops are counted once, not per curve
    summ_all = report.summarize(c.rows, plot)
    y0 = dict(plot["y"][0], panel=0)
    col = y0.get("column", y0["metric"])
    copy = [dict(s, metric="copy") for s in summ_all if s["metric"] == col]
    plot2 = dict(plot, y=[y0, {"metric": "copy", "column": "copy", "label": y0["label"],
                               "legend": "copy", "panel": 0}])
    (ax2,) = report.render_figure(summ_all + copy, plot2).axes
    labels = [ln.get_label() for ln in ax2.get_lines()]
    assert "not certified (Monte Carlo): 3 drop(s)" in labels
    assert "3 uncertified drop(s)" in ax2.get_title()


def test_block_failure_design_is_a_drawn_point(tmp_path):
    """An L-BCD run stopped by repeated block failures returns its best iterate: a design, drawn
    and averaged like a max_iterations one (its certificate decides "not certified"), while an
    infeasible job stays a failed point."""
    root = tmp_path / "sweep"
    _job(root, "lbcd", 0, "block_failure", [1.0, 2.0, 3.0, 6.0])
    _job(root, "lbcd", 5, "max_iterations", [2.0, 2.0, 2.0, 2.0])
    _job(root, "lbcd", 10, "infeasible")
    rep = report.make_report(root, figure=False)
    assert rep["n_failed"] == 1
    summ = {float(r["x"]): r for r in _read(rep["summary"])}
    assert int(summ[0.0]["n"]) == 4 and float(summ[0.0]["mean"]) == 3.0
    assert int(summ[0.0]["n_failed_jobs"]) == 0
    assert int(summ[10.0]["n"]) == 0 and int(summ[10.0]["n_failed_jobs"]) == 1


def test_shared_design_points_are_named_in_the_table(tmp_path):
    """Jobs that evaluated one design on every drop (``scheme.shared_design``) are listed under
    the table's heading, with what their interval is over; other jobs are not."""
    root = tmp_path / "sweep"
    d = _job(root, "lbcd", 0, "converged", [1.0, 2.0, 3.0, 4.0])
    m = jio.read_json(d / "metrics.json")
    m["design_info"] = {"shared_design": True}
    jio.write_json_atomic(d / "metrics.json", m)
    d = _job(root, "ts", 0, "closed_form", [1.0, 1.0, 1.0, 1.0])
    m = jio.read_json(d / "metrics.json")
    m["design_info"] = {"shared_design": False}
    jio.write_json_atomic(d / "metrics.json", m)
    table = report.make_report(root, figure=False)["table"].read_text()
    head = table.split("|")[0]
    assert "shared_design=true" in head and "`p=0,scheme=lbcd`" in head
    assert "scheme=ts" not in head
    only = tmp_path / "only"
    d = _job(only, "lbcd", 0, "converged", [1.0, 2.0, 3.0, 4.0])
    m = jio.read_json(d / "metrics.json")
    m["design_info"] = {"shared_design": True}
    jio.write_json_atomic(d / "metrics.json", m)
    assert "not over designs: every job here" in \
        report.make_report(only, figure=False)["table"].read_text()
    plain = tmp_path / "plain"
    _job(plain, "ts", 0, "closed_form", [1.0, 1.0, 1.0, 1.0])
    assert "shared_design" not in report.make_report(plain, figure=False)["table"].read_text()
