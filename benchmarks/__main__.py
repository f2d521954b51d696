"""Run every benchmark module of this package: ``python -m benchmarks [--only NAME ...]``.

Discovers ``benchmarks/*.py`` (except ``__init__``/``__main__``), imports each module and, if it
defines ``run()``, calls it and prints its result as one JSON line, with the process's
``jisac.provenance.environment()`` under ``environment`` (code, library versions, XLA flags,
CPU model and ISA: what a timing was measured on). A benchmark that raises is reported as
``{"benchmark": NAME, "error": "..."}`` and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import traceback
from pathlib import Path


def discover() -> list[str]:
    """Module names (sorted) of ``benchmarks/*.py`` except ``__init__``/``__main__``."""
    here = Path(__file__).resolve().parent
    return sorted(m.name for m in pkgutil.iter_modules([str(here)])
                  if not m.ispkg and not m.name.startswith("__"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this benchmark module (repeatable)")
    parser.add_argument("--list", action="store_true", help="list benchmark modules and exit")
    args = parser.parse_args(argv)
    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            parser.error(f"unknown benchmark(s) {unknown}; available: {names}")
        names = [n for n in names if n in args.only]
    status = 0
    for name in names:
        module = importlib.import_module(f"{__package__ or 'benchmarks'}.{name}")
        run = getattr(module, "run", None)
        if not callable(run):
            continue
        try:
            result = run()
        except Exception as exc:  # keep going: one broken benchmark must not hide the others
            traceback.print_exc(file=sys.stderr)
            result, status = {"benchmark": name, "error": repr(exc)}, 1
        if isinstance(result, dict):
            from jisac.provenance import environment

            result = {**result, "environment": environment()}
        print(json.dumps(result, default=str), flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
