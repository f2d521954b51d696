"""Digest of the jisac source a computation can run: the module's import closure.

A result cache keyed by "all of jisac's source" recomputes after any edit, including edits that
cannot change the result (the job layer, the plots, paper 000's solvers). Keyed by the closure of
the computing module's jisac imports instead, every module it can reach is still covered --
imports inside functions too, since the whole syntax tree is walked -- and the rest is not.
Dynamic imports (``importlib.import_module(name)``) are invisible to this; the closure is only as
good as the module writes its imports statically, as the L-BCD modules do.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
from pathlib import Path

__all__ = ["source_closure", "source_digest", "files_digest"]

_PACKAGE = "jisac"
_ROOT = Path(__file__).resolve().parent


def _file_of(module: str) -> Path | None:
    """The source file of a jisac module name (a package's ``__init__.py``), or None."""
    if module != _PACKAGE and not module.startswith(_PACKAGE + "."):
        return None
    parts = module.split(".")[1:]
    if not parts:
        return _ROOT / "__init__.py"
    rel = Path(*parts)
    for cand in (_ROOT / rel.with_suffix(".py"), _ROOT / rel / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _module_of(path: Path) -> tuple[str, bool]:
    """(dotted module name, is a package) of a file under the jisac package."""
    rel = path.relative_to(_ROOT).with_suffix("")
    parts = [_PACKAGE, *rel.parts]
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _imports(path: Path) -> set[str]:
    """jisac modules that ``path`` imports anywhere in its body (resolved relative imports;
    ``from m import x`` also counts ``m.x`` when that is a module)."""
    name, is_pkg = _module_of(path)
    package = name if is_pkg else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) \
                if node.level else (node.module or "")
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    # a module's parent packages run their __init__ on import
    full = set()
    for m in out:
        parts = m.split(".")
        full.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in full if _file_of(m) is not None}


@functools.lru_cache(maxsize=None)
def source_closure(module: str) -> tuple[Path, ...]:
    """Source files of ``module`` and of every jisac module it imports, transitively, sorted."""
    start = _file_of(module)
    if start is None:
        raise ValueError(f"{module!r} is not a module of the {_PACKAGE} package")
    seen: set[Path] = set()
    todo = [start]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        todo.extend(_file_of(m) for m in _imports(f))
    return tuple(sorted(seen))


def files_digest(files, root: Path | None = None) -> str:
    """SHA-1 over the path relative to ``root`` (default: the package) and the bytes of each of
    ``files``, in order."""
    root = _ROOT if root is None else root
    h = hashlib.sha1()
    for f in files:
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def source_digest(module: str) -> str:
    """SHA-1 over the relative path and bytes of every file of :func:`source_closure`."""
    return files_digest(source_closure(module))
