"""The slot-parallel solve of the TRIS BCD survives a solver panic (no hang, slot retried).

Clarabel is written in Rust; a panic inside it surfaces in Python as pyo3's PanicException,
a BaseException (not an Exception). In diffcp's multiprocessing ThreadPool such an exception
killed the worker and the batch waited forever (seen at N = 16). `_solve_slots` must record it
for the slot, re-solve that slot alone, and return.
"""

import threading

import numpy as np

from jisac.algorithms import tris_rsma as alg


class Panic(BaseException):
    """Stands in for pyo3_runtime.PanicException (a BaseException subclass)."""


class FakeBlock:
    plain = False

    def __init__(self, panic_slot):
        self.panic_slot = panic_slot
        self.calls = []
        self.lock = threading.Lock()

    def __call__(self, solver_args, x):
        with self.lock:
            self.calls.append((x, solver_args.get("solve_method", "SCS")))
            first_call_for_slot = sum(1 for c in self.calls if c[0] == x) == 1
        if x == self.panic_slot and first_call_for_slot:
            raise Panic("SVD error: SVD(1)")
        return {"W": np.full((2, 2), float(x))}


def _run(block, n=4):
    attempts, box = [], {}

    def target():
        box["outs"] = alg._solve_slots(block, "Clarabel", attempts, "B1 it 1",
                                       [{"x": i} for i in range(n)], batch=True)

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(timeout=60)
    assert not th.is_alive(), "_solve_slots hung after a solver panic"
    return box["outs"], attempts


def test_panic_in_one_slot_is_recorded_and_retried():
    block = FakeBlock(panic_slot=2)
    outs, attempts = _run(block)
    assert [float(o["W"][0, 0]) for o in outs] == [0.0, 1.0, 2.0, 3.0]
    failed = [a for a in attempts if a["status"].startswith("error: Panic")]
    assert len(failed) == 1 and failed[0]["block"] == "B1 it 1 slot 2" and failed[0]["batch"] == 4
    # slot 2 solved twice (concurrent attempt + the one-by-one retry), the others once
    assert sorted(x for x, _ in block.calls) == [0, 1, 2, 2, 3]


def test_interrupts_are_not_swallowed():
    class Stop(FakeBlock):
        def __call__(self, solver_args, x):
            raise KeyboardInterrupt

    try:
        alg._solve_slots(Stop(None), "Clarabel", [], "B1", [{"x": 0}, {"x": 1}], batch=True)
    except KeyboardInterrupt:
        return
    raise AssertionError("KeyboardInterrupt was swallowed")
