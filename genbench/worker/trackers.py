"""The trackers a run logs to as it runs (the suite's `trackers:`): the `Tracker` interface, the
set of one run's trackers that the training loop's evaluations call, the pictures they log, and
the check preflight makes that every tracker can be reached."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Protocol

import numpy as np

from genbench.store.protocol import protocol_id
from genbench.store.result import RunResult
from genbench.suite.config import RunSpec
from genbench.suite.trackers import TrackerEntry
from genbench.worker.artifacts import image_grid

SCATTER_SIDE = 256  # pixels of a toy run's scatter picture
REAL_COLOUR, SAMPLE_COLOUR = (190, 190, 190), (31, 119, 180)


class Tracker(Protocol):
    """Where one run is logged: each evaluation as it happens, then the outcome."""

    def log(self, step: int, scalars: dict[str, float], image: np.ndarray | None) -> None:
        """Log an evaluation's numbers (metrics, training diagnostics) and sample picture at `step`."""

    def close(self, step: int, status: str, tags: dict[str, str], pictures: dict[str, np.ndarray]) -> None:
        """Log the run's outcome (status, protocol id) and final pictures; end the run."""


class TrackerUnreachable(Exception):
    """A tracker of the suite cannot be used; the message says which and why."""


def open_tracker(entry: TrackerEntry, spec: RunSpec, run_folder: Path | None) -> Tracker:
    """The tracker of `entry` for the run `spec` (whose files are in `run_folder`)."""
    if entry.name == "mlflow":
        from genbench.worker.mlflow_tracker import MlflowTracker

        return MlflowTracker(spec, entry.uri)
    from genbench.worker.tensorboard_tracker import TensorBoardTracker

    return TensorBoardTracker(spec, run_folder)


def check_reachable(entries: list[TrackerEntry], suite: str) -> None:
    """Raise TrackerUnreachable unless every tracker of `entries` can be used now (MLflow: its
    server answers and the experiment `suite` exists or is created)."""
    for i, entry in enumerate(entries):
        if entry.name != "mlflow":
            continue  # TensorBoard writes into the run folders, which preflight checks
        from genbench.worker import mlflow_tracker

        try:
            mlflow_tracker.check(entry.uri, suite)
        except Exception as exc:  # any failure of the client: connection, HTTP, store, deleted experiment
            raise TrackerUnreachable(
                f"trackers[{i}]: cannot log to MLflow at {entry.uri}: {_reason(exc)}; start the tracking "
                "server, fix the entry's `uri:` (or MLFLOW_TRACKING_URI), or remove the tracker"
            ) from None


def _reason(exc: Exception) -> str:
    """The gist of a client's error: the connection's own words (`Failed to ...: [Errno 111]
    Connection refused`) rather than the layers of HTTP retries around them."""
    text = str(exc).strip()
    gist = re.search(r"(Failed to [^\"]*|Read timed out[^\"]*)", text)
    if gist:
        return gist.group(1)
    return text.splitlines()[0][:300] if text else type(exc).__name__


def scatter_picture(samples: np.ndarray, real: np.ndarray, side: int = SCATTER_SIDE) -> np.ndarray:
    """A 2-D run's samples (blue) over the real test draw (grey), framed by the real draw, as RGB."""
    picture = np.full((side, side, 3), 255, np.uint8)
    lo, hi = real.min(0), real.max(0)
    centre, half = (lo + hi) / 2, max(float((hi - lo).max()) * 0.6, 1e-6)
    for points, colour in ((real, REAL_COLOUR), (samples, SAMPLE_COLOUR)):
        points = points[np.isfinite(points).all(1)]
        xy = np.floor((points - centre + half) / (2 * half) * (side - 1)).astype(np.int64)
        xy = xy[((xy >= 0) & (xy < side - 1)).all(1)]
        for dx in (0, 1):  # 2 x 2 pixel dots
            for dy in (0, 1):
                picture[side - 1 - xy[:, 1] - dy, xy[:, 0] + dx] = colour
    return picture


