"""jisac.runtime: the BLAS thread limit is scoped / process-wide as documented, bad environment
values are refused with the variable named, and the compilation cache is switched on (or off)."""

import jax
import pytest

from jisac import runtime
from jisac.config_errors import ConfigError

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas():
    return [i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


def test_blas_single_thread_is_scoped():
    """One BLAS thread inside, the previous limits after (also when the function raises)."""
    before = _blas()

    @runtime.blas_single_thread
    def inside(fail=False):
        if fail:
            raise RuntimeError("x")
        return _blas()

    assert all(n == 1 for n in inside())
    assert _blas() == before
    with pytest.raises(RuntimeError):
        inside(fail=True)
    assert _blas() == before


@pytest.fixture
def restore():
    """Undo configure()'s process-wide effects after the test."""
    limits = threadpoolctl.threadpool_limits(limits=None)   # snapshot of the current limits
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
            "jax_persistent_cache_min_entry_size_bytes")
    old = {k: getattr(jax.config, k) for k in keys}
    old_results = list(runtime._RESULT_CACHE)
    yield
    runtime._RESULT_CACHE[:] = old_results
    limits.restore_original_limits()
    for k, v in old.items():
        jax.config.update(k, v)


def test_configure_applies_threads_and_cache(tmp_path, monkeypatch, restore):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("JISAC_BLAS_THREADS", "1")
    monkeypatch.setenv("JISAC_JAX_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("JISAC_RESULT_CACHE", str(tmp_path / "r"))
    applied = runtime.configure()
    assert applied == {"blas_threads": 1, "jax_cache_dir": str(tmp_path / "c"),
                       "result_cache_dir": str(tmp_path / "r")}
    assert runtime.result_cache_dir() == tmp_path / "r" and (tmp_path / "r").is_dir()
    assert all(n == 1 for n in _blas())
    assert jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
    assert (tmp_path / "c").is_dir()


def test_configure_off_switches(monkeypatch, restore):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("JISAC_BLAS_THREADS", "0")
    monkeypatch.setenv("JISAC_JAX_CACHE", "off")
    monkeypatch.setenv("JISAC_RESULT_CACHE", "off")
    before = jax.config.jax_compilation_cache_dir
    assert runtime.configure() == {"blas_threads": None, "jax_cache_dir": None,
                                   "result_cache_dir": None}
    assert runtime.result_cache_dir() is None
    assert jax.config.jax_compilation_cache_dir == before


@pytest.mark.parametrize("bad", ["-1", "two", "1.5"])
def test_bad_thread_count_names_the_variable(monkeypatch, bad):
    monkeypatch.setenv("JISAC_BLAS_THREADS", bad)
    with pytest.raises(ConfigError, match="JISAC_BLAS_THREADS"):
        runtime.configure(cache=False)


def test_unwritable_cache_dir_runs_uncached(tmp_path, monkeypatch, restore):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    monkeypatch.setenv("JISAC_JAX_CACHE", str(blocker / "cache"))   # mkdir fails: parent is a file
    before = jax.config.jax_compilation_cache_dir
    assert runtime.configure()["jax_cache_dir"] is None
    assert jax.config.jax_compilation_cache_dir == before
