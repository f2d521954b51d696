"""Figure configs (conf/sweep/*.yaml, conf/sweep/quick/*.yaml) and the report's plot kinds.

* every figure config and quick variant composes, names its sweep dir, and every job of its
  sweep validates (Hydra's own sweep parser expands the jobs);
* each plot kind renders from a synthetic sweep dir (fake run dirs with metrics.json /
  design.npz in the layout of docs/run_directory.md): axis labels, artists and the plotted
  values are checked against independent NumPy computations in the test;
* quick variants run end to end (real run_job, ``scheme=mrt``) into tmp_path: one point of every
  one of them in the default run, all their points behind ``-m slow``.
"""

import csv
import functools
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from experiments import figures, report
from jisac import io as jio
from jisac.config import job_from_dict

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
FIGURES = sorted(p.relative_to(CONF / "sweep").with_suffix("").as_posix()
                 for p in (CONF / "sweep").rglob("*.yaml"))
PAPER_FIGURES = [f"tris_fig{i}" for i in range(5, 13)] + [f"sim_fig{i}" for i in range(1, 10)]


# --------------------------------------------------------------------------------------------
# configs


@functools.lru_cache(maxsize=None)
def _compose_cached(overrides: tuple):
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
    finally:
        GlobalHydra.instance().clear()


def _compose(overrides):
    return _compose_cached(tuple(overrides))


def _jobs(cfg):
    """Every job's override list, expanded by Hydra's basic sweeper (as the sweep does)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    args = [f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()]
    parser = OverridesParser.create()
    return [[(o.key_or_group, o.value()) for o in parser.parse_overrides(list(job))]
            for job in BasicSweeper.split_arguments(parser.parse_overrides(args), None)[0]]


def _apply(plain, overrides):
    """A composed job dict with one job's overrides: dotted keys set, groups merged from their
    option file (scheme=, tris_n=, sim_eves=) -- Hydra's semantics for these flat groups."""
    d = OmegaConf.create(plain)
    for k, v in overrides:
        if "." in k:
            OmegaConf.update(d, k, v, merge=False)
        elif k == "scheme":
            d.scheme = OmegaConf.load(CONF / "scheme" / f"{v}.yaml")
        else:
            opt = OmegaConf.load(CONF / k / f"{v}.yaml")
            d.scenario = OmegaConf.merge(d.scenario, opt)
    return OmegaConf.to_container(d, resolve=True)


def test_every_paper_figure_has_a_config_and_a_quick_variant():
    for name in PAPER_FIGURES:
        assert name in FIGURES and f"quick/{name}" in FIGURES


@pytest.mark.parametrize("name", FIGURES)
def test_figure_config_composes_and_every_job_validates(name):
    cfg = _compose([f"+sweep={name}"])
    assert cfg.sweep.name == name and cfg.hydra.sweep.dir == f"multirun/{name}"
    meta = OmegaConf.to_container(cfg.sweep, resolve=True)
    plot_kind = meta.get("plot", "line")
    assert plot_kind in report.PLOT_KINDS
    assert meta["title"] and meta["x_label"] and meta["y"]
    for y in meta["y"]:
        assert y["metric"] and y["label"]
        report.value_column(y)  # a bad reduce raises
    plain = OmegaConf.to_container(cfg, resolve=False)
    del plain["hydra"]
    jobs = _jobs(cfg)
    assert jobs
    for ovs in jobs:
        job = job_from_dict(_apply(plain, ovs))
        flat = OmegaConf.create(job.to_dict())
        assert OmegaConf.select(flat, meta["x"]) is not None, f"sweep.x={meta['x']} is not a config key"
        for k in meta.get("series") or []:
            assert OmegaConf.select(flat, k) is not None
    if not name.startswith("quick/"):
        # the last value of every swept key goes through Hydra's own override grammar
        last = [f"{k}={str(v).split(',')[-1]}" for k, v in cfg.hydra.sweeper.params.items()]
        _compose([f"+sweep={name}"] + last)
    else:
        full = _compose([f"+sweep={name.split('/', 1)[1]}"])
        assert OmegaConf.to_container(full.sweep)["y"] == meta["y"]  # the same figure
        assert full.sweep.get("plot", "line") == plot_kind
        assert cfg.n_drops <= 2 and cfg.mc_draws <= 10_000 and len(jobs) <= 14
        assert set(full.hydra.sweeper.params) <= set(cfg.hydra.sweeper.params)


