"""The built-in data sets, model families and metrics: importing their modules registers them
(through the same checked functions as plugins: registry.register_*). The registry imports none of
its users: this module hands it the loader, which every registration runs first."""

from __future__ import annotations

from genbench import registry


def _import_builtins() -> None:
    """Import the modules whose import registers the built-in datasets, models and metrics."""
    from genbench.data import folder, images, toys  # noqa: F401  (on first use: they import torch)
    from genbench.metrics import embedding_metrics, fidelity, likelihood, modes, mog, parzen  # noqa: F401
    from genbench.models import gan, generator, samples, vae, veegan, wgan  # noqa: F401


registry.set_builtins_loader(_import_builtins)


def load_builtins() -> None:
    """Register the built-in datasets, models and metrics (idempotent)."""
    registry.load_builtins()
