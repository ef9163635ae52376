"""The registered data sets, models and metrics with their defaults and sources: the text of
`genbench list` and the records the documentation's reference pages are generated from."""

from __future__ import annotations

import difflib
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from genbench.builtins import load_builtins
from genbench.models import presets
from genbench.registry import DATASETS, METRICS, MODELS
from genbench.suite.reader import SuiteError

SECTIONS = ("datasets", "models", "metrics")
PRESET_NOTE = "the papers' toy settings as defaults of unset keys"


@dataclass(frozen=True)
class Param:
    """One parameter of an entry: its name, default (as Python writes it) and description."""

    name: str
    default: str
    description: str


@dataclass(frozen=True)
class Preset:
    """A named preset: (key, value as Python writes it, the authors' file it was read from)."""

    name: str
    values: tuple[tuple[str, str, str], ...]


@dataclass(frozen=True)
class Entry:
    """What `genbench list` and the reference pages say about one registered name."""

    section: str  # "datasets", "models" or "metrics"
    name: str
    doc: str
    facts: tuple[tuple[str, str], ...]  # (label, text): kind, defaults' source, outputs, needs, ...
    params: tuple[Param, ...]
    presets: tuple[Preset, ...] = field(default=())


def _preset_family(description: str | None) -> str | None:
    """The PRESETS family whose `preset` field carries this description, or None."""
    return next((f for f in presets.PRESETS if description == presets.description(f)), None)


def _params(schema: type[BaseModel]) -> tuple[tuple[Param, ...], tuple[Preset, ...]]:
    """A schema's parameters, and the presets its `preset` field names (their text folded away)."""
    params, found = [], ()
    for name, info in schema.model_fields.items():
        description = info.description or ""
        family = _preset_family(info.description) if name == "preset" else None
        if family is not None:
            names = ", ".join(presets.PRESETS[family])
            description = f"{PRESET_NOTE}: {names} (values and sources below)"
            found = tuple(
                Preset(p, tuple((k, repr(v), src) for k, (v, src) in values.items()))
                for p, values in presets.PRESETS[family].items()
            )
        params.append(Param(name, repr(info.default), description))
    return tuple(params), found


def _directions(outputs: dict[str, str]) -> str:
    """A metric's outputs with which way is better."""
    return ", ".join(f"{k} ({'higher' if d == 'max' else 'lower'} is better)" for k, d in outputs.items())


def entries() -> list[Entry]:
    """Every registered data set, model and metric (built-ins and imported plugins), by section."""
    load_builtins()
    out = []
    for name, d in DATASETS.items():
        facts = [("kind", d.kind), ("metrics compare with", d.evaluation)]
        if d.modes is not None:
            rule = f"a run is collapsed below {d.modes.fraction:g} of them"
            facts.append(("modes", f"counted by the metric output `{d.modes.output}`; {rule}"))
        out.append(Entry("datasets", name, d.doc, tuple(facts), _params(d.params)[0]))
    for name, m in MODELS.items():
        params, found = _params(m.hparams)
        facts = [("defaults", " ".join((m.hparams.__doc__ or "").split()).removeprefix("Defaults: "))]
        facts += [("abilities", ", ".join(sorted(m.abilities)))] if m.abilities else []
        diagnostics = [
            f"train.{g.key} ({g.title}{', eq. ' + g.equation if g.equation else ''})" for g in m.diagnostics
        ]
        facts += [("diagnostics", "; ".join(diagnostics))] if diagnostics else []
        out.append(Entry("models", name, m.doc, tuple((k, v) for k, v in facts if v), params, found))
    for name, e in METRICS.items():
        facts = [("outputs", _directions(e.outputs))]
        facts += [("needs", f"a model with {e.needs}")] if e.needs else []
        facts.append(("data sets", ", ".join(sorted(e.dataset_kinds))))
        out.append(Entry("metrics", name, e.doc, tuple(facts), _params(e.params)[0]))
    return out


