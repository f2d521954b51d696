"""Process-level runtime settings of jisac's entry points (sweeps, tests, benchmarks).

Nothing here changes a number; every setting only changes how fast the same computation runs.

* **BLAS threads.** Every dense matrix of the physics and of the block wrappers is small (SIM:
  M x M = 32 x 32 at 004 Sec. V; TRIS: N x N <= 36 x 36 at 000 Table I), but multi-threaded
  OpenBLAS -- behind NumPy, SciPy and jaxlib's CPU ``eigh`` / ``svd`` -- splits such tiny LAPACK
  calls across its thread pool. The hand-offs cost more than the arithmetic, and on a loaded
  2-core machine the threads collapse: a batch of 264 complex 32 x 32 ``eigh`` took 0.35-5.8 s
  with the default threads and 0.05-0.1 s with one (benchmarks/README.md, ``block_b``). The
  conic solvers (Clarabel, SCS) and XLA's own kernels do not use these pools; parallelism
  across problems comes from diffcp's thread pool and from running jobs in parallel
  (``hydra/launcher=joblib``), for which one BLAS thread per process is the right setting
  anyway. ``JISAC_BLAS_THREADS`` (default 1; ``0`` = leave the libraries' default).
* **JAX persistent compilation cache.** A sweep compiles the same kernels (evaluation,
  certification, phase-loss gradients) for every job and again when it is resumed or re-run;
  with the cache, XLA executables are read back from disk instead of recompiled (a quick
  004 Fig. 1 job: 36.6 -> 9.9 s of CPU on the second run). ``JISAC_JAX_CACHE`` = a directory
  (default ``~/.cache/jisac/jax``) or ``off``; an explicit ``JAX_COMPILATION_CACHE_DIR`` is
  respected. The cache key includes the JAX version, the backend and the HLO, so a stale entry
  cannot be served for different code.
* **Normaliser cache.** Paper 004's utility normalisers (R_max from the alpha = 0 L-BCD run,
  CRB_min from the sensing-only design; ~6-15 min per Sec.-V drop) depend on the drop, the
  scenario and the settings, not on the job's scheme, alpha or start. In one process they are
  cached in memory; with this cache they are also written to disk, so a resumed sweep, a sweep
  run later with more schemes, or parallel workers compute them once. ``JISAC_RESULT_CACHE`` = a
  directory (default ``~/.cache/jisac/results``) or ``off``. The key is a digest of every input
  and of jisac's source code and the solver stack's versions, so an edit of the code or an
  upgrade computes them afresh (``jisac.algorithms.sim_lbcd.lbcd.compute_normalizers``).
"""

from __future__ import annotations

import contextlib
import os
from functools import wraps
from pathlib import Path

from .config_errors import ConfigError

__all__ = ["blas_threads", "blas_single_thread", "configure", "result_cache_dir"]

DEFAULT_CACHE = Path.home() / ".cache" / "jisac" / "jax"
DEFAULT_RESULT_CACHE = Path.home() / ".cache" / "jisac" / "results"
_RESULT_CACHE: list = [None]      # set by configure(); None: no disk cache (library default)


def result_cache_dir() -> Path | None:
    """The normaliser cache directory :func:`configure` enabled, or ``None``."""
    return _RESULT_CACHE[0]


def blas_threads(n: int = 1):
    """Context manager limiting the BLAS/LAPACK pools to ``n`` threads (restored on exit); a
    no-op without ``threadpoolctl``."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                                  # only speed depends on it
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def blas_single_thread(fn):
    """Decorator: run ``fn`` with one BLAS/LAPACK thread (see the module docstring), restored
    afterwards, also when ``fn`` raises."""
    @wraps(fn)
    def run(*args, **kwargs):
        with blas_threads(1):
            return fn(*args, **kwargs)

    return run


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        v = int(raw)
    except ValueError:
        v = -1
    if v < 0:
        raise ConfigError(f"environment {name}", raw, "must be a non-negative integer "
                                                      "(0 = the BLAS library's default)")
    return v


def configure(*, cache: bool = True) -> dict:
    """Apply the settings for the rest of the process (entry points call this once).

    ``cache=False`` skips the compilation and normaliser caches (tests use fresh ones of their
    own). Returns what was applied: ``{"blas_threads": n or None, "jax_cache_dir": path or None,
    "result_cache_dir": path or None}``.
    """
    import jax

    applied = {"blas_threads": None, "jax_cache_dir": None, "result_cache_dir": None}
    _RESULT_CACHE[0] = None
    if cache:
        raw = os.environ.get("JISAC_RESULT_CACHE", "").strip()
        if raw.lower() not in ("off", "0", "none", "false"):
            path = Path(raw).expanduser() if raw else DEFAULT_RESULT_CACHE
            try:
                path.mkdir(parents=True, exist_ok=True)
                _RESULT_CACHE[0] = path
                applied["result_cache_dir"] = str(path)
            except OSError:              # read-only home: compute rather than fail
                pass
    n = _env_int("JISAC_BLAS_THREADS", 1)
    if n > 0:
        try:
            from threadpoolctl import threadpool_limits
            threadpool_limits(limits=n, user_api="blas")  # process-wide (no context)
            applied["blas_threads"] = n
        except ImportError:
            pass
    if cache and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        raw = os.environ.get("JISAC_JAX_CACHE", "").strip()
        if raw.lower() not in ("off", "0", "none", "false"):
            path = Path(raw).expanduser() if raw else DEFAULT_CACHE
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError:              # e.g. a read-only home: run uncached rather than fail
                path = None
            if path is not None:
                jax.config.update("jax_compilation_cache_dir", str(path))
                # jisac's kernels are many and small: cache every compilation, not only > 1 s
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
                jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
                applied["jax_cache_dir"] = str(path)
    elif cache:
        applied["jax_cache_dir"] = os.environ["JAX_COMPILATION_CACHE_DIR"]
    return applied
