"""Gather a sweep directory into one tidy CSV and render its figure.

    python -m experiments.report multirun/example_power     # also run at the end of every multirun

Writes into the sweep dir (see docs/sweeps.md):

* ``results.csv`` -- one row per job x drop: ``run_dir, status, job_seed, drop``, one column per
  parameter that differs across jobs (dotted config keys, plus every overridden key), one column
  per scalar metric. A metric that is a list of length ``n_drops`` is per-drop (row ``drop=i``
  gets element i); other scalars repeat on every drop row; other lists/dicts of lists are not
  scalars and are left out. Failed and incomplete jobs have rows too, with their status.
* ``summary.csv`` -- per (y metric, series, x): drops used, mean, std, 95% CI, failed jobs.
* ``table.md`` -- the summary as one markdown table per metric (rows x, columns series).
* ``figure.png`` / ``figure.pdf`` -- one panel per y metric: mean over drops with a 95%
  Student-t confidence band per series (legend), failed/infeasible/incomplete jobs as red
  ``x`` markers at their x position with their count in the legend.

The plot kind is ``sweep.plot``: ``line`` (here; y entries may index/reduce/scale array metrics,
share panels, add reference lines, take x from a saved quantity) or ``history``, ``slots``,
``beampattern``, ``ratio`` (``experiments.figures``). Keys: docs/sweeps.md, section 6.

Plot metadata comes from the ``sweep`` node of the jobs' config (``conf/sweep/<name>.yaml``);
without it (ad-hoc ``-m`` sweeps) x is the first varying numeric parameter and y every numeric
metric (at most 4). ``--as <name>`` draws the finished jobs as another figure instead (its
``sweep`` node from ``conf/sweep/<name>.yaml``), written to ``--out`` (default
``<sweep_dir>/as_<name>``) so the sweep's own table and figure stay as they are: e.g. the
beampattern (000 Fig. 11) or slot allocation (Fig. 12) of the ``rsma`` job of a Fig. 6 sweep::

    python -m experiments.report docs/results/2026-11-23_tris_fig6_p0 --as tris_fig11
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from jisac import io as jio

# Statuses of a usable result (the single list for sweep exit codes, CSV and figure). Anything
# else -- "infeasible", "solver_error", "error: ...", "incomplete", unknown new words -- is drawn
# as a failure: a status we do not know is never silently plotted as a good point.
from jisac.jobs import OK_STATUSES  # noqa: E402 -- the library owns the status vocabulary
INCOMPLETE = "incomplete"    # started (run dir exists), no complete metrics.json
NOT_STARTED = "not_started"  # in the sweep's last launch (multirun.yaml), no run dir yet
# Bookkeeping metrics: kept in results.csv, never inferred as y metrics, never per-drop.
BOOKKEEPING = ("status", "job_seed", "drops_seed", "complete", "wall_time_s", "started_utc", "finished_utc",
               "host", "jisac_version", "resumed")
# metrics.json subtrees that describe how a job ran, not what it measured: not in results.csv
PROVENANCE_KEYS = ("environment",)
FIRST_COLUMNS = ("run_dir", "status", "job_seed", "drop")
CONF_SWEEP_DIR = Path(__file__).resolve().parent.parent / "conf" / "sweep"


def status_ok(status: Any) -> bool:
    return str(status) in OK_STATUSES


# --------------------------------------------------------------------------------------------
# gathering


def _flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def _cell(v: Any) -> Any:
    """Hashable, CSV-friendly form of a config value (lists -> compact JSON)."""
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v, separators=(",", ":"))
    return v


def find_runs(sweep_dir: str | Path) -> list[Path]:
    """Run directories under ``sweep_dir`` (itself included): dirs holding config.yaml,
    metrics.json or a Hydra ``.hydra/config.yaml`` (a job that started but wrote nothing yet).
    Hidden dirs (``.submitit``, ``.hydra``) are not descended into."""
    root = Path(sweep_dir)
    found = []
    stack = [root]
    while stack:
        d = stack.pop()
        if (d / jio.CONFIG_FILE).is_file() or (d / jio.METRICS_FILE).is_file() \
                or (d / ".hydra" / "config.yaml").is_file():
            found.append(d)
        try:
            subs = [p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")]
        except OSError:
            continue
        stack.extend(subs)
    return sorted(found)


def _override_keys(run_dir: Path) -> list[str]:
    p = run_dir / ".hydra" / "overrides.yaml"
    if not p.is_file():
        return []
    try:
        ovs = jio.read_yaml(p) or []
    except Exception:  # noqa: BLE001
        return []
    keys = []
    for o in ovs:
        k = str(o).split("=", 1)[0].lstrip("+~")
        if not k.startswith("hydra") and k != "sweep":
            keys.append(k)
    return keys


def load_job(run_dir: Path) -> dict:
    """One job: its config (flattened), metrics, status and n_drops; never raises on a bad dir."""
    config = metrics = None
    try:
        config, metrics, _ = jio.load_run(run_dir)
    except (OSError, ValueError, FileNotFoundError):
        pass
    if config is None and (run_dir / ".hydra" / "config.yaml").is_file():
        try:
            config = jio.read_yaml(run_dir / ".hydra" / "config.yaml")
        except Exception:  # noqa: BLE001
            config = None
    config = dict(config or {})
    if isinstance(metrics, dict) and metrics.get("complete") is True:
        status = str(metrics.get("status", "unknown"))
    else:
        status, metrics = INCOMPLETE, (metrics if isinstance(metrics, dict) else {})
    sweep_meta = config.pop("sweep", None) or {}
    cfg_seed = config.pop("job_seed", None)
    n_drops = config.get("n_drops", 1)
    n_drops = n_drops if isinstance(n_drops, int) and n_drops >= 1 else 1
    return {
        "run_dir": run_dir,
        "params": _flatten(config),
        "override_keys": _override_keys(run_dir),
        "metrics": metrics,
        "status": status,
        "job_seed": metrics.get("job_seed", cfg_seed),
        "n_drops": n_drops,
        "sweep": sweep_meta,
    }


def _metric_columns(metrics: Mapping[str, Any], n_drops: int) -> tuple[dict, dict]:
    """Split metrics into job-level scalars and per-drop columns (lists of length n_drops).

    A per-drop list of scalars ``k: [v0, v1, ...]`` gives column ``k``; a per-drop list of dicts
    gives one column per scalar leaf, prefixed ``k.`` -- except for ``drops`` (run_job's list of
    per-drop metric dicts), whose leaves keep their plain names and so replace the job-level
    means of the same name on each drop row.
    """
    scalars, per_drop = {}, {}
    metrics = {k: v for k, v in metrics.items() if k not in PROVENANCE_KEYS}
    for k, v in _flatten(metrics).items():
        if k in ("status", "job_seed", "complete"):
            continue
        if _is_scalar(v):
            scalars[k] = v
        elif isinstance(v, dict) and set(v) == {"re", "im"} and all(_is_scalar(x) for x in v.values()):
            scalars[k] = complex(v["re"], v["im"])
        elif isinstance(v, list) and len(v) == n_drops and k not in BOOKKEEPING:
            if all(_is_scalar(x) for x in v):
                per_drop[k] = v
            elif all(isinstance(x, Mapping) for x in v):
                prefix = "" if k == "drops" else f"{k}."
                leaves = [_flatten(x) for x in v]
                for leaf in dict.fromkeys(kk for lf in leaves for kk in lf):
                    col = prefix + leaf
                    if col in ("status", "job_seed", "drop", "run_dir"):
                        col = f"drop_{col}"
                    vals = [lf.get(leaf) for lf in leaves]
                    if all(_is_scalar(x) for x in vals):
                        per_drop[col] = vals
    for k in per_drop:
        scalars.pop(k, None)
    return scalars, per_drop


def _unify_numbers(jobs: list[dict]) -> None:
    """Not-started jobs carry the raw override (``3``); run jobs the validated config value
    (``3.0``, float fields are coerced). Cast ints to float wherever a key holds floats."""
    keys = {k for j in jobs for k in j["params"]}
    for k in keys:
        vals = [j["params"].get(k) for j in jobs]
        if any(isinstance(v, float) for v in vals):
            for j in jobs:
                v = j["params"].get(k)
                if isinstance(v, int) and not isinstance(v, bool):
                    j["params"][k] = float(v)


def expected_jobs(sweep_dir: str | Path) -> list[dict] | None:
    """The jobs of the sweep's last launch, from Hydra's ``multirun.yaml``.

    Returns ``[{"dirname", "overrides": [(key, value), ...]}]`` (dirname relative to the sweep
    dir), or None when it cannot be known: no multirun.yaml, another sweeper than the basic
    one, or job subdirs not named by ``hydra.job.override_dirname``.
    """
    p = Path(sweep_dir) / "multirun.yaml"
    if not p.is_file():
        return None
    try:
        from hydra._internal.config_loader_impl import get_overrides_dirname
        from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
        from hydra.core.override_parser.overrides_parser import OverridesParser
        from omegaconf import OmegaConf

        cfg = OmegaConf.load(p)
        hy = OmegaConf.to_container(cfg.hydra, resolve=False)
        if hy["sweep"].get("subdir") != "${hydra.job.override_dirname}" \
                or not str(hy["sweeper"].get("_target_", "")).endswith("BasicSweeper"):
            return None
        od = hy["job"]["config"]["override_dirname"]
        args = [f"{k}={v}" for k, v in (hy["sweeper"].get("params") or {}).items()]
        args += list(hy["overrides"]["task"])
        parser = OverridesParser.create()
        batches = BasicSweeper.split_arguments(parser.parse_overrides(args), None)[0]
        out = []
        for job in batches:
            ovs = parser.parse_overrides(list(job))
            name = get_overrides_dirname(ovs, list(od.get("exclude_keys") or []),
                                         od.get("item_sep", ","), od.get("kv_sep", "="))
            out.append({"dirname": name or ".",
                        "overrides": [(o.key_or_group, o.value()) for o in ovs
                                      if o.key_or_group not in (od.get("exclude_keys") or [])]})
        default_drops = cfg.get("n_drops", 1) if "n_drops" in cfg else 1
        for e in out:
            e["n_drops"] = dict(e["overrides"]).get("n_drops", default_drops)
        return out
    except Exception:  # noqa: BLE001 -- a report without the pending jobs beats no report
        return None


def varying_keys(jobs: Sequence[dict]) -> list[str]:
    """Dotted config keys whose value differs across jobs, plus every overridden key."""
    all_keys: dict[str, None] = {}
    for j in jobs:
        all_keys.update(dict.fromkeys(j["params"]))
    out = []
    for k in all_keys:
        vals = {_cell(j["params"].get(k, "<missing>")) for j in jobs}
        if len(vals) > 1:
            out.append(k)
    for j in jobs:
        for k in j["override_keys"]:
            for cand in (k, f"{k}.name", f"{k}.kind"):
                if cand in all_keys and cand not in out:
                    out.append(cand)
                    break
    return out


@dataclass
class Collected:
    rows: list[dict]          # one per job x drop
    params: list[str]         # parameter columns (dotted config keys)
    metric_cols: list[str]    # metric columns
    jobs: list[dict]          # see load_job
    meta: dict                # the sweep node (plot metadata), {} for ad-hoc sweeps
    flags: list[str]          # bookkeeping columns after FIRST_COLUMNS (in_last_sweep)

    @property
    def columns(self) -> list[str]:
        return list(FIRST_COLUMNS) + self.flags + self.params + self.metric_cols


def collect(sweep_dir: str | Path, meta: Mapping | None = None, title: str | None = None
            ) -> Collected:
    """Tidy rows (one per job x drop), parameter/metric columns, the jobs and the plot metadata
    (``meta``: a ``sweep`` node that replaces the one recorded in the jobs' configs; ``title``
    replaces its title)."""
    root = Path(sweep_dir)
    jobs = [load_job(d) for d in find_runs(root)]
    if meta is not None:
        for j in jobs:
            j["sweep"] = dict(meta)
    for j in jobs:
        j["rel"] = str(j["run_dir"].relative_to(root)) if j["run_dir"] != root else "."
    expected = expected_jobs(root)
    if expected is not None:
        found = {j["rel"] for j in jobs}
        known = {k for j in jobs for k in j["params"]}
        for e in expected:
            j_in = e["dirname"] in found
            for j in jobs:
                if j["rel"] == e["dirname"]:
                    j["in_last_sweep"] = True
            if j_in:
                continue
            params = {}
            for k, v in e["overrides"]:
                k = next((c for c in (k, f"{k}.name", f"{k}.kind") if c in known), k)
                params[k] = v
            n = e["n_drops"] if isinstance(e["n_drops"], int) and e["n_drops"] >= 1 else 1
            jobs.append({"run_dir": root / e["dirname"], "rel": e["dirname"], "params": params,
                         "override_keys": [], "metrics": {}, "status": NOT_STARTED,
                         "job_seed": None, "n_drops": n, "sweep": {}, "in_last_sweep": True})
        for j in jobs:
            j.setdefault("in_last_sweep", False)
        _unify_numbers(jobs)
    params = varying_keys(jobs)
    meta: dict = {}
    for j in jobs:
        if j["sweep"]:
            meta = dict(j["sweep"])
            break
    if title is not None:
        meta["title"] = title
    for k in _meta_keys(meta):
        if k not in params and any(k in j["params"] for j in jobs):
            params.append(k)
    rows: list[dict] = []
    metric_cols: dict[str, None] = {}
    for j in jobs:
        scalars, per_drop = _metric_columns(j["metrics"], j["n_drops"])
        metric_cols.update(dict.fromkeys(scalars))
        metric_cols.update(dict.fromkeys(per_drop))
        for i in range(j["n_drops"]):
            row = {"run_dir": j["rel"], "status": j["status"], "job_seed": j["job_seed"], "drop": i}
            if expected is not None:
                row["in_last_sweep"] = j["in_last_sweep"]
            for k in params:
                row[k] = _cell(j["params"].get(k))
            row.update(scalars)
            for k, v in per_drop.items():
                row[k] = v[i]
            row["certified"] = drop_certified(row)
            rows.append(row)
    metric_cols["certified"] = None
    metrics = [k for k in metric_cols if k not in FIRST_COLUMNS and k not in params]
    flags = ["in_last_sweep"] if expected is not None else []
    return Collected(rows, params, metrics, jobs, meta, flags)


def drop_certified(row: Mapping) -> bool | None:
    """A drop's Monte-Carlo certificate verdict: the AND of every ``certificate.*certified`` flag
    of the row (SIM: ``certified``; TRIS: ``lu_certified``, ``iu_certified``); ``None`` when
    the job wrote no certificate (failed, not started, or a scheme without one)."""
    flags = [v for k, v in row.items()
             if k.startswith("certificate.") and k.endswith("certified") and isinstance(v, bool)]
    return all(flags) if flags else None


def _meta_keys(meta: Mapping) -> list[str]:
    keys = []
    if meta.get("x"):
        keys.append(str(meta["x"]))
    keys.extend(_as_list(meta.get("series")))
    return keys


def _as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, str):
        return [v]
    return [str(x) for x in v]


def _csv_text(rows: Iterable[Mapping], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# statistics and plot


def mean_ci95(values: Sequence[float]) -> tuple[float, float, float, float]:
    """(mean, sample std, ci_low, ci_high): Student-t 95% interval of the mean over drops.

    n = 1 gives a degenerate interval (lo = hi = mean); n = 0 gives NaNs."""
    x = np.asarray([v for v in values], dtype=float)
    n = x.size
    if n == 0:
        return (math.nan,) * 4
    m = float(x.mean())
    if n == 1:
        return m, math.nan, m, m
    from scipy.stats import t

    s = float(x.std(ddof=1))
    h = float(t.ppf(0.975, n - 1)) * s / math.sqrt(n)
    return m, s, m - h, m + h


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


PLOT_KINDS = ("line", "history", "slots", "beampattern", "ratio")


def _y_spec(y: Any, i: int) -> dict:
    """One y entry of the metadata, normalised (see docs/sweeps.md, "Plot kinds")."""
    if not isinstance(y, Mapping):
        y = {"metric": str(y)}
    spec = dict(y)
    spec["metric"] = str(spec["metric"])
    spec.setdefault("label", spec["metric"])
    spec["label"] = str(spec["label"])
    spec.setdefault("panel", i)
    spec["column"] = spec.get("column") or value_column(spec)
    return spec


def resolve_plot(meta: Mapping, rows: Sequence[Mapping], params: Sequence[str],
                 metric_cols: Sequence[str]) -> dict:
    """Fill in x, series and y of the figure (from the sweep metadata, else inferred).

    Besides x/series/y/title/logx/logy, the result keeps the plot kind (``plot``, default
    ``line``) and every other key of the metadata under ``meta``; each y entry gets ``column``
    (the results.csv column holding its per-drop value) and ``panel``.
    """
    x = meta.get("x")
    if not x:
        numeric = [k for k in params if k != "seed" and all(_num(r.get(k)) is not None for r in rows)]
        x = numeric[0] if numeric else None
    series = _as_list(meta.get("series")) if meta.get("series") is not None else \
        [k for k in params if k != x]
    ys = [_y_spec(y, i) for i, y in enumerate(meta.get("y") or [])]
    if not ys:
        for k in metric_cols:
            if k in BOOKKEEPING:
                continue
            if any(_num(r.get(k)) is not None and not isinstance(r.get(k), str) for r in rows):
                ys.append(_y_spec({"metric": k, "label": k}, len(ys)))
        ys = ys[:4]
    kind = str(meta.get("plot", "line"))
    if kind not in PLOT_KINDS:
        raise ValueError(f"sweep.plot={kind!r}: unknown plot kind; one of {list(PLOT_KINDS)}")
    return {
        "x": x, "x_label": meta.get("x_label", x or "job"), "series": series, "y": ys,
        "title": meta.get("title", meta.get("name", "")),
        "logx": bool(meta.get("logx", False)), "logy": bool(meta.get("logy", False)),
        "kind": kind, "meta": dict(meta),
    }


# --------------------------------------------------------------------------------------------
# values of a metric path per drop (array metrics reduced as the y entry says)

_MISSING = object()
REDUCERS = {"mean": np.mean, "max": np.max, "min": np.min, "sum": np.sum,
            "norm": lambda a: float(np.sqrt(np.sum(np.abs(a) ** 2)))}


def _get_path(d: Any, path: str) -> Any:
    cur = d
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return _MISSING
    return cur


def raw_drop_values(metrics: Mapping, n_drops: int, path: str) -> list:
    """Per-drop raw values (any shape, ``None`` where absent) of a dotted metric path.

    Looked up, in order: in every ``drops[i]`` (run_job's per-drop dicts); in a top-level list
    of length ``n_drops`` (``certificate.lu_outage`` -> ``certificate[i]["lu_outage"]``,
    ``objective_history`` as one list per drop, ``utility`` as one scalar per drop: the rule of
    results.csv's per-drop columns); else the job-level value, repeated."""
    drops = metrics.get("drops")
    if isinstance(drops, list) and len(drops) == n_drops:
        vals = [_get_path(dr, path) for dr in drops]
        if any(v is not _MISSING for v in vals):
            return [None if v is _MISSING else v for v in vals]
    head, _, rest = path.partition(".")
    v = metrics.get(head, _MISSING)
    if isinstance(v, list) and len(v) == n_drops and (
            rest or all(isinstance(e, (list, Mapping)) or _is_scalar(e) for e in v)):
        out = [(_get_path(e, rest) if rest else e) for e in v]
        return [None if e is _MISSING else e for e in out]
    v = _get_path(metrics, path)
    return [None if v is _MISSING else v] * n_drops


def _to_array(v: Any) -> np.ndarray | None:
    if v is None or isinstance(v, (str, bool)):
        return None
    if isinstance(v, Mapping) and set(v) == {"re", "im"}:
        v = np.asarray(v["re"], float) + 1j * np.asarray(v["im"], float)
    try:
        a = np.asarray(v)
    except (TypeError, ValueError):
        return None
    if a.dtype == object or a.dtype.kind not in "biufc":
        return None
    return np.abs(a) if a.dtype.kind == "c" else a.astype(float)


def reduce_value(v: Any, spec: Mapping) -> float | None:
    """A y entry's scalar from one drop's raw value: ``index`` (int, or list of ints, one per
    leading axis), then ``reduce`` (mean/max/min/sum/norm over what is left), then ``scale``.
    None when the value is absent, or still not a scalar."""
    a = _to_array(v)
    if a is None:
        return None
    idx = spec.get("index")
    if idx is not None:
        try:
            for i in (idx if isinstance(idx, (list, tuple)) else [idx]):
                a = a[int(i)]
        except (IndexError, TypeError):
            return None
        a = np.asarray(a, float)
    red = spec.get("reduce")
    if red is not None:
        if a.size == 0:
            return None
        a = np.asarray(REDUCERS[str(red)](a), float)
    if a.ndim != 0:
        return None
    return float(a) * float(spec.get("scale", 1.0))


def value_column(spec: Mapping) -> str:
    """Column name of a y entry: the metric itself, or ``metric[index,reduce,xscale]``."""
    parts = []
    if spec.get("index") is not None:
        idx = spec["index"]
        parts.append(",".join(str(i) for i in idx) if isinstance(idx, (list, tuple)) else str(idx))
    if spec.get("reduce") is not None:
        if str(spec["reduce"]) not in REDUCERS:
            raise ValueError(f"y {spec['metric']!r}: reduce={spec['reduce']!r}; one of {sorted(REDUCERS)}")
        parts.append(str(spec["reduce"]))
    if spec.get("scale") is not None and float(spec["scale"]) != 1.0:
        parts.append(f"x{spec['scale']:g}" if isinstance(spec["scale"], (int, float)) else f"x{spec['scale']}")
    return f"{spec['metric']}[{','.join(parts)}]" if parts else str(spec["metric"])


def add_value_columns(c: "Collected", plot: Mapping) -> None:
    """Per-drop values of every y entry that is not already a plain scalar column (a metric
    nested in the per-drop dicts, an array reduced by index/reduce, a scaled value): added to
    ``c.rows`` (OK jobs only) and ``c.metric_cols`` under the entry's ``column``."""
    by_rel = {j["rel"]: j for j in c.jobs}
    for spec in plot["y"]:
        col = spec["column"]
        plain = col == spec["metric"] and col in c.metric_cols
        if plain:
            continue
        cache: dict[str, list] = {}
        for r in c.rows:
            j = by_rel.get(r["run_dir"])
            if j is None or not status_ok(j["status"]):
                r.setdefault(col, None)
                continue
            if j["rel"] not in cache:
                raw = raw_drop_values(j["metrics"], j["n_drops"], spec["metric"])
                cache[j["rel"]] = [reduce_value(v, spec) for v in raw]
            vals = cache[j["rel"]]
            r[col] = vals[r["drop"]] if r["drop"] < len(vals) else None
        if col not in c.metric_cols:
            c.metric_cols.append(col)


def apply_x_metric(c: "Collected", plot: Mapping, sweep_dir: Path) -> None:
    """``sweep.x_metric``: plot x from a saved quantity instead of the swept parameter.

    ``{source: length}``: x is the number of entries of the (list-valued) x parameter.

    ``{source: design|metrics, key, power, normalise_by, reduce}``: per job, the array ``key``
    (design.npz, or a metric path) to the ``power``, divided elementwise by the squared norm
    over the last axis of ``normalise_by`` (a design.npz key; e.g. ``tau**2 / ||G_hat_m||^2``),
    then averaged (``reduce``, default mean) over everything (drops, users). Jobs without the
    value (failed, not started) take the mean x of the jobs with the same parameter value.
    The row's x column is replaced (results.csv keeps the parameter in ``<x>.param``)."""
    spec = plot["meta"].get("x_metric")
    if not spec:
        return
    x = plot["x"]
    per_job: dict[str, float] = {}
    for j in c.jobs:
        if spec.get("source") == "length":
            # a list-valued parameter plotted by its length (e.g. E = len(eve_positions))
            v = j["params"].get(x)
            v = json.loads(v) if isinstance(v, str) else v
            if isinstance(v, (list, tuple)):
                per_job[j["rel"]] = float(len(v))
            continue
        if not status_ok(j["status"]):
            continue
        try:
            if spec.get("source", "design") == "design":
                d = jio.read_npz(j["run_dir"] / jio.DESIGN_FILE)
                a = np.abs(np.asarray(d[spec["key"]])).astype(float)
            else:
                raw = raw_drop_values(j["metrics"], j["n_drops"], str(spec["key"]))
                a = np.asarray([_to_array(v) for v in raw], float)
            a = a ** float(spec.get("power", 1.0))
            if spec.get("normalise_by"):
                ref = np.asarray(jio.read_npz(j["run_dir"] / jio.DESIGN_FILE)[spec["normalise_by"]])
                a = a / np.sum(np.abs(ref) ** 2, axis=-1)
            per_job[j["rel"]] = float(REDUCERS[str(spec.get("reduce", "mean"))](a))
        except (OSError, KeyError, ValueError, TypeError):
            continue
    by_param: dict[Any, list] = defaultdict(list)
    for j in c.jobs:
        if j["rel"] in per_job:
            by_param[_cell(j["params"].get(x))].append(per_job[j["rel"]])
    for j in c.jobs:
        if j["rel"] not in per_job:
            vals = by_param.get(_cell(j["params"].get(x)))
            per_job[j["rel"]] = float(np.mean(vals)) if vals else math.nan
    pcol = f"{x}.param"
    for r in c.rows:
        r[pcol] = r.get(x)
        r[x] = per_job.get(r["run_dir"], math.nan)
    if pcol not in c.params:
        c.params.append(pcol)


def summarize(rows: Sequence[Mapping], plot: Mapping) -> list[dict]:
    """Per (metric, series, x): OK drops with finite values -> mean/std/CI; failed jobs counted."""
    out = []
    x = plot["x"]
    for y in plot["y"]:
        metric = y.get("column", y["metric"])
        groups: dict[tuple, dict] = defaultdict(lambda: {"vals": [], "failed": set(),
                                                         "statuses": set(), "nan": 0, "uncert": 0})
        for r in rows:
            key = (_series_label(r, plot["series"]), r.get(x) if x else r["run_dir"])
            g = groups[key]
            if status_ok(r["status"]):
                v = _num(r.get(metric))
                if v is not None and math.isfinite(v):
                    g["vals"].append(v)
                    # kept in the mean (a real measurement of that design), flagged everywhere
                    g["uncert"] += r.get("certified") is False
                else:
                    g["nan"] += 1
            else:
                g["failed"].add(r["run_dir"])
                g["statuses"].add(r["status"])
        for (s, xv), g in groups.items():
            m, sd, lo, hi = mean_ci95(g["vals"])
            out.append({
                "metric": metric, "series": s, "x": xv, "n": len(g["vals"]), "mean": m, "std": sd,
                "ci95_lo": lo, "ci95_hi": hi, "n_failed_jobs": len(g["failed"]),
                "n_nonfinite_drops": g["nan"], "failed_statuses": ";".join(sorted(g["statuses"])),
                "n_uncertified": g["uncert"],
            })
    return out


def _series_label(r: Mapping, keys: Sequence[str]) -> str:
    if not keys:
        return ""
    if len(keys) == 1:
        return str(r.get(keys[0]))
    return ", ".join(f"{k.split('.')[-1]}={r.get(k)}" for k in keys)


def _x_sorted(values: Iterable[Any]) -> list:
    vals = list(dict.fromkeys(values))
    if all(_num(v) is not None for v in vals):
        return sorted(vals, key=lambda v: _num(v))
    return sorted(vals, key=str)


def _panels(ys: Sequence[Mapping]) -> list[list[Mapping]]:
    """y entries grouped by their ``panel`` (first appearance order)."""
    order: dict[Any, list] = {}
    for y in ys:
        order.setdefault(y.get("panel", len(order)), []).append(y)
    return list(order.values())


def _subplots(n: int, ncols: int, sharex: bool):
    import matplotlib.pyplot as plt

    ncols = max(1, min(int(ncols), n))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.4 * ncols, 3.6 * nrows), squeeze=False,
                             sharex=sharex and ncols == 1)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n], axes


