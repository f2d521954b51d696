"""Run-directory I/O: atomic writers and the loader of one run (see docs/run_directory.md).

Every writer goes through a temporary file in the *same* directory, ``fsync`` and
``os.replace``: a reader (or a resumed sweep) sees either the old file or the complete new
one, never a torn write -- also when the job is killed (SIGKILL, SLURM preemption) mid-write.
``metrics.json`` is written last and carries ``"complete": true``; that marker is what makes a
run directory complete (:func:`is_complete`).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
DESIGN_FILE = "design.npz"
LOG_FILE = "log.txt"


# --------------------------------------------------------------------------------------------
# atomic writers


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same dir + fsync + os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp creates 0600; give the file the permissions a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(d: Path) -> None:
    # Makes the rename itself durable; not supported everywhere (e.g. some network FS), so best effort.
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Plain-JSON view of metrics: numpy scalars/arrays -> Python numbers/lists.

    Complex numbers become ``{"re": x, "im": y}``; non-finite floats stay floats (written as
    ``NaN``/``Infinity``, which Python's json reads back).
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (str, bool)) or obj is None:
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj)
    if isinstance(obj, (complex, np.complexfloating)):
        return {"re": float(obj.real), "im": float(obj.imag)}
    if hasattr(obj, "__array__"):  # numpy / jax arrays
        return to_jsonable(np.asarray(obj).tolist())
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__} ({obj!r:.80})")


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    # Serialise fully *before* touching the file: a TypeError leaves the old file intact.
    text = json.dumps(to_jsonable(obj), indent=2)
    return write_text_atomic(path, text + "\n")


def write_yaml_atomic(path: str | os.PathLike, obj: Any) -> Path:
    import yaml

    text = yaml.safe_dump(to_jsonable(obj), sort_keys=False, default_flow_style=None)
    return write_text_atomic(path, text)


def write_npz_atomic(path: str | os.PathLike, arrays: Mapping[str, Any]) -> Path:
    """Save arrays (complex allowed) as an uncompressed ``.npz``; object arrays are refused."""
    buf = io.BytesIO()
    clean = {}
    for k, v in arrays.items():
        a = np.asarray(v)
        if a.dtype == object:
            raise TypeError(f"design array {k!r} has dtype object; only numeric arrays are saved")
        clean[str(k)] = a
    np.savez(buf, **clean)
    return write_bytes_atomic(path, buf.getvalue())


# --------------------------------------------------------------------------------------------
# readers


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_yaml(path: str | os.PathLike) -> Any:
    import yaml

    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def load_run(run_dir: str | os.PathLike) -> tuple[dict | None, dict | None, dict[str, np.ndarray]]:
    """Load one run directory: ``(config, metrics, design)``.

    ``config`` is the resolved job config (``config.yaml``), ``metrics`` the contents of
    ``metrics.json``; either is ``None`` when the file is missing (an interrupted job has a
    config but no metrics). ``design`` is ``{}`` when there is no ``design.npz``.
    Raises ``FileNotFoundError`` when the directory holds neither config nor metrics.
    """
    d = Path(run_dir)
    cfg_p, met_p, des_p = d / CONFIG_FILE, d / METRICS_FILE, d / DESIGN_FILE
    if not cfg_p.exists() and not met_p.exists():
        raise FileNotFoundError(f"{d} is not a run directory (no {CONFIG_FILE} nor {METRICS_FILE})")
    config = read_yaml(cfg_p) if cfg_p.exists() else None
    metrics = read_json(met_p) if met_p.exists() else None
    design = read_npz(des_p) if des_p.exists() else {}
    return config, metrics, design


def is_complete(run_dir: str | os.PathLike) -> bool:
    """True when ``metrics.json`` exists, parses and carries ``"complete": true``."""
    p = Path(run_dir) / METRICS_FILE
    try:
        m = read_json(p)
    except (OSError, ValueError):
        return False
    return isinstance(m, dict) and m.get("complete") is True


def canonical(obj: Any) -> Any:
    """Normal form for comparing configs read back from YAML with fresh ones (tuples -> lists,
    numpy -> Python, float ints kept as written)."""
    return json.loads(json.dumps(to_jsonable(obj), sort_keys=True))

