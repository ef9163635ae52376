"""The unit lane: no Ray, no subprocess, no classifier training. A unit test that imports ray (even
indirectly, through genbench) fails here; tests/unit/test_lanes.py checks the rest statically."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
_OUTSIDE: list[str] = []  # tests collected outside tests/unit (before any deselection)


@pytest.hookimpl(tryfirst=True)  # before -m and -k deselect any
def pytest_collection_modifyitems(config, items) -> None:
    _OUTSIDE.extend(item.nodeid for item in items if not item.path.is_relative_to(HERE))


def pytest_collection_finish(session) -> None:
    """A session that collected only unit tests must not have imported ray (a module-level import)."""
    if session.items and not _OUTSIDE and "ray" in sys.modules:
        raise pytest.UsageError("the unit lane imported ray while collecting (tests/unit must not)")


@pytest.fixture(autouse=True)
def no_ray():
    """Fail the test that imported ray (unless an e2e test of this session already had)."""
    before = "ray" in sys.modules
    yield
    if not before and "ray" in sys.modules:
        pytest.fail("this unit test imported ray: it belongs in tests/e2e", pytrace=False)
