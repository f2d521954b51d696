"""What computed a result: the code, the numerical stack and the machine, as one JSON-able dict.

Why this exists: an L-BCD or BCD run is a long chain of non-convex block updates, so round-off
differences can send it down another path. Measured on 8 Dec 2026: the same 3-iteration L-BCD
test run ended with per-user outage [0, 1] under XLA's AVX-512 code for this machine's Xeon and
[0, 0] under ``XLA_FLAGS=--xla_cpu_max_isa=AVX2`` (tests/conftest.py pins AVX2 for that
reason). A result can therefore be reproduced bit for bit only on the same code, library
versions, XLA flags and instruction set. :func:`environment` records all four; the sweep writes
it into every run's ``metrics.json`` under ``environment`` (docs/run_directory.md).

Nothing here changes a number.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path

__all__ = ["environment", "cpu_info", "code_version", "PACKAGES", "ISA_FLAGS"]

_ROOT = Path(__file__).resolve().parent          # the jisac package
_REPO = _ROOT.parent

# the distributions whose versions can change a jisac number (numerics, solvers, their glue)
PACKAGES = ("jax", "jaxlib", "numpy", "scipy", "cvxpy", "cvxpylayers", "diffcp", "clarabel",
            "scs", "equinox", "optax")
# the x86 vector extensions XLA's CPU code generator chooses between (--xla_cpu_max_isa)
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict:
    """``{"machine", "model", "isa"}``: the architecture, the CPU model name and which of
    :data:`ISA_FLAGS` the CPU reports (Linux ``/proc/cpuinfo``; ``model``/``isa`` are None
    where it is not readable, e.g. macOS)."""
    model, flags = None, None
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model", "cpu model") and model is None:
            model = value.strip()
        elif key in ("flags", "Features") and flags is None:
            flags = set(value.split())
    isa = None if flags is None else [f for f in ISA_FLAGS if f in flags]
    return {"machine": platform.machine(), "model": model, "isa": isa}


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """``{"source_sha1", "git_commit", "git_dirty"}``.

    ``source_sha1``: SHA-1 over the relative path and bytes of every ``.py`` file of the jisac
    package (identifies the code also outside a git checkout, e.g. an installed wheel).
    ``git_commit`` / ``git_dirty``: the checkout's HEAD and whether its tracked files differ from
    it; None when jisac is not in a git checkout or git is not installed.
    """
    from .source_digest import files_digest

    digest = files_digest(sorted(_ROOT.rglob("*.py")), _ROOT)
    commit = dirty = None
    if (_REPO / ".git").exists():
        try:
            run = functools.partial(subprocess.run, cwd=_REPO, capture_output=True, text=True,
                                    timeout=10, check=True)
            commit = run(["git", "rev-parse", "HEAD"]).stdout.strip() or None
            dirty = bool(run(["git", "status", "--porcelain", "--untracked-files=no"]).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            commit = dirty = None
    return {"source_sha1": digest, "git_commit": commit, "git_dirty": dirty}


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def environment() -> dict:
    """The code, library versions, JAX backend, XLA flags and CPU of this process.

    Keys: ``code`` (:func:`code_version`), ``versions`` (python and :data:`PACKAGES`),
    ``jax_backend`` and ``jax_devices`` (device kinds), ``jax_enable_x64``, ``xla_flags`` (the
    ``XLA_FLAGS`` environment variable, "" if unset), ``blas_threads`` (``JISAC_BLAS_THREADS``
    as :mod:`jisac.runtime` reads it), ``cpu`` (:func:`cpu_info`), ``platform``
    (``sys.platform``). Initialises JAX's backend if nothing has yet.
    """
    import jax

    devices = jax.devices()
    return {
        "code": dict(code_version()),
        "versions": _versions(),
        "jax_backend": jax.default_backend(),
        "jax_devices": sorted({d.device_kind for d in devices}),
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "blas_threads": os.environ.get("JISAC_BLAS_THREADS", "1"),
        "cpu": dict(cpu_info()),
        "platform": sys.platform,
    }