# --------------------------------------------------------------------------------------------
# synthetic sweep dirs


def _job(root, name, params, status="optimal", drops=None, design=None, meta=None, extra=None,
         n_drops=None):
    """A run dir: config.yaml (scenario/scheme dicts from dotted params), metrics.json."""
    d = root / name
    cfg = {"scenario": {"kind": "tris_rsma"}, "scheme": {"name": "mrt"}, "seed": 0,
           "n_drops": n_drops or (len(drops) if drops else 2), "job_seed": 1, "sweep": meta or {}}
    for k, v in params.items():
        node = cfg
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    jio.write_yaml_atomic(d / "config.yaml", cfg)
    m = {"status": status, "job_seed": 1, "complete": True}
    if drops is not None:
        m["drops"] = drops
    m.update(extra or {})
    jio.write_json_atomic(d / "metrics.json", m)
    if design is not None:
        jio.write_npz_atomic(d / "design.npz", design)
    return d


def _plot(root):
    c, plot, summ, draw = report.build(root)
    return c, plot, summ, draw()


def _lines(ax):
    return {ln.get_label(): ln for ln in ax.get_lines()}


def test_line_panels_reduce_index_scale_and_reference_lines(tmp_path):
    meta = {"name": "t", "title": "T", "x": "scenario.p_t_dbm", "x_label": "P [dBm]",
            "series": ["scheme.name"], "ncols": 2,
            "y": [{"metric": "det", "reduce": "min", "label": "P_D", "legend": "worst", "panel": 0},
                  {"metric": "det", "reduce": "mean", "label": "P_D", "legend": "mean", "panel": 0},
                  {"metric": "tau", "index": 1, "scale": 10.0, "label": "tau1 x10", "panel": 1,
                   "title": "(b)"}],
            "hlines": [{"param": "scenario.p_d", "label": "target", "panel": 0}]}
    rng = np.random.default_rng(0)
    vals = {}
    for p in (0.0, 5.0):
        det = rng.uniform(0.5, 1.0, size=(3, 4, 2))  # 3 drops of (L=4, M=2)
        tau = rng.uniform(0, 1, size=(3, 3))
        vals[p] = (det, tau)
        _job(tmp_path, f"p={p}", {"scenario.p_t_dbm": p, "scenario.p_d": 0.9}, meta=meta,
             drops=[{"det": det[i].tolist(), "tau": tau[i].tolist()} for i in range(3)])
    _job(tmp_path, "p=10", {"scenario.p_t_dbm": 10.0, "scenario.p_d": 0.9}, status="infeasible",
         meta=meta, n_drops=3)
    c, plot, summ, fig = _plot(tmp_path)
    a0, a1 = [ax for ax in fig.axes if ax.get_visible()]
    assert a0.get_xlabel() == a1.get_xlabel() == "P [dBm]"
    assert a0.get_ylabel() == "P_D" and a1.get_ylabel() == "tau1 x10" and a1.get_title() == "(b)"
    lines = _lines(a0)
    np.testing.assert_allclose(lines["mrt: worst"].get_xdata(), [0.0, 5.0])
    ref_min = [np.mean([vals[p][0][i].min() for i in range(3)]) for p in (0.0, 5.0)]
    ref_mean = [np.mean([vals[p][0][i].mean() for i in range(3)]) for p in (0.0, 5.0)]
    np.testing.assert_allclose(lines["mrt: worst"].get_ydata(), ref_min, rtol=1e-12)
    np.testing.assert_allclose(lines["mrt: mean"].get_ydata(), ref_mean, rtol=1e-12)
    assert lines["mrt: worst"].get_linestyle() != lines["mrt: mean"].get_linestyle()
    np.testing.assert_allclose(lines["target"].get_ydata(), [0.9, 0.9])
    assert "target" not in _lines(a1)  # limited to panel 0
    np.testing.assert_allclose(_lines(a1)["mrt"].get_ydata(),
                               [10.0 * vals[p][1][:, 1].mean() for p in (0.0, 5.0)], rtol=1e-12)
    assert any(k.startswith("failed") for k in lines)  # the infeasible job at x = 10
    # results.csv carries the derived per-drop columns
    rep = report.make_report(tmp_path)
    rows = list(csv.DictReader(open(rep["csv"])))
    r = next(r for r in rows if r["scenario.p_t_dbm"] == "5.0" and r["drop"] == "2")
    assert float(r["det[min]"]) == pytest.approx(vals[5.0][0][2].min(), rel=1e-12)
    assert float(r["tau[1,x10]"]) == pytest.approx(10 * vals[5.0][1][2, 1], rel=1e-12)
    table = rep["table"].read_text()
    assert "### det[min]" in table and "failed (infeasible)" in table


