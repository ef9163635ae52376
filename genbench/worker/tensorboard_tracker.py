"""A run logged to TensorBoard: event files in `<run folder>/tensorboard/`. torch's SummaryWriter
(which needs the tensorboard package) is imported inside a function: only suites that log to
TensorBoard need it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from genbench.suite.config import RunSpec

FOLDER = "tensorboard"


def tag(name: str) -> str:
    """TensorBoard's tag of a trajectory column: `train.loss_d` -> `train/loss_d`, `fid` -> `eval/fid`."""
    if name.startswith("train."):
        return "train/" + name.removeprefix("train.")
    return "time/" + name if name.endswith("_seconds") else "eval/" + name


class TensorBoardTracker:
    """The event files of one run, opened at the first step it logs."""

    def __init__(self, spec: RunSpec, run_folder: Path | None) -> None:
        if run_folder is None:
            raise ValueError("tensorboard needs the run's folder, which seeds trained together do not get")
        self.spec, self.folder, self.writer = spec, Path(run_folder) / FOLDER, None

    def _writer(self, step: int):
        """The SummaryWriter; the first call's `purge_step` makes TensorBoard's reader drop what an
        earlier attempt of the run logged from `step` on (a resumed run logs those steps again)."""
        if self.writer is None:
            from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only suites that use it

            self.writer = SummaryWriter(str(self.folder), purge_step=step)
            if step == 0:  # a resumed run wrote it before
                spec = json.dumps(self.spec.model_dump(mode="json"), indent=1, sort_keys=True)
                text = f"run {self.spec.run_id}\n\n    " + spec.replace("\n", "\n    ")
                self.writer.add_text("genbench/spec", text, 0)
        return self.writer

    def log(self, step: int, scalars: dict[str, float], image: np.ndarray | None) -> None:
        """Write an evaluation's numbers and its sample picture at `step`."""
        writer = self._writer(step)
        for name, value in scalars.items():
            writer.add_scalar(tag(name), value, step)
        if image is not None:
            writer.add_image("samples", image, step, dataformats="HWC")
        writer.flush()  # readable as the run goes

    def close(self, step: int, status: str, tags: dict[str, str], pictures: dict[str, np.ndarray]) -> None:
        """Write the run's outcome and final pictures; close the files."""
        writer = self._writer(step)
        outcome = ", ".join(f"{k}: {v}" for k, v in {"status": status, **tags}.items())
        writer.add_text("genbench/outcome", outcome, step)
        for name, image in pictures.items():
            writer.add_image(name, image, step, dataformats="HWC")
        writer.close()
