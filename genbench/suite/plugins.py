"""Plugins: Python files or modules that register models, metrics and data sets from outside the
package, named by a suite's `plugins:` key or installed under the entry-point group
`genbench.suite.plugins`.

The driver imports them before validation; a plugin that raises on import, or registers a bad or
duplicate name, is a SuiteError naming the plugin's file and line (the traceback's last frame in
it), and whatever it registered before failing is removed again. Each plugin is described by a
`Plugin` (its module name, the sha256 of its source, its file): runs carry these, so a plugin's
source is part of their ids, the runner ships the files to Ray workers (`runtime_env` py_modules,
which puts each file's folder copy on the worker's import path) and a worker imports each module
by name before it trains (`ensure`). A file plugin's module name is its file's stem.

A plugin is the user's own code: a file that is not a .py file, a module of Python's standard
library, genbench or one of the packages genbench depends on (`os`, `torch`, `genbench.registry`)
is refused with a SuiteError, as is a file whose name is one of theirs. A file plugin outside the
suite file's folder (an absolute path, `../`, a symlink) is allowed and named in a note on stderr.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
import traceback
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from genbench.builtins import load_builtins
from genbench.registry import DATASETS, METRICS, MODELS
from genbench.suite.reader import SuiteError, read_suite_yaml

ENTRY_POINT_GROUP = "genbench.suite.plugins"
_REGISTRIES = (MODELS, METRICS, DATASETS)


class Plugin(BaseModel):
    """One imported plugin: module name, sha256 of its source, and its file (None: installed)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    module: str
    sha256: str
    file: str | None = None  # a file plugin's absolute path (shipped to workers; not in run ids)


_LOADED: dict[str, tuple[str, list[tuple[object, str]]]] = {}  # module -> (sha256, names it added)