def test_scaled_entry_of_a_top_level_per_drop_list(tmp_path):
    # `utility` is a top-level list with one scalar per drop (not inside drops[i]); a derived
    # entry (scale) must read it per drop, as results.csv's plain column does (004 Fig. 1 plots
    # -U on a log axis)
    meta = {"name": "t", "x": "scenario.p_t_dbm", "series": ["scheme.name"],
            "y": [{"metric": "utility", "scale": -1.0, "logy": True, "label": "-U"}]}
    u = {0.0: [-0.5, -2.0, -8.0], 5.0: [-0.25, -0.75, -1.0]}
    for p, vals in u.items():
        _job(tmp_path, f"p={p}", {"scenario.p_t_dbm": p}, meta=meta,
             drops=[{"other": 1.0}] * 3, extra={"utility": vals})
    c, plot, summ, fig = _plot(tmp_path)
    (ax,) = fig.axes
    np.testing.assert_allclose(_lines(ax)["mrt"].get_ydata(), [3.5, 2.0 / 3.0], rtol=1e-12)
    assert ax.get_yscale() == "log"
    rows = list(csv.DictReader(open(report.make_report(tmp_path)["csv"])))
    r = next(r for r in rows if r["scenario.p_t_dbm"] == "0.0" and r["drop"] == "2")
    assert float(r["utility[x-1]"]) == 8.0 and float(r["utility"]) == -8.0


def test_x_from_design_metric_and_from_list_length(tmp_path):
    meta = {"name": "t", "x": "scenario.eps_iu_factor", "x_label": "tau^2 norm",
            "x_metric": {"source": "design", "key": "tau", "power": 2, "normalise_by": "G_hat"},
            "series": ["scheme.name"], "y": [{"metric": "see", "label": "SEE"}]}
    rng = np.random.default_rng(1)
    ref = {}
    for e in (0.1, 0.2):
        tau = rng.uniform(0.5, 2.0, size=(2, 2))                      # (D, M)
        G = rng.normal(size=(2, 2, 4)) + 1j * rng.normal(size=(2, 2, 4))
        ref[e] = np.mean([[tau[d, m] ** 2 / sum(abs(G[d, m, n]) ** 2 for n in range(4))
                           for m in range(2)] for d in range(2)])
        _job(tmp_path, f"e={e},s=a", {"scenario.eps_iu_factor": e, "scheme.name": "a"}, meta=meta,
             drops=[{"see": 1.0}, {"see": 2.0}], design={"tau": tau, "G_hat": G})
    _job(tmp_path, "e=0.2,s=b", {"scenario.eps_iu_factor": 0.2, "scheme.name": "b"},
         status="error: boom", meta=meta, n_drops=2)
    c, plot, summ, fig = _plot(tmp_path)
    (ax,) = fig.axes
    # points sorted by the plotted x (tau^2 need not grow with the seeded draws here)
    np.testing.assert_allclose(_lines(ax)["a"].get_xdata(), sorted([ref[0.1], ref[0.2]]), rtol=1e-12)
    (failed,) = [ln for k, ln in _lines(ax).items() if k.startswith("failed")]
    np.testing.assert_allclose(failed.get_xdata(), [ref[0.2]], rtol=1e-12)  # same-parameter x
    assert ax.get_xlabel() == "tau^2 norm"

    root = tmp_path / "len"
    meta2 = {"name": "t", "x": "scenario.eve_positions", "x_metric": {"source": "length"},
             "x_label": "E", "series": ["scheme.name"], "y": [{"metric": "p", "label": "P"}],
             "hlines": [{"value": 0.1, "label": "eps_out"}]}
    for e in (1, 3):
        _job(root, f"e{e}", {"scenario.eve_positions": [[20.0, 0.0, 25.0]] * e}, meta=meta2,
             drops=[{"p": 0.01 * e}, {"p": 0.02 * e}])
    _, _, _, fig = _plot(root)
    lines = _lines(fig.axes[0])
    np.testing.assert_allclose(lines["mrt"].get_xdata(), [1.0, 3.0])
    np.testing.assert_allclose(lines["mrt"].get_ydata(), [0.015, 0.045], rtol=1e-12)
    np.testing.assert_allclose(lines["eps_out"].get_ydata(), [0.1, 0.1])