def mosaic(images: np.ndarray, columns: int) -> np.ndarray:
    """Images (N, C, H, W; uint8, or floats in [0, 1]) tiled `columns` wide as one RGB uint8 picture."""
    if images.dtype != np.uint8:
        images = (np.clip(images, 0, 1) * 255).round().astype(np.uint8)
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    tiles = np.zeros((rows * columns, c, h, w), np.uint8)
    tiles[:n] = images
    tiled = tiles.reshape(rows, columns, c, h, w).transpose(0, 3, 1, 4, 2).reshape(rows * h, columns * w, c)
    return np.repeat(tiled, 3, axis=2) if c == 1 else tiled[..., :3]


def evaluation_picture(dataset, ctx) -> np.ndarray | None:
    """The evaluation's samples as a picture: an 8 x 8 grid of images, or a toy's scatter plot."""
    if dataset.kind == "image":
        return mosaic(image_grid(ctx.samples_for(dataset).cpu()), 8)
    if dataset.kind == "toy2d":
        samples = ctx.samples_for(dataset).detach().cpu().numpy()
        return scatter_picture(samples, dataset.test[: len(samples)].cpu().numpy())
    return None


def final_pictures(pictures: dict) -> dict[str, np.ndarray]:
    """A run's end-of-run pictures that are images: VAE reconstructions (originals over means), the
    2-D latent manifold."""
    out = {}
    if "reconstructions" in pictures:
        originals, means = pictures["reconstructions"]
        out["reconstructions"] = mosaic(np.concatenate([originals, means]), len(originals))
    if "manifold" in pictures:
        out["manifold"] = mosaic(pictures["manifold"], round(math.sqrt(len(pictures["manifold"]))))
    return out


class RunTrackers:
    """The trackers of one run: opened at its first evaluation (a tracker that cannot be opened fails
    the run), then each evaluation logged; a tracker that fails later is dropped with a warning on
    the worker's stderr, and the run goes on."""

    def __init__(self, spec: RunSpec) -> None:
        self.spec, self.run_folder = spec, None  # the run folder: train.train sets it
        self.trackers: list[Tracker] | None = None if spec.trackers else []

    def _open(self) -> list[Tracker]:
        if self.trackers is None:
            self.trackers = [open_tracker(e, self.spec, self.run_folder) for e in self.spec.trackers]
        return self.trackers

    def _each(self, method: str, *args) -> None:
        for tracker in list(self._open()):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # tracking is not worth the run: warn and train on
                self.trackers.remove(tracker)
                print(
                    f"genbench: run {self.spec.run_id}: stopped logging to {type(tracker).__name__} "
                    f"({type(exc).__name__}: {exc})",
                    file=sys.stderr,
                )

    def evaluated(self, row: dict, dataset, ctx) -> None:
        """Log a trajectory row (its numbers: metrics, training diagnostics, seconds) and the picture
        of the evaluation's samples."""
        if self.trackers == []:
            return
        numbers = {k: float(v) for k, v in row.items() if isinstance(v, int | float)}  # not lists
        step = int(numbers.pop("step"))
        self._each("log", step, numbers, evaluation_picture(dataset, ctx))

    def finished(self, result: RunResult) -> None:
        """Close every tracker with the run's outcome."""
        if self.trackers == []:
            return
        tags = {"genbench.status": result.status.value}
        if result.protocol:
            tags["genbench.protocol_id"] = protocol_id(result.protocol)
        self._each("close", result.steps, result.status.value, tags, final_pictures(result.pictures or {}))
        self.trackers = []

    def failed(self, step: int) -> None:
        """Close every tracker of a run that raised at `step`."""
        if self.trackers:
            self._each("close", step, "failed", {"genbench.status": "failed"}, {})
        self.trackers = []
