"""``python -m benchmarks``: one JSON line per benchmark, with the environment it ran on."""

import json
import sys
import types

import jax

import benchmarks.__main__ as runner


def test_runner_prints_result_with_environment(monkeypatch, capsys):
    fake = types.ModuleType("benchmarks.fake")
    fake.run = lambda: {"benchmark": "fake", "ratio": 2.5}
    broken = types.ModuleType("benchmarks.broken")

    def fail():
        raise RuntimeError("boom")

    broken.run = fail
    monkeypatch.setitem(sys.modules, "benchmarks.fake", fake)
    monkeypatch.setitem(sys.modules, "benchmarks.broken", broken)
    monkeypatch.setattr(runner, "discover", lambda: ["broken", "fake"])
    assert runner.main([]) == 1                 # the broken one sets the exit status ...
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [x["benchmark"] for x in lines] == ["broken", "fake"]   # ... and the other still runs
    assert lines[0]["error"] == "RuntimeError('boom')"
    assert lines[1]["ratio"] == 2.5
    for x in lines:
        assert x["environment"]["versions"]["jax"] == jax.__version__
        assert "isa" in x["environment"]["cpu"]