def hline_specs(meta: Mapping, jobs: Sequence[Mapping] = ()) -> list[dict]:
    """``sweep.hlines`` / ``sweep.vlines``: ``[{value | param, label, panel}]`` reference lines;
    ``param`` (a dotted config key) takes the value from the first job that has it (e.g.
    ``scenario.eps_out``); ``panel`` (index) limits a line to one panel."""
    out = []
    lines = [dict(h) for h in meta.get("hlines") or []]
    lines += [{**h, "vertical": True} for h in meta.get("vlines") or []]
    for h in lines:
        v = h.get("value")
        if v is None and h.get("param"):
            v = next((_num(j["params"].get(h["param"])) for j in jobs
                      if _num(j["params"].get(h["param"])) is not None), None)
        if v is not None:
            out.append({"value": float(v), "label": str(h.get("label", h.get("param", ""))),
                        "panel": h.get("panel"), "vertical": bool(h.get("vertical"))})
    return out


LINESTYLES = ("-", "--", ":", "-.")


def render_figure(summary: Sequence[Mapping], plot: Mapping, hlines: Sequence[Mapping] = ()):
    """Matplotlib figure (Agg): one panel per y metric (or per ``panel`` group of y entries,
    ``sweep.ncols`` columns), see module docstring. In a panel with several entries, colour is
    the series and line style the entry (or its ``style``); an entry's ``legend`` is appended
    to the series name. ``hlines``: reference horizontal lines (:func:`hline_specs`)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.transforms import blended_transform_factory

    ys = plot["y"] or [{"metric": "", "label": "(no numeric metric)", "column": "", "panel": 0}]
    panels = _panels(ys)
    meta = plot.get("meta") or {}
    fig, flat, axes = _subplots(len(panels), meta.get("ncols", 1), sharex=True)
    all_x = _x_sorted(s["x"] for s in summary)
    numeric_x = all(_num(v) is not None for v in all_x)
    pos = (lambda v: _num(v)) if numeric_x else (lambda v: float(all_x.index(v)))
    n_failed_total = n_uncert_total = 0
    all_series = list(dict.fromkeys(s["series"] for s in summary))
    for p_i, (ax, group) in enumerate(zip(flat, panels)):
        failed_x, failed_jobs, n_drop, any_good, any_positive = [], {}, 0, False, False
        uncert_pts, uncert_drops = [], {}
        for e_i, y in enumerate(group):
            col = y.get("column", y["metric"])
            items = [s for s in summary if s["metric"] == col]
            series = list(dict.fromkeys(s["series"] for s in items))
            ls = y.get("style") or LINESTYLES[e_i % len(LINESTYLES)]
            for name in series:
                pts = sorted((s for s in items if s["series"] == name), key=lambda s: pos(s["x"]))
                good = [s for s in pts if s["n"] > 0]
                color = f"C{all_series.index(name) % 10}"
                label = name or y["metric"]
                if y.get("legend"):
                    label = f"{name}: {y['legend']}" if name else str(y["legend"])
                if good:
                    any_good = True
                    any_positive = any_positive or any(s["mean"] > 0 for s in good)
                    xs = np.array([pos(s["x"]) for s in good])
                    ax.plot(xs, [s["mean"] for s in good], marker="o", linestyle=ls, color=color,
                            label=label, ms=4)
                    ax.fill_between(xs, [s["ci95_lo"] for s in good], [s["ci95_hi"] for s in good],
                                    color=color, alpha=0.2, lw=0)
                for s in pts:
                    # counts per (series, x): several metrics of one panel share their jobs
                    if s["n_failed_jobs"] or s["n_nonfinite_drops"]:
                        failed_x.append(pos(s["x"]))
                        failed_jobs[(name, pos(s["x"]))] = s["n_failed_jobs"]
                    if s["n"] > 0 and s.get("n_uncertified"):
                        uncert_pts.append((pos(s["x"]), s["mean"]))
                        uncert_drops[(name, pos(s["x"]))] = s["n_uncertified"]
            n_drop += sum(s["n_nonfinite_drops"] for s in items)
        failed_n, uncert_n = sum(failed_jobs.values()), sum(uncert_drops.values())
        if failed_x:
            tr = blended_transform_factory(ax.transData, ax.transAxes)
            lab = f"failed/infeasible/incomplete: {failed_n} job(s)"
            if n_drop:
                lab += f", {n_drop} non-finite drop(s)"
            ax.plot(failed_x, [0.04] * len(failed_x), "x", color="red", ms=9, mew=2,
                    transform=tr, clip_on=False, label=lab, linestyle="none")
        if uncert_pts:
            ax.plot([u[0] for u in uncert_pts], [u[1] for u in uncert_pts], "o", mfc="none",
                    mec="red", ms=11, mew=1.5, linestyle="none",
                    label=f"not certified (Monte Carlo): {uncert_n} drop(s)")
        n_uncert_total = max(n_uncert_total, uncert_n)
        n_failed_total = max(n_failed_total, failed_n)
        for h in hlines:
            if h.get("panel") is None or h["panel"] == p_i:
                draw_line = ax.axvline if h.get("vertical") else ax.axhline
                draw_line(h["value"], color="k", linestyle="--", lw=1.2, label=h["label"])
        if not any_good:
            ax.text(0.5, 0.5, "no finite values of\n" + "\n".join(repr(y["metric"]) for y in group),
                    ha="center", va="center", transform=ax.transAxes, color="0.4", fontsize="small")
        ax.set_ylabel(group[0]["label"] if len({y["label"] for y in group}) == 1
                      else " / ".join(dict.fromkeys(y["label"] for y in group)))
        if group[0].get("title"):
            ax.set_title(str(group[0]["title"]), fontsize="medium")
        if (plot.get("logy") or group[0].get("logy")) and any_positive:
            ax.set_yscale("log")  # (an empty panel stays linear: nothing to log-scale)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small")
        bottom = axes.shape[1] == 1 and p_i == len(flat) - 1 or axes.shape[1] > 1
        if bottom:
            ax.set_xlabel(plot["x_label"])
            if plot.get("logx") and numeric_x:
                ax.set_xscale("log")
            if not numeric_x:
                ax.set_xticks(range(len(all_x)), [str(v) for v in all_x], rotation=30, ha="right")
    title = plot.get("title") or ""
    note = "mean and 95% CI over drops"
    if n_failed_total:
        note += f"; {n_failed_total} failed job(s) marked x"
    if n_uncert_total:
        note += f"; {n_uncert_total} uncertified drop(s) ringed red"
    _suptitle(fig, flat, title, note)
    fig.tight_layout()
    return fig


def _suptitle(fig, flat, title: str, note: str) -> None:
    """Figure title + note: on the single panel's axes (as before), else as a suptitle."""
    text = f"{title}\n{note}" if title else note
    if len(flat) == 1 and not flat[0].get_title():
        flat[0].set_title(text, fontsize="medium")
    else:
        fig.suptitle(text, fontsize="medium")


