"""genbench: benchmark deep generative models under equal budgets, on Ray.

The public API (genbench.api) is imported on first use, so `import genbench` stays light:
`GenerativeModel`, `register_model`, `register_metric`, `register_dataset`, `Diagnostic`,
`Modes`, `run_suite`, `load_results`, `load_trajectories`, `load_run`.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "GenerativeModel": "genbench.models.base",
    "Diagnostic": "genbench.registry",
    "Modes": "genbench.registry",
    "NoParams": "genbench.registry",
    "PrepareError": "genbench.registry",
    "SuiteError": "genbench.suite_yaml",
    **{
        name: "genbench.api"
        for name in (
            "LoadedRun",
            "load_results",
            "load_run",
            "load_trajectories",
            "register_dataset",
            "register_metric",
            "register_model",
            "run_suite",
        )
    },
}
__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
