"""Plot kinds of ``experiments.report`` beyond ``line`` (selected by ``sweep.plot``).

Each kind is ``kind(collected, plot, sweep_dir) -> (summary_rows, draw)``: the rows go to
summary.csv / table.md (same columns as the line kind: ``metric, series, x, n, mean, std,
ci95_lo, ci95_hi, n_failed_jobs, ...``), ``draw()`` returns the matplotlib figure. Only OK jobs
(``experiments.report.OK_STATUSES``) give values; failed jobs are counted per series and shown
in the title. Metadata keys of each kind are documented in docs/sweeps.md ("Plot kinds").

* ``history``  a per-drop list metric (``objective_history``) vs iteration, one line per series
  (mean and 95% CI over the drops of the series' jobs); ``transform: normalised_gap`` and
  ``references`` (O(1/t), O(1/sqrt t)) for 004 Fig. 5.
* ``slots``    grouped bars of per-slot array metrics (``slot_time_s``, ``slot_power_w``): one
  group per slot, one bar per series, 95% CI error bars (000 Fig. 12).
* ``beampattern`` one job's design.npz ``W``: per-slot beampattern over the azimuth sector and
  the frame's time-weighted pattern over (azimuth, pitch), LU/IU directions marked (000 Fig. 11).
* ``ratio``    relative gain of one series value over another at each x (004 Fig. 4).
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from experiments import report as rp
from jisac import io as jio


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _selected(jobs: Sequence[Mapping], meta: Mapping) -> list[Mapping]:
    """Jobs matching ``sweep.select`` (``{dotted key: value}``; numbers compared as floats)."""
    sel = meta.get("select") or {}

    def match(j):
        for k, v in sel.items():
            got = j["params"].get(k)
            if rp._num(v) is not None and rp._num(got) is not None:
                if not math.isclose(rp._num(v), rp._num(got), rel_tol=1e-12):
                    return False
            elif rp._cell(got) != rp._cell(v):
                return False
        return True

    return [j for j in jobs if match(j)]


def _series_of(j: Mapping, keys: Sequence[str]) -> str:
    return rp._series_label(j["params"], keys)


def _stat_row(metric: str, series: str, x: Any, vals: Sequence[float], n_failed: int,
              statuses: set) -> dict:
    finite = [v for v in vals if v is not None and math.isfinite(v)]
    m, sd, lo, hi = rp.mean_ci95(finite)
    return {"metric": metric, "series": series, "x": x, "n": len(finite), "mean": m, "std": sd,
            "ci95_lo": lo, "ci95_hi": hi, "n_failed_jobs": n_failed,
            "n_nonfinite_drops": len(vals) - len(finite), "failed_statuses": ";".join(sorted(statuses))}


def _failures(jobs: Sequence[Mapping], keys: Sequence[str]) -> tuple[dict, dict]:
    n, st = defaultdict(int), defaultdict(set)
    for j in jobs:
        if not rp.status_ok(j["status"]):
            s = _series_of(j, keys)
            n[s] += 1
            st[s].add(j["status"])
    return n, st


def _title(ax_or_fig, plot: Mapping, n_failed: int, note: str) -> None:
    text = note + (f"; {n_failed} failed job(s) not shown" if n_failed else "")
    title = plot.get("title") or ""
    text = f"{title}\n{text}" if title else text
    if hasattr(ax_or_fig, "suptitle"):
        ax_or_fig.suptitle(text, fontsize="medium")
    else:
        ax_or_fig.set_title(text, fontsize="medium")


# --------------------------------------------------------------------------------------------
# history


def _histories(j: Mapping, metric: str) -> list[np.ndarray]:
    """Per-drop histories of one job (float arrays, possibly empty)."""
    out = []
    for v in rp.raw_drop_values(j["metrics"], j["n_drops"], metric):
        a = rp._to_array(v)
        out.append(np.ravel(a) if a is not None else np.zeros(0))
    return out


def normalised_gap(h: np.ndarray, sense: str = "max") -> np.ndarray:
    """``(f* - f_t) / (f* - f_1)`` for a maximisation (``sense="min"``: ``(f_t - f*) / (f_1 -
    f*)``), ``f*`` the best value of the run (the converged objective is estimated by the run's
    own best iterate); NaN everywhere when ``f_1`` is already the best (no gap to normalise)."""
    h = np.asarray(h, float)
    if h.size == 0:
        return h
    best = np.max(h) if sense == "max" else np.min(h)
    num = (best - h) if sense == "max" else (h - best)
    den = num[0]
    if not (den > 0 and math.isfinite(den)):
        return np.full(h.shape, np.nan)
    return num / den


def pad_last(hs: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Histories padded to ``length`` with their last value (a converged run stays at its final
    objective); empty histories become NaN rows. Shape (n, length)."""
    out = np.full((len(hs), length), np.nan)
    for i, h in enumerate(hs):
        if h.size:
            out[i, :h.size] = h[:length]
            out[i, h.size:] = h[-1]
    return out