SUMMARY_COLUMNS = ["metric", "series", "x", "n", "mean", "std", "ci95_lo", "ci95_hi",
                   "n_failed_jobs", "n_nonfinite_drops", "failed_statuses", "n_uncertified"]


def markdown_table(summary: Sequence[Mapping], x_label: str = "x") -> str:
    """One markdown table per metric: rows x, columns series, cells ``mean [ci95_lo, ci95_hi]
    (n)``; ``failed`` where only failed jobs are at that point."""
    out = []
    for metric in dict.fromkeys(s["metric"] for s in summary):
        items = [s for s in summary if s["metric"] == metric]
        series = list(dict.fromkeys(str(s["series"]) for s in items))
        xs = _x_sorted(s["x"] for s in items)
        cell = {(str(s["series"]), s["x"]): s for s in items}
        out.append(f"### {metric}\n")
        out.append("| " + " | ".join([x_label] + [v or metric for v in series]) + " |")
        out.append("|" + "---|" * (len(series) + 1))
        for xv in xs:
            row = [f"{xv:g}" if isinstance(xv, float) else str(xv)]
            for name in series:
                s = cell.get((name, xv))
                if s is None:
                    row.append("")
                elif s["n"] > 0:
                    lo, hi = s.get("ci95_lo", math.nan), s.get("ci95_hi", math.nan)
                    cell_text = f"{s['mean']:.4g} [{lo:.4g}, {hi:.4g}] ({s['n']})"
                    if s.get("n_uncertified"):
                        cell_text += f" **not certified: {s['n_uncertified']}/{s['n']}**"
                    row.append(cell_text)
                else:
                    row.append(f"failed ({s.get('failed_statuses') or 'no finite value'})")
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    return "\n".join(out) + "\n"