def test_history_pads_averages_and_draws_references(tmp_path):
    meta = {"name": "t", "plot": "history", "title": "conv", "x": "scenario.n_elements",
            "x_label": "BCD iteration", "series": ["scenario.n_elements"],
            "y": [{"metric": "objective_history", "label": "obj [bps/Hz]"}]}
    h16 = [[1.0, 2.0, 2.5], [1.5, 2.5]]           # drop 1 converged earlier: padded with 2.5
    h36 = [[2.0, 3.0, 3.5, 3.6], [2.0, 3.2, 3.4, 3.6]]
    _job(tmp_path, "n16", {"scenario.n_elements": 16}, meta=meta, n_drops=2,
         extra={"objective_history": h16})
    _job(tmp_path, "n36", {"scenario.n_elements": 36}, meta=meta, n_drops=2,
         extra={"objective_history": h36})
    _job(tmp_path, "n64", {"scenario.n_elements": 64}, meta=meta, n_drops=2, status="infeasible")
    c, plot, summ, fig = _plot(tmp_path)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "BCD iteration" and ax.get_ylabel() == "obj [bps/Hz]"
    lines = _lines(ax)
    np.testing.assert_allclose(lines["16"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(lines["16"].get_ydata(), [1.25, 2.25, 2.5], rtol=1e-12)
    np.testing.assert_allclose(lines["36"].get_ydata(), [2.0, 3.1, 3.45, 3.6], rtol=1e-12)
    assert len(ax.collections) == 2  # CI bands
    assert "1 failed job(s)" in ax.get_title()
    n64 = [s for s in summ if s["series"] == "64"]
    assert n64 and all(s["n"] == 0 and s["n_failed_jobs"] == 1 for s in n64)

    # normalised gap with O(1/t), O(1/sqrt t) references through the first point
    root = tmp_path / "gap"
    meta2 = {**meta, "transform": "normalised_gap", "logy": True, "series": ["scheme.name"],
             "x": "scheme.name", "x_label": "Iteration t",
             "references": [{"rate": "1/t", "label": "O(1/t)"}, {"rate": "1/sqrt(t)", "label": "O(1/sqrt t)"}]}
    hs = [[0.0, 0.5, 0.75, 1.0], [1.0, 2.0, 2.5, 3.0]]
    _job(root, "lbcd", {"scheme.name": "lbcd"}, meta=meta2, n_drops=2, extra={"objective_history": hs})
    _, _, summ, fig = _plot(root)
    (ax,) = fig.axes
    lines = _lines(ax)
    gaps = [[(max(h) - v) / (max(h) - h[0]) for v in h] for h in hs]   # independent
    ref = np.mean(gaps, axis=0)
    # the final gap is 0: kept in the summary, not drawn on the log axis
    np.testing.assert_allclose([r["mean"] for r in summ], ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(lines["lbcd"].get_ydata(), np.where(ref > 0, ref, np.nan), rtol=1e-12)
    t = np.arange(1, 5)
    np.testing.assert_allclose(lines["O(1/t)"].get_ydata(), ref[0] / t, rtol=1e-12)
    np.testing.assert_allclose(lines["O(1/sqrt t)"].get_ydata(), ref[0] / np.sqrt(t), rtol=1e-12)
    assert ax.get_yscale() == "log"


def test_normalised_gap_and_padding_helpers():
    np.testing.assert_allclose(figures.normalised_gap(np.array([3.0, 2.0, 1.0]), "min"), [1.0, 0.5, 0.0])
    assert np.all(np.isnan(figures.normalised_gap(np.array([2.0, 1.0]), "max")))  # f_1 is best
    out = figures.pad_last([np.array([1.0]), np.zeros(0)], 3)
    np.testing.assert_array_equal(out[0], [1.0, 1.0, 1.0])
    assert np.all(np.isnan(out[1]))


def test_slots_grouped_bars(tmp_path):
    meta = {"name": "t", "plot": "slots", "x": "scenario.n_elements", "x_label": "Time slot l",
            "series": ["scheme.name"], "ncols": 2,
            "y": [{"metric": "slot_time_s", "scale": 1000.0, "label": "t_l [ms]"},
                  {"metric": "slot_power_w", "scale": 1000.0, "label": "p_l [mW]"}]}
    rng = np.random.default_rng(2)
    data = {}
    for s in ("rsma", "trsma"):
        t = rng.uniform(0.5e-3, 3.5e-3, size=(3, 5))
        pw = rng.uniform(0, 16e-3, size=(3, 5))
        data[s] = (t, pw)
        _job(tmp_path, s, {"scheme.name": s, "scenario.n_elements": 36}, meta=meta,
             drops=[{"slot_time_s": t[i].tolist(), "slot_power_w": pw[i].tolist()} for i in range(3)])
    _, _, summ, fig = _plot(tmp_path)
    a0, a1 = [ax for ax in fig.axes if ax.get_visible()]
    assert a0.get_xlabel() == "Time slot l" and a0.get_ylabel() == "t_l [ms]"
    assert a1.get_ylabel() == "p_l [mW]"
    for ax, k in ((a0, 0), (a1, 1)):
        bars = ax.patches
        assert len(bars) == 2 * 5
        heights = sorted(b.get_height() for b in bars)
        ref = sorted(np.concatenate([1000 * data[s][k].mean(axis=0) for s in ("rsma", "trsma")]))
        np.testing.assert_allclose(heights, ref, rtol=1e-12)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["rsma", "trsma"]


def test_beampattern_peaks_at_the_steered_direction(tmp_path):
    from jisac.geometry import upa_steering

    rows = cols = 4
    pitch = np.deg2rad(20.0)
    steer = [30.0, 45.0, 60.0, 75.0]                        # slot l beams at steer[l]
    W = np.zeros((2, 4, rows * cols, 2), complex)          # (D, L, N, K+1)
    for l, az in enumerate(steer):
        W[:, l, :, 0] = np.asarray(upa_steering(pitch, np.deg2rad(az), rows, cols, 0.5)) / 4.0
    meta = {"name": "t", "plot": "beampattern", "title": "bp", "x": "scenario.n_elements",
            "x_label": "Azimuth [deg]", "select": {"scheme.name": "rsma"}, "slots": [2, 3, 4],
            "n_azimuth": 181, "y": [{"metric": "beampattern_rel_error", "label": "e"}]}
    params = {"scheme.name": "rsma", "scenario.n_rows": rows, "scenario.n_cols": cols,
              "scenario.n_elements": 16, "scenario.spacing_over_lambda": 0.5,
              "scenario.scan_pitch_deg": 20.0,
              "scenario.lu_positions": [[50.0, 45.0, 20.0]], "scenario.iu_positions": [[65.0, 35.0, 25.0]]}
    _job(tmp_path, "mrt", {**params, "scheme.name": "mrt"}, meta=meta, drops=[{}, {}],
         design={"W": np.zeros_like(W)})                  # not selected
    _job(tmp_path, "rsma", params, meta=meta, drops=[{}, {}],
         design={"W": W, "t": np.full((2, 4), 2.5e-3)})
    _, _, summ, fig = _plot(tmp_path)
    peaks = {s["x"]: s["mean"] for s in summ if s["metric"] == "peak_azimuth_deg"}
    assert peaks == {2: 45.0, 3: 60.0, 4: 75.0}            # grid step 0.5 deg hits them exactly
    # at the LU (on the cut, azimuth 45 deg): |a_lu^H a_l|^2 / 16 relative to the peak 16^2 / 16
    a_lu = np.asarray(upa_steering(pitch, np.deg2rad(45.0), rows, cols, 0.5))
    lu = {s["x"]: s["mean"] for s in summ if s["metric"] == "pattern_at_lu_db"}
    for l in (2, 3, 4):
        a_l = np.asarray(upa_steering(pitch, np.deg2rad(steer[l - 1]), rows, cols, 0.5))
        ref = 10 * np.log10(abs(np.sum(np.conj(a_lu) * a_l)) ** 2 / 16 / 16)
        assert lu[l] == pytest.approx(ref, abs=1e-9)
    assert lu[2] == pytest.approx(0.0, abs=1e-9)
    a1, a2 = fig.axes[:2]
    assert a1.get_xlabel() == "Azimuth [deg]" and "dB" in a1.get_ylabel()
    assert a2.get_ylabel() == "Pitch [deg]"
    labels = [ln.get_label() for ln in a1.get_lines()]
    assert labels[:3] == ["slot 2", "slot 3", "slot 4"] and "LU" in labels and "IU" in labels
    assert len(a2.collections) >= 1                         # the 2-D map


def test_ratio_gain_with_delta_method_ci(tmp_path):
    meta = {"name": "t", "plot": "ratio", "x": "scenario.n_layers", "x_label": "L",
            "ratio": {"key": "scheme.name", "numerator": "lbcd", "denominator": "sl_ris"},
            "y": [{"metric": "r", "label": "gain [%]", "legend": "secrecy"},
                  {"metric": "crb", "better": "lower", "label": "gain [%]", "legend": "sensing"}]}
    num = {2: ([3.0, 5.0], [1.0, 2.0]), 3: ([6.0, 8.0], [0.5, 1.5])}
    den = {2: ([2.0, 2.0 + 1e-1], [2.0, 3.0]), 3: ([3.0, 4.0], [2.0, 2.0 + 1e-1])}
    for L in (2, 3):
        for s, src in (("lbcd", num), ("sl_ris", den)):
            r, crb = src[L]
            _job(tmp_path, f"L{L}{s}", {"scenario.n_layers": L, "scheme.name": s}, meta=meta,
                 drops=[{"r": r[i], "crb": crb[i]} for i in range(2)])
    _, _, summ, fig = _plot(tmp_path)
    (ax,) = fig.axes
    lines = _lines(ax)

    def gain(a, b):
        ma, mb = sum(a) / 2, sum(b) / 2
        va = sum((v - ma) ** 2 for v in a) / 1
        vb = sum((v - mb) ** 2 for v in b) / 1
        se = math.sqrt(va / (2 * ma ** 2) + vb / (2 * mb ** 2))
        r = ma / mb
        return 100 * (r - 1), 100 * (r * math.exp(-1.959963984540054 * se) - 1), 100 * (r * math.exp(1.959963984540054 * se) - 1)

    sec = [gain(num[L][0], den[L][0]) for L in (2, 3)]
    sen = [gain(den[L][1], num[L][1]) for L in (2, 3)]       # lower is better: inverted
    np.testing.assert_allclose(lines["lbcd over sl_ris: secrecy"].get_ydata(), [g[0] for g in sec], rtol=1e-12)
    np.testing.assert_allclose(lines["lbcd over sl_ris: sensing"].get_ydata(), [g[0] for g in sen], rtol=1e-12)
    row = next(s for s in summ if s["metric"] == "r" and s["x"] == 3)
    assert (row["ci95_lo"], row["ci95_hi"]) == pytest.approx(sec[1][1:], rel=1e-12)
    assert ax.get_xlabel() == "L" and ax.get_ylabel() == "gain [%]"


def test_metric_lookup_paths():
    m = {"drops": [{"a": [1.0, 3.0]}, {"a": [2.0, 6.0]}],
         "certificate": [{"secrecy_outage": [0.1, 0.3]}, {"secrecy_outage": [0.2, 0.0]}],
         "objective_history": [[1.0, 2.0], [3.0]], "solver": {"iterations": 4}}
    assert report.raw_drop_values(m, 2, "a") == [[1.0, 3.0], [2.0, 6.0]]
    assert report.raw_drop_values(m, 2, "certificate.secrecy_outage") == [[0.1, 0.3], [0.2, 0.0]]
    assert report.raw_drop_values(m, 2, "objective_history") == [[1.0, 2.0], [3.0]]
    assert report.raw_drop_values(m, 2, "solver.iterations") == [4, 4]
    assert report.raw_drop_values(m, 2, "missing") == [None, None]
    assert report.reduce_value([0.1, 0.3], {"reduce": "max"}) == 0.3
    assert report.reduce_value([[1.0, 2.0], [3.0, 4.0]], {"index": [1, 0], "scale": 2.0}) == 6.0
    assert report.reduce_value([1.0, 2.0], {}) is None                  # not a scalar
    assert report.reduce_value({"re": 3.0, "im": 4.0}, {}) == 5.0


# --------------------------------------------------------------------------------------------
# quick variants end to end (real run_job; mrt is the fast closed-form scheme of both kinds)


def _main(argv, monkeypatch):
    import experiments.sweep as sweep_mod

    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["sweep.py", *argv, "hydra/job_logging=none",
                                      "hydra/hydra_logging=none"])
    try:
        sweep_mod.main()
        return 0
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    finally:
        GlobalHydra.instance().clear()


def _run_quick(name, tmp_path, monkeypatch, extra=()):
    out = tmp_path / name
    monkeypatch.setenv("JISAC_PROGRESS", "0")
    code = _main(["-m", f"+sweep=quick/{name}", "scheme=mrt", f"hydra.sweep.dir={out}", *extra],
                 monkeypatch)
    assert code == 0
    for f in ("results.csv", "summary.csv", "table.md", "figure.png", "figure.pdf"):
        assert (out / f).is_file(), f
    rep = report.make_report(out)  # re-render: the callback's report must not have failed
    assert rep["n_failed"] == 0 and rep["n_jobs"] >= 1
    return out, rep


def test_quick_tris_fig12_end_to_end(tmp_path, monkeypatch):
    out, rep = _run_quick("tris_fig12", tmp_path, monkeypatch)
    summ = list(csv.DictReader(open(rep["summary"])))
    t = [s for s in summ if s["metric"] == "slot_time_s[x1000]"]
    assert len(t) == 5 and all(int(s["n"]) == 2 for s in t)
    # durations of a frame sum to T = 10 ms (34e): the plotted means must too
    assert sum(float(s["mean"]) for s in t) == pytest.approx(10.0, rel=1e-9)


# One point of every quick variant in the default run (the 17 figure pipelines: Hydra sweep
# config -> job -> results.csv / summary.csv / table.md -> figure), at the quick scenario's base
# value of the swept key; all points of all quick variants run under ``-m slow`` below. The
# nine SIM points share one scenario, so after the first the evaluation / certification /
# phase-loss kernels come from the JAX compilation cache (jisac.runtime, set up in conftest)
# instead of being recompiled -- that keeps these 16 jobs at a few minutes on the CI machine.
ONE_POINT = {
    "tris_fig5": ["tris_n=n9"], "tris_fig6": ["scenario.p_t_dbm=0.0"], "tris_fig7": ["tris_n=n9"],
    "tris_fig8": ["scenario.eps_iu_factor=0.1"], "tris_fig9": ["tris_n=n9"],
    "tris_fig10": ["scenario.p_t_dbm=0.0"], "tris_fig11": [],        # (fig12: test above)
    "sim_fig1": ["scenario.p_bs_max_dbm=30.0"], "sim_fig2": ["scenario.alpha=0.5"],
    "sim_fig3": ["scenario.csi_error_bound=0.05"], "sim_fig4": ["scenario.n_layers=2"],
    "sim_fig5": [], "sim_fig6": ["scenario.energy_budget_uj=316.2"],
    "sim_fig7": ["scenario.p_bs_max_dbm=30.0"], "sim_fig8": ["sim_eves=e2"],
    "sim_fig9": ["scenario.phase_bits=3"],
}


def test_one_point_table_covers_every_figure():
    assert sorted(ONE_POINT) == sorted(set(PAPER_FIGURES) - {"tris_fig12"})


@pytest.mark.parametrize("name", sorted(ONE_POINT))
def test_quick_variant_one_point_with_mrt(name, tmp_path, monkeypatch):
    out, rep = _run_quick(name, tmp_path, monkeypatch, extra=ONE_POINT[name])
    assert rep["n_jobs"] == 1
    assert rep["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    rows = list(csv.DictReader(open(rep["summary"])))
    (mfile,) = out.glob("*/metrics.json")
    metrics = jio.read_json(mfile)
    emitted = {k for d in (metrics, metrics["drops"][0]) for k, v in d.items() if v not in (None, [])}
    emitted |= {"certificate." + k for k in metrics["certificate"][0]}
    for r in rows:
        # every summarised metric of the figure appears in the table to quote; a point without
        # values (n = 0) only where the job does not emit that metric (mrt: no utility, no history)
        assert r["metric"] in table
        base = r["metric"].split("[")[0]
        assert int(r["n"]) >= 1 or base not in emitted, r


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER_FIGURES)
def test_quick_variant_end_to_end_with_mrt(name, tmp_path, monkeypatch):
    out, rep = _run_quick(name, tmp_path, monkeypatch)
    assert rep["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