REFERENCE_RATES = {"1/t": lambda t: 1.0 / t, "1/sqrt(t)": lambda t: 1.0 / np.sqrt(t),
                   "1/t^2": lambda t: 1.0 / t ** 2}


def history(c, plot: Mapping, root: Path):
    meta = plot["meta"]
    keys = plot["series"]
    jobs = _selected(c.jobs, meta)
    transform = meta.get("transform")
    sense = str(meta.get("sense", "max"))
    fails, fail_st = _failures(jobs, keys)
    summary, curves = [], {}
    for y in plot["y"]:
        by_series: dict[str, list] = defaultdict(list)
        for j in jobs:
            if not rp.status_ok(j["status"]):
                continue
            for h in _histories(j, y["metric"]):
                h = h * float(y.get("scale", 1.0))
                if transform == "normalised_gap":
                    h = normalised_gap(h, sense)
                by_series[_series_of(j, keys)].append(h)
        for s in fails:
            by_series.setdefault(s, [])
        for s in rp._x_sorted(by_series):
            hs = by_series[s]
            length = max((h.size for h in hs), default=0)
            if meta.get("max_iterations"):
                length = min(length, int(meta["max_iterations"]))
            arr = pad_last(hs, length)
            rows = []
            for t in range(length):
                rows.append(_stat_row(y["column"], s, t + 1, list(arr[:, t]), fails.get(s, 0),
                                      fail_st.get(s, set())))
            if not length:
                rows.append(_stat_row(y["column"], s, math.nan, [], fails.get(s, 0), fail_st.get(s, set())))
            summary.extend(rows)
            curves[(y["column"], s)] = [r for r in rows if r["n"] > 0]

    def draw():
        plt = _mpl()
        fig, flat, _ = rp._subplots(len(plot["y"]), meta.get("ncols", 1), sharex=False)
        for ax, y in zip(flat, plot["y"]):
            first = None
            all_s = list(dict.fromkeys(s for (col, s) in curves if col == y["column"]))
            for i, s in enumerate(all_s):
                pts = curves[(y["column"], s)]
                if not pts:
                    continue
                t = np.array([p["x"] for p in pts], float)
                mean = np.array([p["mean"] for p in pts])
                if plot.get("logy") or y.get("logy"):
                    mean = np.where(mean > 0, mean, np.nan)  # a zero gap has no place on a log axis
                ax.plot(t, mean, "o-", ms=3, color=f"C{i % 10}", label=s or y["metric"])
                ax.fill_between(t, [p["ci95_lo"] for p in pts], [p["ci95_hi"] for p in pts],
                                color=f"C{i % 10}", alpha=0.2, lw=0)
                if first is None:
                    first = (t, mean)
            if first is not None:
                t_all = np.arange(1, int(max(first[0])) + 1, dtype=float)
                for k, ref in enumerate(meta.get("references") or []):
                    f = REFERENCE_RATES[str(ref["rate"])]
                    # through the first mean point, so the decay rates compare by slope
                    c0 = first[1][0] / f(first[0][0])
                    ax.plot(t_all, c0 * f(t_all), color="0.3", linestyle=rp.LINESTYLES[1 + k % 3],
                            lw=1.2, label=str(ref.get("label", ref["rate"])))
            else:
                ax.text(0.5, 0.5, f"no history in {y['metric']!r}", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            ax.set_xlabel(plot["x_label"])
            ax.set_ylabel(y["label"])
            if plot.get("logy") or y.get("logy"):
                ax.set_yscale("log")
            if plot.get("logx"):
                ax.set_xscale("log")
            ax.grid(True, alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small")
        _suptitle_one(fig, flat, plot, sum(fails.values()), "mean and 95% CI over drops")
        fig.tight_layout()
        return fig

    plot["table_x"] = "iteration"
    return summary, draw


def _suptitle_one(fig, flat, plot, n_failed, note):
    if len(flat) == 1:
        _title(flat[0], plot, n_failed, note)
    else:
        _title(fig, plot, n_failed, note)


# --------------------------------------------------------------------------------------------
# slots


def slots(c, plot: Mapping, root: Path):
    meta = plot["meta"]
    keys = plot["series"]
    jobs = _selected(c.jobs, meta)
    fails, fail_st = _failures(jobs, keys)
    summary = []
    for y in plot["y"]:
        per: dict[str, list[np.ndarray]] = defaultdict(list)
        for j in jobs:
            if not rp.status_ok(j["status"]):
                continue
            for v in rp.raw_drop_values(j["metrics"], j["n_drops"], y["metric"]):
                a = rp._to_array(v)
                if a is not None and a.ndim == 1:
                    per[_series_of(j, keys)].append(a * float(y.get("scale", 1.0)))
        for s in fails:
            per.setdefault(s, [])
        for s in rp._x_sorted(per):
            n_slots = max((a.size for a in per[s]), default=0)
            arr = np.full((len(per[s]), n_slots), np.nan)
            for i, a in enumerate(per[s]):
                arr[i, :a.size] = a
            for l in range(n_slots):
                summary.append(_stat_row(y["column"], s, l + 1, list(arr[:, l]), fails.get(s, 0),
                                         fail_st.get(s, set())))
            if not n_slots:
                summary.append(_stat_row(y["column"], s, math.nan, [], fails.get(s, 0), fail_st.get(s, set())))

    def draw():
        _mpl()
        fig, flat, _ = rp._subplots(len(plot["y"]), meta.get("ncols", 1), sharex=False)
        for ax, y in zip(flat, plot["y"]):
            items = [s for s in summary if s["metric"] == y["column"] and s["n"] > 0]
            series = list(dict.fromkeys(s["series"] for s in items))
            width = 0.8 / max(1, len(series))
            for i, name in enumerate(series):
                pts = sorted((s for s in items if s["series"] == name), key=lambda s: s["x"])
                xs = np.array([p["x"] for p in pts], float) - 0.4 + width * (i + 0.5)
                mean = np.array([p["mean"] for p in pts])
                err = np.array([[p["mean"] - p["ci95_lo"] for p in pts],
                                [p["ci95_hi"] - p["mean"] for p in pts]])
                err = np.where(np.isfinite(err), err, 0.0)
                ax.bar(xs, mean, width=width, color=f"C{i % 10}", label=name or y["metric"],
                       yerr=err, capsize=2)
            if not items:
                ax.text(0.5, 0.5, f"no per-slot values of {y['metric']!r}", ha="center",
                        va="center", transform=ax.transAxes, color="0.4")
            else:
                n_slots = int(max(s["x"] for s in items))
                ax.set_xticks(range(1, n_slots + 1))
            ax.set_xlabel(plot["x_label"])
            ax.set_ylabel(y["label"])
            ax.grid(True, axis="y", alpha=0.3)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small")
        _suptitle_one(fig, flat, plot, sum(fails.values()), "mean and 95% CI over drops")
        fig.tight_layout()
        return fig

    plot["table_x"] = "slot"
    return summary, draw


# --------------------------------------------------------------------------------------------
# beampattern


def beampattern_grid(W: np.ndarray, pitch_rad: np.ndarray, azimuth_rad: np.ndarray, n_rows: int,
                     n_cols: int, spacing_over_lambda: float) -> np.ndarray:
    """Per-slot beampattern ``a^H W_l W_l^H a`` (W) of ``W (L, N, K+1)`` on a grid of directions
    (``pitch`` and ``azimuth`` of one shape); shape ``(L,) + grid``. Uses
    :func:`jisac.metrics.detection.beampattern` on ``R_l = W_l W_l^H`` (000 eq. (33))."""
    import jax
    import jax.numpy as jnp

    from jisac.metrics.detection import beampattern

    W = np.asarray(W)
    R = np.einsum("lnk,lmk->lnm", W, np.conj(W))
    f = jax.jit(lambda Rl, th, ph: beampattern(Rl, th, ph, n_rows, n_cols, spacing_over_lambda))
    th, ph = jnp.asarray(pitch_rad), jnp.asarray(azimuth_rad)
    return np.stack([np.asarray(f(jnp.asarray(Rl), th, ph)) for Rl in R])


def _db(p, ref):
    return 10.0 * np.log10(np.maximum(p, 1e-30 * ref) / ref)


def beampattern_kind(c, plot: Mapping, root: Path):
    meta = plot["meta"]

    def usable(jobs):
        return [j for j in jobs if rp.status_ok(j["status"]) and (j["run_dir"] / jio.DESIGN_FILE).is_file()]

    cand = usable(_selected(c.jobs, meta))
    fallback = ""
    if not cand and usable(c.jobs):
        # e.g. a quick run with scheme=mrt: draw what there is, and say so in the title
        cand, fallback = usable(c.jobs), f" (sweep.select {dict(meta.get('select') or {})} matched no completed job)"
    job, d = None, None
    for j in cand:
        try:
            d = jio.read_npz(j["run_dir"] / jio.DESIGN_FILE)
        except (OSError, ValueError):
            continue
        if "W" in d:
            job = j
            break
    summary: list[dict] = []
    if job is None:
        def draw_empty():
            plt = _mpl()
            fig, ax = plt.subplots(figsize=(6.4, 3.6))
            ax.text(0.5, 0.5, "no completed job with design.npz 'W' matches sweep.select",
                    ha="center", va="center", transform=ax.transAxes, color="0.4")
            ax.set_xlabel(plot["x_label"])
            ax.set_ylabel("Normalised beampattern [dB]")
            _title(ax, plot, sum(1 for j in c.jobs if not rp.status_ok(j["status"])), "beampattern")
            return fig

        return summary, draw_empty
    p = job["params"]
    i_drop = int(meta.get("drop", 0))
    W = np.asarray(d["W"])[i_drop]                                     # (L, N, K+1)
    L = W.shape[0]
    t = np.asarray(d["t"])[i_drop] if "t" in d else np.ones(L)
    rows, cols = int(p["scenario.n_rows"]), int(p["scenario.n_cols"])
    sp = float(p["scenario.spacing_over_lambda"])
    az_lo, az_hi = meta.get("azimuth_deg") or [0.0, 90.0]
    pitch_cut = float(meta.get("pitch_deg", p.get("scenario.scan_pitch_deg", 20.0)))
    az = np.linspace(float(az_lo), float(az_hi), int(meta.get("n_azimuth", 181)))
    cut = beampattern_grid(W, np.full(az.shape, np.deg2rad(pitch_cut)), np.deg2rad(az), rows, cols, sp)
    pi_lo, pi_hi = meta.get("pitch_range_deg") or [0.0, 60.0]
    pg = np.linspace(float(pi_lo), float(pi_hi), int(meta.get("n_pitch", 61)))
    PG, AG = np.meshgrid(pg, az, indexing="ij")
    full = beampattern_grid(W, np.deg2rad(PG), np.deg2rad(AG), rows, cols, sp)
    frame = np.tensordot(t / np.sum(t), full, axes=1)                 # time-weighted pattern
    lu = np.asarray(json_list(p.get("scenario.lu_positions")), float).reshape(-1, 3)
    iu = np.asarray(json_list(p.get("scenario.iu_positions")), float).reshape(-1, 3)
    shown = [int(s) for s in (meta.get("slots") or range(1, L + 1)) if 1 <= int(s) <= L]
    ref = float(np.max(cut[[s - 1 for s in shown]])) if shown else 1.0
    name = job["rel"]
    for s in shown:
        pat = cut[s - 1]
        summary.append(_stat_row("peak_azimuth_deg", name, s, [float(az[np.argmax(pat)])], 0, set()))
        for who, pos in (("lu", lu), ("iu", iu)):
            if pos.size:
                vals = beampattern_grid(W[s - 1:s], np.deg2rad(pos[:, 2]), np.deg2rad(pos[:, 1]),
                                        rows, cols, sp)[0]
                summary.append(_stat_row(f"pattern_at_{who}_db", name, s,
                                         [float(np.mean(_db(vals, ref)))], 0, set()))

    def draw():
        plt = _mpl()
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(12.8, 4.2))
        for k, s in enumerate(shown):
            a1.plot(az, _db(cut[s - 1], ref), color=f"C{k % 10}", label=f"slot {s}")
        for lab, pos, style in (("LU", lu, dict(color="green", linestyle="-")),
                                ("IU", iu, dict(color="red", linestyle="--"))):
            for n_i, q in enumerate(pos):
                a1.axvline(q[1], lw=1.0, label=lab if n_i == 0 else None, **style)
        a1.set_xlabel(plot["x_label"])
        a1.set_ylabel(f"Beampattern at pitch {pitch_cut:g}$^\\circ$ [dB, rel. max]")
        a1.set_ylim(bottom=max(-40.0, a1.get_ylim()[0]))
        a1.grid(True, alpha=0.3)
        a1.legend(fontsize="small")
        a1.set_title("(a) beam scanning per slot", fontsize="medium")
        m = a2.pcolormesh(az, pg, _db(frame, float(np.max(frame))), shading="auto", vmin=-30, vmax=0)
        fig.colorbar(m, ax=a2, label="Frame beampattern [dB, rel. max]")
        if lu.size:
            a2.plot(lu[:, 1], lu[:, 2], "o", mfc="none", mec="white", mew=2, ms=9, label="LU",
                    linestyle="none")
        if iu.size:
            a2.plot(iu[:, 1], iu[:, 2], "x", color="red", mew=2, ms=9, label="IU", linestyle="none")
        a2.set_xlabel(plot["x_label"])
        a2.set_ylabel("Pitch [deg]")
        a2.legend(fontsize="small")
        a2.set_title("(b) time-weighted beampattern of the frame", fontsize="medium")
        _title(fig, plot, 0, f"{name}, drop {i_drop}{fallback}")
        fig.tight_layout()
        return fig

    plot["table_x"] = "slot"
    return summary, draw


def json_list(v: Any) -> list:
    """A list-valued config parameter (report cells hold lists as JSON strings)."""
    if isinstance(v, str):
        import json

        return json.loads(v)
    return list(v) if v is not None else []


# --------------------------------------------------------------------------------------------
# ratio


def ratio_stats(num: Sequence[float], den: Sequence[float], lower_is_better: bool = False,
                percent: bool = True) -> tuple[float, float, float, int]:
    """Relative gain ``mean(num)/mean(den) - 1`` (``lower_is_better``: ``mean(den)/mean(num) -
    1``) with a 95% interval by the delta method for independent samples:
    ``se(log r)^2 = s_a^2/(n_a m_a^2) + s_b^2/(n_b m_b^2)``, ``r * exp(+-1.96 se) - 1``.
    Returns ``(gain, lo, hi, n)`` (x100 with ``percent``); NaN interval when a side has < 2 drops."""
    a = np.asarray([v for v in num if v is not None and math.isfinite(v)], float)
    b = np.asarray([v for v in den if v is not None and math.isfinite(v)], float)
    if lower_is_better:
        a, b = b, a
    n = int(min(a.size, b.size))
    if n == 0 or np.mean(b) == 0:
        return math.nan, math.nan, math.nan, 0
    ma, mb = float(np.mean(a)), float(np.mean(b))
    r = ma / mb
    lo = hi = math.nan
    if a.size >= 2 and b.size >= 2 and ma != 0:
        se = math.sqrt(np.var(a, ddof=1) / (a.size * ma ** 2) + np.var(b, ddof=1) / (b.size * mb ** 2))
        lo, hi = r * math.exp(-1.959963984540054 * se) - 1.0, r * math.exp(1.959963984540054 * se) - 1.0
    k = 100.0 if percent else 1.0
    return (r - 1.0) * k, lo * k, hi * k, n


def ratio(c, plot: Mapping, root: Path):
    meta = plot["meta"]
    spec = meta.get("ratio") or {}
    key = str(spec.get("key", "scheme.name"))
    num_v, den_v = spec.get("numerator"), spec.get("denominator")
    percent = bool(spec.get("percent", True))
    rp.add_value_columns(c, plot)
    x = plot["x"]
    by_rel = {j["rel"]: j for j in c.jobs}
    summary = []
    series = f"{num_v} over {den_v}"
    for y in plot["y"]:
        vals: dict[Any, dict] = defaultdict(lambda: {"num": [], "den": [], "failed": set(), "st": set()})
        for r in c.rows:
            j = by_rel[r["run_dir"]]
            side = "num" if rp._cell(j["params"].get(key)) == rp._cell(num_v) else \
                "den" if rp._cell(j["params"].get(key)) == rp._cell(den_v) else None
            if side is None:
                continue
            g = vals[r.get(x)]
            if rp.status_ok(r["status"]):
                v = rp._num(r.get(y["column"]))
                g[side].append(v if v is not None else math.nan)
            else:
                g["failed"].add(r["run_dir"])
                g["st"].add(r["status"])
        for xv, g in vals.items():
            gain, lo, hi, n = ratio_stats(g["num"], g["den"], str(y.get("better", "higher")) == "lower",
                                          percent)
            summary.append({"metric": y["column"], "series": series, "x": xv, "n": n, "mean": gain,
                            "std": math.nan, "ci95_lo": lo if math.isfinite(lo) else gain,
                            "ci95_hi": hi if math.isfinite(hi) else gain,
                            "n_failed_jobs": len(g["failed"]),
                            "n_nonfinite_drops": sum(1 for s in ("num", "den") for v in g[s] if not math.isfinite(v)),
                            "failed_statuses": ";".join(sorted(g["st"])),
                            "n_numerator": len(g["num"]), "n_denominator": len(g["den"])})
    # one panel for all entries unless the metadata groups them (``panel``)
    raw = list(meta.get("y") or [])
    ys = [{**y, "legend": y.get("legend", y["metric"]),
           "panel": (raw[i].get("panel", 0) if i < len(raw) and isinstance(raw[i], Mapping) else 0)}
          for i, y in enumerate(plot["y"])]
    plot_r = {**plot, "y": ys}
    hl = rp.hline_specs(meta, c.jobs)

    def draw():
        _mpl()
        fig = rp.render_figure(summary, plot_r, hl)
        for ax in fig.axes:
            ax.axhline(0.0, color="0.5", lw=0.8)
        return fig

    return summary, draw


KINDS = {"history": history, "slots": slots, "beampattern": beampattern_kind, "ratio": ratio}
