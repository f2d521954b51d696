"""A dependency-free, single-line progress display for BCD iterations, sweep jobs and MC batches.

    with Progress(total=20, desc="BCD") as p:
        for i in range(20):
            ...
            p.update(msg=f"obj={obj:.3f}")

A :class:`Progress` is also a ``progress(msg: str)`` callback (the signature ``run_job``
takes): calling it shows the message without advancing the counter.

The display redraws one line with ``\\r`` + ANSI "erase line" and is *quiet* (writes nothing)
when the stream is not a TTY -- logs of batch jobs (SLURM, joblib workers, CI) stay clean.
``JISAC_PROGRESS=0`` silences it everywhere, ``JISAC_PROGRESS=1`` forces it on.

Algorithms report their own steps (an L-BCD iteration, a TRIS BCD iteration, a normaliser run)
through :func:`report`, which is a no-op unless a caller installed a reporter with
:func:`reporting`. The job layer does, so these lines land in the run's ``log.txt`` while the
job runs, and pure library calls stay silent without a ``log=`` argument threaded through every
signature. :func:`scope` prefixes the reports inside it (``"drop 3: start sensing: ..."``)::

    with reporting(print), scope("drop 0"):
        lbcd(...)          # -> "drop 0: start paper: L-BCD it 1/20: U=..."
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from typing import Callable, Iterator, TextIO

_ERASE = "\r\x1b[K"

# (callback, prefix) of the innermost `reporting`/`scope`; a context variable, so threads and
# asyncio tasks that did not inherit one report nothing (the solver thread pools stay silent)
_REPORTER: contextvars.ContextVar[tuple[Callable[[str], None] | None, str]] = \
    contextvars.ContextVar("jisac_reporter", default=(None, ""))


@contextlib.contextmanager
def reporting(callback: Callable[[str], None] | None) -> Iterator[None]:
    """Send :func:`report` messages inside the block to ``callback`` (``None``: silence them)."""
    token = _REPORTER.set((callback, ""))
    try:
        yield
    finally:
        _REPORTER.reset(token)


@contextlib.contextmanager
def scope(label: str) -> Iterator[None]:
    """Prefix every :func:`report` inside the block with ``label + ": "`` (scopes nest)."""
    callback, prefix = _REPORTER.get()
    token = _REPORTER.set((callback, f"{prefix}{label}: "))
    try:
        yield
    finally:
        _REPORTER.reset(token)


def report(msg: str) -> None:
    """Hand ``msg`` (with the enclosing scopes' prefix) to the active reporter, if any."""
    callback, prefix = _REPORTER.get()
    if callback is not None:
        callback(prefix + msg)


def reporter_active() -> bool:
    """Whether a :func:`report` here reaches a callback."""
    return _REPORTER.get()[0] is not None


def progress_enabled(stream: TextIO | None = None) -> bool:
    """Whether a display on ``stream`` (default stdout) should draw: env override, else isatty."""
    env = os.environ.get("JISAC_PROGRESS", "").strip().lower()
    if env in ("0", "false", "no", "off"):
        return False
    if env in ("1", "true", "yes", "on"):
        return True
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or exotic streams
        return False


def _fmt_time(s: float) -> str:
    if s != s or s == float("inf"):
        return "?"
    s = int(round(s))
    h, r = divmod(s, 3600)
    m, s = divmod(r, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class Progress:
    """Counter ``n`` of ``total`` (``None``: unknown total) with rate, ETA and a status message.

    Args:
      total: number of steps, or None when open-ended (e.g. BCD until convergence).
      desc: label printed first.
      stream: where to draw (default ``sys.stdout``).
      enabled: force on/off; default :func:`progress_enabled` of the stream.
      min_interval: seconds between redraws (throttle; the final state is always drawn).
      width: bar width in characters.
      leave: keep the last line on close (True) or erase it (False, for nested displays).
    """

    def __init__(self, total: int | None = None, desc: str = "", *, stream: TextIO | None = None,
                 enabled: bool | None = None, min_interval: float = 0.1, width: int = 24, leave: bool = True):
        self.total = None if total is None else int(total)
        self.desc = desc
        self.stream = sys.stdout if stream is None else stream
        self.enabled = progress_enabled(self.stream) if enabled is None else bool(enabled)
        self.min_interval = float(min_interval)
        self.width = int(width)
        self.leave = bool(leave)
        self.n = 0
        self.msg = ""
        self.t0 = time.monotonic()
        self._last_draw = -float("inf")
        self._closed = False

    # ---- state ------------------------------------------------------------------------------
    def update(self, n: int = 1, msg: str | None = None, commit: bool = False) -> None:
        """Advance by ``n`` steps and optionally replace the status message.

        ``commit=True`` ends the line after drawing (see :meth:`commit`)."""
        self.n += int(n)
        if msg is not None:
            self.msg = str(msg)
        if commit:
            self.commit()
        else:
            self._draw(force=self.total is not None and self.n >= self.total)

    def set_message(self, msg: str) -> None:
        self.msg = str(msg)
        self._draw()

    def __call__(self, msg: str) -> None:
        """``run_job``'s ``progress`` callback: show ``msg`` without advancing."""
        self.set_message(msg)

    def commit(self) -> None:
        """Draw the current state and end the line (a log-like line per step, e.g. one per
        finished sweep job, that other output -- Hydra's log lines -- cannot overwrite)."""
        if self.enabled and not self._closed:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()

    def close(self) -> None:
        if self._closed:
            return
        if self.enabled:
            if self.leave:
                self._draw(force=True)
                self.stream.write("\n")
            else:
                self.stream.write(_ERASE)
            self.stream.flush()
        self._closed = True

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- rendering --------------------------------------------------------------------------
    def render(self) -> str:
        """The line as it would be drawn (without the ANSI erase prefix)."""
        elapsed = time.monotonic() - self.t0
        parts = [self.desc] if self.desc else []
        if self.total is not None and self.total > 0:
            frac = min(max(self.n / self.total, 0.0), 1.0)
            fill = int(round(frac * self.width))
            parts.append(f"[{'#' * fill}{'.' * (self.width - fill)}] {self.n}/{self.total}")
            eta = (elapsed / self.n) * (self.total - self.n) if self.n > 0 else float("nan")
            parts.append(f"{_fmt_time(elapsed)}<{_fmt_time(eta)}")
        else:  # open-ended: a count only once something was counted (a job shows messages)
            if self.n:
                parts.append(f"{self.n}")
            parts.append(_fmt_time(elapsed))
        if self.msg:
            parts.append(self.msg)
        return " ".join(parts)

    def _draw(self, force: bool = False) -> None:
        if not self.enabled or self._closed:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        try:
            cols = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            cols = 120
        line = self.render()
        if len(line) >= cols:
            line = line[: max(cols - 1, 1)]
        self.stream.write(_ERASE + line)
        self.stream.flush()