def select(all_entries: list[Entry], names: list[str] | None) -> list[Entry]:
    """The entries named (a name, or a section: datasets, models, metrics); all for none.
    Raises SuiteError naming an unknown name, with the closest known one."""
    if not names:
        return all_entries
    known = [e.name for e in all_entries]
    for name in names:
        if name not in known and name not in SECTIONS:
            close = difflib.get_close_matches(name, known + list(SECTIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            every = ", ".join([*SECTIONS, *known])
            raise SuiteError(f"genbench list: unknown name {name!r}{hint}; known: {every}")
    return [e for e in all_entries if e.name in names or e.section in names]


def _wrap(text: str, indent: int, hang: int, width: int) -> list[str]:
    """`text` folded to `width` columns, its first line indented by `indent`, the rest by `hang`."""
    return textwrap.wrap(
        text, width, initial_indent=" " * indent, subsequent_indent=" " * hang, break_on_hyphens=False
    ) or [" " * indent]


def _preset_lines(found: tuple[Preset, ...], width: int) -> list[str]:
    """Each preset's values on folded lines, then the files they were read from."""
    lines = ["    presets (defaults of the keys an entry leaves unset):"]
    for preset in found:
        values = ", ".join(f"{k}={v}" for k, v, _ in preset.values)
        lines += _wrap(f"{preset.name}: {values}", 6, 10, width)
        files = dict.fromkeys(_source_file(src) for _, _, src in preset.values)
        lines += [f"        {'from' if i == 0 else '    '} {f}" for i, f in enumerate(files)]  # unfolded
    return lines


def _source_file(source: str) -> str:
    """The repository and file of a preset value's source, without the detail after them."""
    match = re.match(r'\S+ (?:"[^"]*"|\S+)', source)
    return match.group(0) if match else source


def _entry_lines(entry: Entry, shown_presets: dict[tuple, str], width: int) -> list[str]:
    """One entry's block: its header, facts, parameters and presets (a repeat refers back)."""
    facts = dict(entry.facts)
    kind = f" ({facts['kind']})" if "kind" in facts else ""
    needs = f"; needs {facts['needs']}" if "needs" in facts else ""
    lines = [f"  {entry.name}{kind}: {entry.doc}{needs}".rstrip()]
    if "defaults" in facts:
        lines += _wrap(f"Defaults: {facts['defaults']}", 4, 4, width)
    if "outputs" in facts:
        lines += _wrap(f"outputs: {facts['outputs']}", 6, 10, width)
    for p in entry.params:
        lines += _wrap(f"{p.name} = {p.default}  {p.description}".rstrip(), 6, 10, width)
    if entry.presets:
        earlier = shown_presets.setdefault(entry.presets, entry.name)
        if earlier == entry.name:
            lines += _preset_lines(entry.presets, width)
        else:
            lines.append(f"    presets: as {earlier}'s ({', '.join(p.name for p in entry.presets)})")
    return lines


def _width() -> int:
    """The terminal's width, kept between 72 and 110 columns (100 when it is not a terminal)."""
    return max(72, min(110, shutil.get_terminal_size((100, 24)).columns))


def describe_registries(names: list[str] | None = None, width: int | None = None) -> str:
    """The text of `genbench list [NAME ...]`: each section's entries with parameters, defaults and
    sources, folded to `width` columns; a preset block shown once (a repeat refers back)."""
    chosen = select(entries(), names)
    width = width or _width()
    out: list[str] = []
    shown_presets: dict[tuple, str] = {}
    for section in SECTIONS:
        block = [e for e in chosen if e.section == section]
        if block:
            out.append(f"{section}:")
            for entry in block:
                out += _entry_lines(entry, shown_presets, width)
    return "\n".join(out)


def entries_by_section() -> dict[str, list[Entry]]:
    """Every entry grouped by section, for the generated reference pages."""
    grouped: dict[str, list[Any]] = {s: [] for s in SECTIONS}
    for entry in entries():
        grouped[entry.section].append(entry)
    return grouped
