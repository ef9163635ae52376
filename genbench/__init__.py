"""genbench: benchmark deep generative models under equal budgets, on Ray.

The public API (genbench.api) is imported on first use, so `import genbench` stays light:
`GenerativeModel`, `register_model`, `register_metric`, `register_dataset`, `Diagnostic`,
`Modes`, `run_suite`, `load_results`, `load_trajectories`, `load_run`.
"""

from __future__ import annotations

from genbench.numerics import __version__

_API = (
    "LoadedRun",
    "load_results",
    "load_run",
    "load_trajectories",
    "register_dataset",
    "register_metric",
    "register_model",
    "run_suite",
)
_REGISTRY = ("Diagnostic", "Modes", "NoParams", "PrepareError")
__all__ = ["GenerativeModel", "SuiteError", "__version__", *_API, *_REGISTRY]


def __getattr__(name: str):
    if name in _API:
        from genbench import api

        return getattr(api, name)
    if name in _REGISTRY:
        from genbench import registry

        return getattr(registry, name)
    if name == "GenerativeModel":
        from genbench.models.base import GenerativeModel

        return GenerativeModel
    if name == "SuiteError":
        from genbench.suite.reader import SuiteError

        return SuiteError
    raise AttributeError(f"module 'genbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