def _sha256(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _readable_sha256(name: str, paths: list[Path]) -> str:
    """The sha256 of a plugin's sources; a SuiteError naming the file that cannot be read."""
    try:
        return _sha256(paths)
    except OSError as exc:
        raise SuiteError(f"plugin {name}: {exc.filename}: cannot be read ({exc.strerror})") from None


def _canonical(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


@functools.cache
def _dependency_modules() -> frozenset[str]:
    """The top-level module names of the distributions genbench requires, transitively (extras
    left out); empty where genbench is not installed."""
    seen: set[str] = set()
    todo = ["genbench"]
    while todo:
        name = _canonical(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for requirement in requires:
            wanted = re.match(r"[A-Za-z0-9._-]+", requirement)
            if wanted and not re.search(r"\bextra\s*==", requirement):
                todo.append(wanted.group())
    owners = importlib.metadata.packages_distributions()
    return frozenset(m for m, dists in owners.items() if any(_canonical(d) in seen for d in dists))


def _reserved(module: str) -> str | None:
    """Why `module` (a dotted name) cannot be a plugin's name: what it belongs to; None if it can."""
    top = module.partition(".")[0]
    if top in sys.builtin_module_names or top in sys.stdlib_module_names:
        return "a module of Python's standard library"
    if top == "genbench":
        return "part of genbench"
    if top in _dependency_modules():
        return "a package that genbench itself imports"
    return None


def _sources(module_file: str | None) -> list[Path]:
    """The source files of a module: its file, or every .py file of its package."""
    if not module_file:
        return []
    path = Path(module_file)
    if path.name == "__init__.py":
        return sorted(path.parent.rglob("*.py"))
    return [path]


def _names() -> set[tuple[object, str]]:
    return {(registry, name) for registry in _REGISTRIES for name in registry}


def _where(exc: BaseException, files: list[Path]) -> str:
    """'file:line' of the last traceback frame in one of `files` (a SyntaxError: its own place)."""
    resolved = {str(f.resolve()) for f in files}
    if isinstance(exc, SyntaxError) and exc.filename and str(Path(exc.filename).resolve()) in resolved:
        return f"{exc.filename}:{exc.lineno}"
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if str(Path(f.filename).resolve()) in resolved
    ]
    if frames:
        return f"{frames[-1].filename}:{frames[-1].lineno}"
    return str(files[0]) if files else "?"


def _run(module: str, sha: str, files: list[Path], do_import) -> None:
    """Import a plugin with `do_import()` unless this source is already imported; on failure
    remove what it registered and raise SuiteError with its file and line."""
    loaded = _LOADED.get(module)
    if loaded and loaded[0] == sha and module in sys.modules:
        return
    for registry, name in loaded[1] if loaded else []:  # its source changed: import it afresh
        registry.unregister(name)
    load_builtins()  # before the snapshot: a failed plugin must take only its own names with it
    before = _names()
    try:
        do_import()
    except Exception as exc:
        for registry, name in _names() - before:
            registry.unregister(name)
        sys.modules.pop(module, None)
        _LOADED.pop(module, None)
        message = str(exc).strip() or type(exc).__name__
        raise SuiteError(f"plugin {_where(exc, files)}: {type(exc).__name__}: {message}") from None
    _LOADED[module] = (sha, sorted(_names() - before, key=lambda item: (item[0].kind, item[1])))


OWN_CODE = "a plugin must be your own module (a .py file, or a module you installed) that registers models, metrics or data sets"  # noqa: E501


def load_file(path: Path) -> Plugin:
    """Import the plugin file at `path` (a .py file) as the module named by its stem."""
    if path.suffix != ".py":
        raise SuiteError(f"plugin {path.resolve()}: not a Python file; {OWN_CODE}")
    path = path.resolve()
    if not path.is_file():
        raise SuiteError(f"plugin {path}: no such file")
    module = path.stem
    if not module.isidentifier():
        raise SuiteError(f"plugin {path}: its name must be a Python identifier to be imported as a module")
    reason = _reserved(module)
    if reason:
        raise SuiteError(f"plugin {path}: its module name {module!r} is {reason}; rename the file")
    other = sys.modules.get(module)
    if other is not None and module not in _LOADED:
        where = getattr(other, "__file__", None) or "a built-in module"
        raise SuiteError(f"plugin {path}: the module name {module!r} is taken by {where}; rename the file")
    sha = _readable_sha256(str(path), [path])

    def do_import() -> None:
        spec = importlib.util.spec_from_file_location(module, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[module] = mod
        spec.loader.exec_module(mod)

    _run(module, sha, [path], do_import)
    return Plugin(module=module, sha256=sha, file=str(path))


def _find_spec(name: str):
    """The import spec of the module `name` (None: there is none); a SuiteError where finding it
    means importing a parent package that fails."""
    if not all(part.isidentifier() for part in name.split(".")):
        return None
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    except Exception as exc:  # a parent package raised on import
        raise SuiteError(f"plugin {name!r}: {type(exc).__name__}: {exc}") from None


def load_module(name: str) -> Plugin:
    """Import the installed plugin module `name` (reloaded when its source changed)."""
    reason = _reserved(name)
    if reason:
        raise SuiteError(f"plugin {name!r} is {reason}, not a plugin: {OWN_CODE}")
    spec = _find_spec(name)
    if spec is None:
        raise SuiteError(f"plugin {name!r}: no such module (a file plugin's path ends in .py)")
    if spec.origin is not None and not spec.has_location:  # built into the interpreter, or frozen
        raise SuiteError(f"plugin {name!r} is a built-in module, not a plugin: {OWN_CODE}")
    files = _sources(spec.origin)
    sha = _readable_sha256(repr(name), files)

    def do_import() -> None:
        if name in sys.modules:
            importlib.reload(sys.modules[name])
        else:
            importlib.import_module(name)

    _run(name, sha, files, do_import)
    return Plugin(module=name, sha256=sha)


def entry_point_plugins() -> list[Plugin]:
    """Import every module registered under the entry-point group `genbench.suite.plugins`."""
    load_builtins()
    out = []
    for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        out.append(load_module(ep.module))
    return out


def load_entry(entry: str, base: Path) -> Plugin:
    """Import one entry of a suite's `plugins:`: a file (relative to `base`, the suite file's
    folder; a path, a name ending in .py or a file there) or an importable module name. A file
    outside `base` is imported too, with a note on stderr naming where it lies."""
    path = base / Path(entry).expanduser()
    if not (entry.endswith(".py") or "/" in entry or "\\" in entry or path.is_file()):
        return load_module(entry)
    plugin = load_file(path)
    if not Path(plugin.file).is_relative_to(base.resolve()):
        print(f"note: plugin {entry} is outside the suite's folder: {plugin.file}", file=sys.stderr)
    return plugin


def load_for_suite_file(path: Path) -> list[Plugin]:
    """Import the entry-point plugins and those a suite file names (for `genbench list --suite`)."""
    raw, _ = read_suite_yaml(path)
    entries = raw.get("plugins", []) if isinstance(raw, dict) else []
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise SuiteError(f"{path}: plugins: give a list of .py files or module names")
    found = entry_point_plugins()
    return found + [load_entry(e, path.parent.resolve()) for e in entries]


def ensure(plugins: list[Plugin]) -> None:
    """Import, in a worker, every plugin of a run that this process has not imported yet (by
    module name: a shipped file lies on the import path that Ray's runtime_env gives the worker;
    where it does not, as in a later process on the driver's machine, from the recorded file),
    and check that each has the source the run was defined with."""
    load_builtins()
    for plugin in plugins:
        module = sys.modules.get(plugin.module)
        if module is None and importlib.util.find_spec(plugin.module) is not None:
            module = importlib.import_module(plugin.module)
        elif module is None and plugin.file and Path(plugin.file).is_file():
            load_file(Path(plugin.file))
            module = sys.modules[plugin.module]
        elif module is None:
            raise ImportError(f"plugin {plugin.module!r} cannot be imported here (its file: {plugin.file})")
        found = _imported_sha(plugin.module, module)
        if found != plugin.sha256:  # another version of it: its numbers would not be the run's
            raise ImportError(
                f"plugin {plugin.module!r} imported from {module.__file__} is not the source the run was "
                f"defined with (sha256 {found[:12]}, expected {plugin.sha256[:12]}); a Ray job ships "
                "the plugin files of when it started: after editing a plugin in a long-lived Python "
                "session, call ray.shutdown() before running again"
            )


def _imported_sha(name: str, module) -> str:
    """The sha256 of the source a module was imported from (read when it was first seen here)."""
    if name in _LOADED:
        return _LOADED[name][0]
    if name not in _SEEN:
        _SEEN[name] = _sha256(_sources(getattr(module, "__file__", None)))
    return _SEEN[name]


_SEEN: dict[str, str] = {}  # modules imported by `ensure` -> the sha256 of their source then


def ray_py_modules(plugins: list[Plugin]) -> list[str]:
    """The files Ray ships to workers (runtime_env py_modules) for these plugins."""
    return sorted({p.file for p in plugins if p.file})
