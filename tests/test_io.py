"""jisac.io: atomic writers, round trips (complex npz), load_run, completeness."""

import json
import os
import stat

import numpy as np
import pytest

from jisac import io as jio


def test_npz_round_trip_complex_and_real(tmp_path, rng):
    W = rng.standard_normal((5, 4, 3)) + 1j * rng.standard_normal((5, 4, 3))
    arrays = {"W": W.astype(np.complex128), "theta": rng.uniform(0, 2 * np.pi, 16).astype(np.float32),
              "n": np.arange(3)}
    jio.write_npz_atomic(tmp_path / "design.npz", arrays)
    back = jio.read_npz(tmp_path / "design.npz")
    assert set(back) == set(arrays)
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)  # bit-exact: npz stores the raw buffer


def test_npz_refuses_object_arrays_and_keeps_old_file(tmp_path):
    p = tmp_path / "design.npz"
    jio.write_npz_atomic(p, {"x": np.ones(2)})
    with pytest.raises(TypeError, match="object"):
        jio.write_npz_atomic(p, {"x": np.array([{"a": 1}], dtype=object)})
    np.testing.assert_array_equal(jio.read_npz(p)["x"], np.ones(2))


def test_json_numpy_values_and_failed_write_is_atomic(tmp_path):
    p = tmp_path / "metrics.json"
    m = {"status": "optimal", "rate": np.float32(1.5), "n": np.int64(3), "ok": np.bool_(True),
         "per_drop": np.array([1.0, 2.0]), "z": np.complex128(1 - 2j), "nan": float("nan"),
         "nested": {"a": [np.float64(0.25)]}}
    jio.write_json_atomic(p, m)
    back = jio.read_json(p)
    assert back["rate"] == 1.5 and back["n"] == 3 and back["ok"] is True
    assert back["per_drop"] == [1.0, 2.0] and back["z"] == {"re": 1.0, "im": -2.0}
    assert np.isnan(back["nan"]) and back["nested"] == {"a": [0.25]}
    before = p.read_bytes()
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        jio.write_json_atomic(p, {"bad": object()})
    assert p.read_bytes() == before
    # no temp files left behind by either the good or the failed write
    assert sorted(x.name for x in tmp_path.iterdir()) == ["metrics.json"]


def test_interrupted_write_leaves_old_content(tmp_path, monkeypatch):
    """Simulate a crash between writing the temp file and the rename: the target is intact."""
    p = tmp_path / "log.txt"
    jio.write_text_atomic(p, "old\n")

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        jio.write_text_atomic(p, "new\n")
    monkeypatch.undo()
    assert p.read_text() == "old\n"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["log.txt"]


def test_written_files_get_umask_permissions(tmp_path):
    p = jio.write_text_atomic(tmp_path / "a.txt", "x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask


def test_load_run_and_is_complete(tmp_path):
    d = tmp_path / "run"
    with pytest.raises(FileNotFoundError):
        jio.load_run(d)
    cfg = {"scenario": {"kind": "tris_rsma", "p_t_dbm": -3.0, "lu_positions": [[50.0, 22.5, 10.0]]},
           "seed": 0, "p_fa": 1.0e-4}
    jio.write_yaml_atomic(d / "config.yaml", cfg)
    c, m, des = jio.load_run(d)
    assert c == cfg and m is None and des == {}
    assert not jio.is_complete(d)
    jio.write_json_atomic(d / "metrics.json", {"status": "infeasible"})
    assert not jio.is_complete(d)  # no marker: a partial/foreign file is not complete
    jio.write_json_atomic(d / "metrics.json", {"status": "infeasible", "complete": True})
    jio.write_npz_atomic(d / "design.npz", {"w": np.array([1j])})
    c, m, des = jio.load_run(d)
    assert jio.is_complete(d) and m["status"] == "infeasible" and des["w"][0] == 1j
    (d / "metrics.json").write_text('{"status": "opt')  # torn file (not written by jio)
    assert not jio.is_complete(d)


def test_canonical_compares_yaml_round_trip(tmp_path):
    cfg = {"a": (1.0, 2.0), "b": {"c": [(1, 2)]}, "d": np.float64(1e-4)}
    jio.write_yaml_atomic(tmp_path / "c.yaml", cfg)
    assert jio.canonical(jio.read_yaml(tmp_path / "c.yaml")) == jio.canonical(cfg)
    assert json.dumps(jio.canonical(cfg)) == '{"a": [1.0, 2.0], "b": {"c": [[1, 2]]}, "d": 0.0001}'
