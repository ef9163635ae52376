"""Seeds of one variant trained together (`vectorize_seeds`): one batched model steps all of them
in the training loop of train.py, and each seed is evaluated and reported as its own run.

Each seed starts from the weights its run would start from alone (its Trainer builds the model
after seeding every generator with its seed) and draws its data from its own data generator;
the models' noise comes from one shared stream, so a seed's numbers are a statistically equal
draw, not the same numbers as alone (with one seed they are the same up to rounding). The
`train.*` running means of a group are not per seed, so its trajectories leave them out; a seed
whose weights become non-finite is `diverged` at that step and the others go on. A group keeps no
checkpoint: interrupted or lost, it starts again.
"""

from __future__ import annotations

import math
import threading
import time

import torch

from genbench.data.pixels import to_model
from genbench.models.seed_batch import SeedBatch
from genbench.store.result import RunResult, Status
from genbench.suite.config import RunSpec
from genbench.worker import checkpoint
from genbench.worker.train import ProgressFn, Trainer, loop, result, timed_update


class SeedGroup:
    """The loop state of a group: one Trainer per seed (data stream, evaluation, trajectory) and
    the batched model that trains them; the interface `train.loop` steps."""

    def __init__(self, specs: list[RunSpec], device: str = "cpu") -> None:
        self.spec, self.device = specs[0], device
        self.members: list[Trainer] = []
        for spec in specs:
            self.members.append(Trainer(spec, device))  # seeds everything with spec.seed, builds
            if len(self.members) == 1:
                noise_state = checkpoint.rng_state()  # where a lone run's training noise starts
        self.batch = SeedBatch([m.model for m in self.members])
        self.model = self.batch.model
        checkpoint.set_rng_state(noise_state)
        self.budget = self.spec.budget
        self.step, self.train_seconds = 0, 0.0
        self.alive = list(range(len(specs)))
        self.diverged_at: dict[int, int] = {}
        self.last_losses: dict[str, float] = {}

    @property
    def trajectory(self) -> list[dict]:
        """The trajectory of the first seed still training (all are evaluated at the same steps)."""
        return self.members[self.alive[0] if self.alive else 0].trajectory

    def next_batch(self) -> torch.Tensor:
        """One minibatch per seed from its own data generator, rows interleaved by seed."""
        first = self.members[0]
        parts = [m.dataset.batch(first.model.batch_size, m.data_rng) for m in self.members]
        batch = torch.stack(parts, 1).flatten(0, 1)  # (b, S, ...) -> row r is seed r % S
        return to_model(batch, self.model.pixel_range).to(self.device)

    def train_step(self) -> dict[str, float]:
        """One update of every seed; the seeds still training advance their step and seconds."""
        losses = timed_update(self)
        for s in self.alive:
            self.members[s].step, self.members[s].train_seconds = self.step, self.train_seconds
        return losses

    def diverged(self, losses: dict[str, float]) -> bool:
        """Drop the seeds whose weights are no longer finite (looked at when a group loss is not
        finite and at every evaluation); True once no seed is left."""
        if all(math.isfinite(v) for v in losses.values()) and not self.eval_due():
            return False
        finite = self.batch.finite_seeds()
        for s in [s for s in self.alive if not finite[s]]:
            self.alive.remove(s)
            self.diverged_at[s] = self.step
            self.batch.drop(s)
        return not self.alive

    def eval_due(self) -> bool:
        """Whether an in-training evaluation falls on the current step."""
        every = self.spec.eval.every
        return bool(every) and self.step % every == 0 and not self.budget.spent(self.step, 0.0)

    def evaluate(self, final: bool = False) -> None:
        """Evaluate every seed still training, each as its own run."""
        self.batch.copy_to_members(self.alive)
        for s in self.alive:
            self.members[s].evaluate(final)

    def save(self, path) -> None:  # pragma: no cover - the loop is never given a path for a group
        raise RuntimeError("a seed group keeps no checkpoint")


def train_group(
    specs: list[RunSpec],
    device: str = "cpu",
    progress: ProgressFn | None = None,
    stop: threading.Event | None = None,
) -> list[RunResult]:
    """Train the runs `specs` (one variant, several seeds, a steps budget) as one batched model;
    return one result per spec, in order, as `train.train` would."""
    started = time.perf_counter()
    group = SeedGroup(specs, device)
    status = loop(group, progress, None, stop)
    if status == Status.OK:
        group.diverged({"end": math.nan})  # a last look at every seed's weights
    group.batch.copy_to_members(group.alive)
    results = []
    for s, member in enumerate(group.members):
        outcome = Status.DIVERGED if s in group.diverged_at else status
        out = result(member, outcome, started)
        if outcome == Status.INTERRUPTED:
            out.error = f"interrupted at step {member.step}; seeds trained together start again"
        out.last_losses = {}
        out.vectorized = {"seeds": [spec.seed for spec in specs], "group_losses": group.last_losses}
        results.append(out)
    return results