def sweep_meta(name: str | Path) -> dict:
    """The ``sweep`` node (plot metadata) of ``conf/sweep/<name>.yaml``, or of a YAML file."""
    p = Path(name)
    if not p.is_file():
        p = CONF_SWEEP_DIR / f"{name}.yaml"
    if not p.is_file():
        have = sorted(str(q.relative_to(CONF_SWEEP_DIR))[:-5] for q in CONF_SWEEP_DIR.rglob("*.yaml"))
        raise FileNotFoundError(f"--as {name!s}: no {p}; one of {', '.join(have)} or a YAML path")
    node = (jio.read_yaml(p) or {}).get("sweep")
    if not isinstance(node, Mapping) or not node:
        raise FileNotFoundError(f"--as {name!s}: {p} has no 'sweep' node")
    return dict(node)


def build(sweep_dir: str | Path, meta: Mapping | None = None, title: str | None = None
          ) -> tuple[Collected, dict, list[dict], Any]:
    """Collect a sweep and return ``(collected, plot, summary_rows, make_figure)``;
    ``make_figure()`` renders the figure of the sweep's plot kind (``sweep.plot``)."""
    root = Path(sweep_dir)
    c = collect(root, meta, title)
    if not c.jobs:
        raise FileNotFoundError(f"no run directories under {root}")
    plot = resolve_plot(c.meta, c.rows, c.params, c.metric_cols)
    if plot["kind"] == "line":
        add_value_columns(c, plot)
        apply_x_metric(c, plot, root)
        summ = summarize(c.rows, plot)
        hl = hline_specs(plot["meta"], c.jobs)
        return c, plot, summ, (lambda: render_figure(summ, plot, hl))
    from experiments import figures

    summ, draw = figures.KINDS[plot["kind"]](c, plot, root)
    return c, plot, summ, draw


