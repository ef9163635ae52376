"""Property-based fuzzing of suite files: thousands of malformed or hostile files through the CLI.

Each file is checked in-process with `genbench validate` and, when that rejects it, with
`genbench run`: never a traceback, exit code 2 with a message naming the file (or 0 for the
rare valid file, which is then only validated, never run), and nothing written beside it.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path
from unittest import mock

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genbench.driver import runner
from genbench.driver.cli import main

EXAMPLES = 1100
BASE = {
    "name": "fuzz",
    "seeds": [0],
    "budget": {"steps": 1},
    "resources": {"cpus": 1, "gpus": 0},
    "eval": {"every": 1, "samples": 10},
    "datasets": [{"name": "ring8", "train_size": 100}],
    "models": [{"name": "gan", "z_dim": 2}],
    "metrics": ["mode_coverage"],
}
KEYS = [*BASE, "bugdet", "seed", "steps", "", "__class__", "name\x00"]
PARAMS = [
    "lr",
    "z_dim",
    "hidden",
    "depth",
    "loss",
    "d_steps",
    "clip",
    "decoder",
    "fixed_std",
    "sample",
    "std",
]
PARAMS += ["n_modes", "radius", "side", "train_size", "test_size", "batch_size", "latent_dim", "mc_samples"]
SUBKEYS = ["steps", "seconds", "cpus", "gpus", "every", "samples", "name", "lr", "std", "z_dim", "nope"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(),  # nan, inf, -0.0, subnormals
    st.text(max_size=12),
    st.sampled_from(["gan", "wgan", "vae", "ring8", "grid25", "elbo", "mode_coverage", "1e-4", "..", "/"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(SUBKEYS), st.integers(), st.text(max_size=5)), inner, max_size=4
        ),
    ),
    max_leaves=12,
)
entries = st.dictionaries(st.sampled_from(SUBKEYS), values, max_size=4)


@st.composite
def documents(draw) -> dict:
    """The valid base suite with some keys dropped, replaced by hostile values, or added."""
    doc = dict(BASE)
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=4)):
        action = draw(st.sampled_from(["drop", "value", "entries", "mapping", "params", "params"]))
        if action == "drop":
            doc.pop(key, None)
        elif action == "value":
            doc[key] = draw(values)
        elif action == "entries":
            doc[key] = draw(st.lists(entries, max_size=3))
        elif action == "mapping":
            doc[key] = draw(st.dictionaries(st.sampled_from(SUBKEYS), values, max_size=3))
        else:  # a known model or dataset with hostile hyper-parameters (lists are grids)
            section, names = draw(
                st.sampled_from([("models", ["gan", "wgan", "vae"]), ("datasets", ["ring8", "grid25"])])
            )
            params = draw(st.dictionaries(st.sampled_from(PARAMS), values, min_size=1, max_size=3))
            doc[section] = [{"name": draw(st.sampled_from(names)), **params}]
    return doc


HOSTILE = [
    "x: !!python/object/apply:os.system ['touch {marker}']\n",
    "x: !!python/object/new:builtins.exec [\"open('{marker}', 'w')\"]\n",
    "x: !!python/name:os.system\n",
    "x: !!python/tuple [1, 2]\n",
    "x: !custom {{a: 1}}\n",
    "x: &a [1, *a]\n",
    "x: *undefined\n",
    "l0: &l0 [a, a, a, a, a, a, a, a, a]\n"
    + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]\n" for i in range(1, 9)),
    "x: " + "[" * 400 + "]" * 400 + "\n",
    "x: " + "{a: " * 100 + "1" + "}" * 100 + "\n",
    "? [a, b]\n: c\n",
    "<<: *nothing\n",
    "name: &n fuzz\nalias: *n\n",
    "%YAML 1.1\n---\n",
    "--- a\n--- b\n",
    "\t- tab\n",
    "x: '\x00'\n",
    'x: "\\ud800"\n',
]


@st.composite
def files(draw) -> bytes:
    """A suite file: a mutated document, maybe with hostile YAML spliced in or bytes broken."""
    text = yaml.safe_dump(draw(documents()), default_flow_style=draw(st.sampled_from([None, True, False])))
    lines = text.splitlines(keepends=True)
    for snippet in draw(st.lists(st.sampled_from(HOSTILE), max_size=2)):
        lines.insert(draw(st.integers(0, len(lines))), snippet)
    data = "".join(lines).encode()
    how = draw(st.sampled_from(["keep", "keep", "truncate", "bytes", "garbage"]))
    if how == "truncate" and data:
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "bytes" and data:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at + 1 :]
    elif how == "garbage":
        data = draw(st.binary(max_size=64))
    return data


def genbench(cwd: Path, *args: str) -> tuple[int, str]:
    """`genbench ARGS` in-process; an exception escaping main() is reported as a traceback."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        previous = os.getcwd()
        os.chdir(cwd)
        try:
            code = main(list(args))
        except BaseException as exc:  # noqa: BLE001 - the property is that nothing escapes
            return -1, f"Traceback (most recent call last): {type(exc).__name__}: {exc}"
        finally:
            os.chdir(previous)
    return code, out.getvalue()


def test_hostile_suite_files_never_crash_and_write_nothing():
    checked = []

    def forbidden(*args, **kwargs):
        raise AssertionError("a fuzzed suite file reached Ray or training")

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=files())
    def check(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            marker = work / "PWNED"
            (work / "bad.yaml").write_bytes(data.replace(b"{marker}", str(marker).encode()))
            code, output = genbench(work, "validate", "bad.yaml")
            assert code in (0, 2), output
            if code == 2:
                assert "bad.yaml" in output and "Traceback" not in output, output
                with mock.patch.multiple(
                    runner, start_ray=forbidden, run_on_ray=forbidden, run_serial=forbidden
                ):
                    code, output = genbench(work, "run", "bad.yaml", "--results", "results")
                assert code == 2, output
                assert "bad.yaml" in output and "Traceback" not in output, output
            assert not marker.exists(), "a YAML tag ran code"
            assert sorted(os.listdir(work)) == ["bad.yaml"], os.listdir(work)
        checked.append(code)

    check()
    assert len(checked) >= 1000
    assert checked.count(2) >= 900, "the generator should mostly produce bad files"
