"""The built-in data sets, model families and metrics: importing their modules registers them
(through the same checked functions as plugins). The registry imports none of its users."""

from __future__ import annotations


def load_builtins() -> None:
    """Import the modules whose import registers the built-in datasets, models and metrics."""
    from genbench.data import images, toys  # noqa: F401  (on first use: they import torch)
    from genbench.metrics import fidelity, likelihood, modes, mog, parzen  # noqa: F401
    from genbench.models import gan, vae, veegan, wgan  # noqa: F401
