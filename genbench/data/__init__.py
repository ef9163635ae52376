"""Datasets: 2-D toys (mixtures of Gaussians)."""
