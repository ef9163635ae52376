"""genbench: benchmark deep generative models under equal budgets, on Ray."""

__version__ = "0.1.0"