def make_report(sweep_dir: str | Path, figure: bool = True, meta: Mapping | None = None,
                out_dir: str | Path | None = None, title: str | None = None) -> dict:
    """Write results.csv, summary.csv, table.md and (unless ``figure=False``) figure.png/.pdf.

    ``meta``: draw as this ``sweep`` node (:func:`sweep_meta`) instead of the jobs' own;
    ``out_dir``: where the files go (default the sweep dir); ``title``: replaces the title.
    Returns a dict of written paths and counts: ``csv``, ``summary``, ``table``, ``png``,
    ``pdf``, ``n_jobs``, ``n_rows``, ``n_failed``, ``status_counts``, ``plot``.
    """
    root = Path(sweep_dir)
    c, plot, summ, draw = build(root, meta, title)
    dest = Path(out_dir) if out_dir is not None else root
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"csv": dest / "results.csv", "summary": dest / "summary.csv",
                           "table": dest / "table.md"}
    jio.write_text_atomic(out["csv"], _csv_text(c.rows, c.columns))
    scol = list(SUMMARY_COLUMNS) + [k for k in dict.fromkeys(k for s in summ for k in s)
                                    if k not in SUMMARY_COLUMNS]
    jio.write_text_atomic(out["summary"], _csv_text(summ, scol))
    head = f"# {plot['title'] or root.name}\n\nmean [95% CI] (drops) per point; source: summary.csv\n\n"
    shared = [j["rel"] for j in c.jobs
              if (j["metrics"].get("design_info") or {}).get("shared_design") is True]
    if shared:
        # the CI of such a point says how the one design fares across couplings, not how
        # different designs (solver starts, randomisation) would spread
        which = ("every job here" if len(shared) == sum(1 for j in c.jobs if j["metrics"])
                 else ", ".join(f"`{r}`" for r in shared))
        head += ("Designed once, evaluated on every drop (`scheme.shared_design=true`): their "
                 "interval is over the drops' inter-layer coupling realisations (10) of one "
                 f"design, not over designs: {which}\n\n")
    jio.write_text_atomic(out["table"], head + markdown_table(summ, str(plot.get("table_x") or plot["x_label"])))
    if figure:
        import matplotlib.pyplot as plt

        fig = draw()
        for ext in ("png", "pdf"):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, dpi=150)
            out[ext] = jio.write_bytes_atomic(dest / f"figure.{ext}", buf.getvalue())
        plt.close(fig)
    counts: dict[str, int] = defaultdict(int)
    for j in c.jobs:
        counts[j["status"]] += 1
    out.update(n_jobs=len(c.jobs), n_rows=len(c.rows), plot=plot,
               n_failed=sum(v for k, v in counts.items() if not status_ok(k)),
               status_counts=dict(counts))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.report", description=__doc__.split("\n\n")[0])
    ap.add_argument("sweep_dir")
    ap.add_argument("--no-figure", action="store_true", help="write the CSVs only")
    ap.add_argument("--as", dest="as_sweep", metavar="NAME",
                    help="draw the jobs as the figure of conf/sweep/NAME.yaml (or a YAML path)")
    ap.add_argument("--out", help="output directory (default: the sweep dir; with --as, <sweep_dir>/as_NAME)")
    ap.add_argument("--title", help="figure/table title (default: sweep.title)")
    a = ap.parse_args(argv)
    try:
        meta = sweep_meta(a.as_sweep) if a.as_sweep else None
        out = a.out or (Path(a.sweep_dir) / f"as_{Path(a.as_sweep).stem}" if a.as_sweep else None)
        rep = make_report(a.sweep_dir, figure=not a.no_figure, meta=meta, out_dir=out,
                          title=a.title)
    except FileNotFoundError as e:
        print(f"jisac report: {e}", file=sys.stderr)
        return 2
    print(f"{rep['n_jobs']} jobs ({dict(rep['status_counts'])}), {rep['n_rows']} rows -> {rep['csv']}")
    for k in ("summary", "png", "pdf"):
        if k in rep:
            print(f"  {rep[k]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
