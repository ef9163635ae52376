"""Reading a suite file's YAML: the safe loader only, with bounds on size, nesting depth and alias
expansion (billion laughs), and the line of every key for messages."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

MAX_SUITE_BYTES = 2**20  # suite files are a few hundred bytes; these bounds stop hostile input
MAX_DEPTH = 32  # nesting levels
MAX_NODES = 20_000  # YAML values, every alias expanded (a "billion laughs" bomb is rejected)


class SuiteError(Exception):
    """A suite file that cannot be run; the message names the file, the key and the line."""


def read_suite_yaml(path: Path) -> tuple[dict[str, Any], dict[tuple, int]]:
    """The suite file's top-level mapping and the 1-based line of each key path in it."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SUITE_BYTES + 1)
        text = data.decode("utf-8")
    except OSError as exc:
        raise SuiteError(f"{path}: cannot read the suite file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise SuiteError(
            f"{path}: the suite file is not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    if len(data) > MAX_SUITE_BYTES:
        raise SuiteError(f"{path}: the suite file is larger than {MAX_SUITE_BYTES // 1024} KiB")
    try:
        node = _compose_bounded(text, path)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise SuiteError(f"{where}: YAML syntax error: {problem}") from None
    if not isinstance(raw, dict):
        raise SuiteError(f"{path}: a suite file must be a mapping of keys (name, seeds, ...)")
    return raw, _line_index(node) if node else {}


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def _compose_bounded(text: str, path: Path) -> yaml.Node | None:
    """Compose the document with the safe loader after checking its nesting depth, and reject it
    when, with every alias expanded, it is too large or too deep (billion laughs) or recursive."""
    depth = 0
    for count, event in enumerate(yaml.parse(text, Loader=yaml.SafeLoader)):
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        if depth > MAX_DEPTH or count > MAX_NODES:
            where = f"{path}:{event.start_mark.line + 1}"
            raise SuiteError(f"{where}: the YAML document is too deep or too large for a suite file")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    shape: dict[int, tuple[int, int]] = {}  # id(node) -> (nodes, depth) with aliases expanded
    stack, on_path = [(root, False)] if root is not None else [], set()
    while stack:
        node, done = stack.pop()
        if done:
            on_path.discard(id(node))
            parts = [shape[id(c)] for c in _children(node)]
            size = min(1 + sum(n for n, _ in parts), MAX_NODES + 1)
            shape[id(node)] = (size, 1 + max((d for _, d in parts), default=0))
            if size > MAX_NODES or shape[id(node)][1] > MAX_DEPTH:
                raise SuiteError(
                    f"{path}:{node.start_mark.line + 1}: the YAML document expands (aliases included) "
                    f"to more than {MAX_NODES} values or {MAX_DEPTH} levels; suite files are small"
                )
        elif id(node) in on_path:
            raise SuiteError(f"{path}:{node.start_mark.line + 1}: a YAML alias refers to itself")
        elif id(node) not in shape:
            on_path.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node))
    return root


def _line_index(node: yaml.Node, path: tuple = (), out: dict | None = None) -> dict[tuple, int]:
    """Map each key path of a composed YAML document to its 1-based line."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            _line_index(value, child, out)
            out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _line_index(value, (*path, i), out)
    return out


def _known_keys(schema: type[BaseModel], loc: tuple) -> list[str]:
    """The keys the schema accepts at the mapping that holds `loc`'s last key."""
    for part in loc[:-1]:
        field = schema.model_fields.get(part) if isinstance(part, str) else None
        inner = field.annotation if field else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return []
        schema = inner
    return list(schema.model_fields)


class SuiteErrors:
    """Collects problems with their key paths, then raises one SuiteError naming file and lines."""

    def __init__(self, path: Path, lines: dict[tuple, int]) -> None:
        self.path, self.lines, self.items = path, lines, []

    def add(self, loc: tuple, message: str) -> None:
        if (tuple(loc), message) not in self.items:  # a top-level block's problem, found per entry
            self.items.append((tuple(loc), message))

    def add_validation(self, prefix: tuple, err: ValidationError, schema: type[BaseModel]) -> None:
        for e in err.errors():
            loc = (*prefix, *e["loc"])
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                close = difflib.get_close_matches(str(loc[-1]), _known_keys(schema, e["loc"]), n=1)
                msg = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
            self.add(loc, msg)

    def line_of(self, loc: tuple) -> int | None:
        while loc not in self.lines and loc:
            loc = loc[:-1]
        return self.lines.get(loc)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        parts = []
        for loc, msg in self.items:
            key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
            line = self.line_of(loc)
            where = f"{self.path}:{line}" if line else str(self.path)
            parts.append(f"{where}: {key or '(top level)'}: {msg}")
        raise SuiteError("invalid suite file; " + "; ".join(parts))
