"""genbench: benchmark deep generative models under equal budgets, on Ray.

The public API (genbench.api) is imported on first use, so `import genbench` stays light:
`GenerativeModel`, `SuiteError` and the names of `API_NAMES`.
"""

from __future__ import annotations

from genbench.numerics import __version__

# the names genbench.api exports (its __all__): registering (genbench.registry's one door, for
# plugins and built-ins alike), running a suite and reading its results
API_NAMES = (
    "Diagnostic",
    "LoadedRun",
    "Modes",
    "NoParams",
    "PrepareError",
    "load_results",
    "load_run",
    "load_trajectories",
    "register_dataset",
    "register_metric",
    "register_model",
    "run_suite",
)
__all__ = ["GenerativeModel", "SuiteError", "__version__", *API_NAMES]


def __getattr__(name: str):
    if name in API_NAMES:
        from genbench import api  # the API loads the driver: only when a public name is used

        return getattr(api, name)
    if name == "GenerativeModel":
        from genbench.models.base import GenerativeModel  # torch: only when asked for

        return GenerativeModel
    if name == "SuiteError":
        from genbench.suite.reader import SuiteError  # pydantic and yaml: only when asked for

        return SuiteError
    raise AttributeError(f"module 'genbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
