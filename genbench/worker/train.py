"""The one training loop: budget, step, maybe evaluate, maybe checkpoint, stop on divergence or
request. No Ray here."""

from __future__ import annotations

import hashlib
import json
import math
import platform
import random
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from genbench import numerics
from genbench.builtins import load_builtins
from genbench.data.pixels import to_model
from genbench.metrics import EvalContext, eval_seed, metric_entries, metric_name
from genbench.models.base import optimizers
from genbench.numerics import NUMERICS_VERSION
from genbench.registry import DATASETS, METRICS, MODELS
from genbench.store.result import RunResult, Status
from genbench.suite.config import RunSpec
from genbench.worker import checkpoint
from genbench.worker.artifacts import image_grid, vae_artifacts
from genbench.worker.trackers import RunTrackers

ProgressFn = Callable[[dict], None]
REPORT_EVERY_S = 0.5


class RunFailed(Exception):
    """A run raised while training or evaluating; `partial` is its failed RunResult with what it
    had done until then (the step it failed at, its trajectory); the error is the __cause__."""

    def __init__(self, partial: RunResult) -> None:
        super().__init__(partial.error)
        self.partial = partial


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build(spec: RunSpec, device: str = "cpu"):
    """Build the dataset and the model of a run; a data set that can (`place`, e.g. the toys) puts
    its training draw on `device`."""
    load_builtins()
    ds_entry = DATASETS.get(spec.dataset)
    dataset = ds_entry.build(ds_entry.params(**spec.dataset_params))
    if hasattr(dataset, "place"):
        dataset.place(device)
    model_entry = MODELS.get(spec.model)
    model = model_entry.build(model_entry.hparams(**spec.hparams), dataset, device)
    return dataset, model


def protocol(spec: RunSpec, dataset, metric_protocols: dict | None = None) -> dict:
    """What a stored number depends on besides the model: evaluation data, samples, versions; with
    metric protocols (extractor, weights hash, counts...), a digest of them joins `split`, so that
    numbers of different protocols get different leaderboard groups."""
    split = DATASETS.get(spec.dataset).evaluation  # what its data set's entry says metrics compare with
    if metric_protocols:
        text = json.dumps(metric_protocols, sort_keys=True, default=str)
        split += "; metric protocols " + hashlib.sha256(text.encode()).hexdigest()[:12]
    return {
        "dataset": spec.dataset,
        "dataset_params": spec.dataset_params,
        "split": split,
        "samples": spec.eval.samples,
        "eval_seed": "seed * 100003 + step",
        "genbench": numerics.__version__,
        "numerics": NUMERICS_VERSION,
        "commit": numerics.commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "budget": spec.budget.model_dump(exclude_none=True),
        "seed": spec.seed,
    }


def _finite(values: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in values.values())


def timed_update(run) -> dict[str, float]:
    """One update of `run.model` (a Trainer's or a seed group's); advances its step and training
    seconds; returns the update's outputs."""
    tick = time.perf_counter()
    losses = run.model.train_step(run.next_batch, run.step)
    run.train_seconds += time.perf_counter() - tick
    run.step += 1
    run.last_losses = losses
    return losses


class Trainer:
    """One run's loop state: the model, its data stream, the step counter and the trajectory."""

    def __init__(self, spec: RunSpec, device: str = "cpu") -> None:
        seed_everything(spec.seed)
        self.spec, self.device = spec, device
        self.dataset, self.model = build(spec, device)
        # batches are drawn where the data set keeps its training data (a toy's: on the run's device)
        self.data_rng = torch.Generator(getattr(self.dataset, "device", "cpu")).manual_seed(spec.seed)
        self.budget = spec.budget
        self.metrics = {key: METRICS.get(name) for key, name in metric_entries(spec)}  # by entry key
        self.step, self.train_seconds = 0, 0.0
        self.eval_seconds = 0.0  # time spent in evaluate() by this process
        self.metric_protocols: dict[str, dict] = {}  # per entry, the protocol of its latest numbers
        self.trajectory: list[dict] = []
        self.grids: dict[int, np.ndarray] = {}  # image runs: 8x8 samples at each evaluation
        self.train_sums: dict[str, float] = {}  # sums of train_step outputs since the last evaluation
        self.steps_since_eval = 0
        self.last_losses: dict[str, float] = {}
        self.resumed_at: list[int] = []  # steps at which this run continued from a checkpoint
        self.saves = {"written": 0, "seconds": 0.0, "bytes": 0, "step": None}
        self.trackers = RunTrackers(spec)  # the suite's `trackers:`, logged to at each evaluation

    def next_batch(self) -> torch.Tensor:
        """A minibatch of real data of the model's batch size, in its pixel range, on the run's device
        (a toy's batch is already there: `.to` copies only an image batch)."""
        batch = self.dataset.batch(self.model.batch_size, self.data_rng)
        return to_model(batch, self.model.pixel_range).to(self.device)

    def train_step(self) -> dict[str, float]:
        """One update of the model; adds its outputs to the running means."""
        losses = timed_update(self)
        for key, value in losses.items():
            self.train_sums[key] = self.train_sums.get(key, 0.0) + value
        self.steps_since_eval += 1
        return losses

    def evaluate(self, final: bool = False) -> EvalContext:
        """Compute every metric now and append a trajectory row (with the mean train outputs);
        adds the time taken to `eval_seconds`. `final`: the end-of-run evaluation (full protocol)."""
        tick = time.perf_counter()
        seed = eval_seed(self.spec.seed, self.step)
        data_dir = self.spec.dataset_params.get("data_dir")
        ctx = EvalContext(self.model, self.spec.eval.samples, seed, final, self.spec.eval, data_dir)
        row = {"step": self.step, "train_seconds": round(self.train_seconds, 4)}
        n = max(1, self.steps_since_eval)
        row.update({f"train.{k}": v / n for k, v in self.train_sums.items()})
        self.train_sums, self.steps_since_eval = {}, 0
        self.model.eval()
        for key, metric in self.metrics.items():
            ctx.key, ctx.params = key, metric.params(**self.spec.metric_params.get(key, {}))  # its own
            row.update(metric.fn(self.model, self.dataset, ctx))
        if self.dataset.kind == "image":
            self.grids[self.step] = image_grid(ctx.samples_for(self.dataset))
        self.model.train()
        self.trajectory.append(row)
        self.metric_protocols.update(ctx.protocols)
        self.trackers.evaluated(row, self.dataset, ctx)  # the loop's evaluation points, final one too
        self.eval_seconds += time.perf_counter() - tick
        return ctx

    @torch.no_grad()
    def pictures(self) -> dict:
        """Picture data for the driver: sample grids per evaluation, and the VAE's figures."""
        out: dict = {"grids": dict(self.grids)} if self.grids else {}
        if self.dataset.kind == "image" and hasattr(self.model, "encode"):
            self.model.eval()
            out.update(vae_artifacts(self.model, self.dataset))
        return out

    def state_dict(self) -> dict:
        """Everything a resumed run needs to go on bit for bit: model, optimizers, counters,
        trajectory, running means, and the state of every generator (global and the data's)."""
        return {
            "run_id": self.spec.run_id,
            "step": self.step,
            "train_seconds": self.train_seconds,
            "trajectory": self.trajectory,
            "grids": {str(step): torch.from_numpy(grid) for step, grid in self.grids.items()},
            "train_sums": self.train_sums,
            "steps_since_eval": self.steps_since_eval,
            "last_losses": self.last_losses,
            "resumed_at": self.resumed_at,
            "model": self.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in optimizers(self.model).items()},
            "data_rng": self.data_rng.get_state(),
            "rng": checkpoint.rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state_dict()`'s output; record the step resumed at."""
        self.model.load_state_dict(state["model"])
        for name, opt in optimizers(self.model).items():
            opt.load_state_dict(state["optimizers"][name])
        self.data_rng.set_state(state["data_rng"])
        checkpoint.set_rng_state(state["rng"])
        self.step, self.train_seconds = state["step"], state["train_seconds"]
        self.trajectory, self.train_sums = state["trajectory"], state["train_sums"]
        self.grids = {int(step): grid.numpy() for step, grid in state["grids"].items()}
        self.steps_since_eval, self.last_losses = state["steps_since_eval"], state["last_losses"]
        self.resumed_at = [*state["resumed_at"], self.step]
        self.saves["step"] = self.step

    def save(self, path: Path) -> None:
        """Write a checkpoint of the current step to `path`, unless this step is already saved."""
        if self.saves["step"] == self.step:
            return
        tick = time.perf_counter()
        size = checkpoint.save(path, self.state_dict())
        self.saves["written"] += 1
        self.saves["seconds"] += time.perf_counter() - tick
        self.saves.update(bytes=size, step=self.step)

    def diverged(self, losses: dict[str, float]) -> bool:
        """Whether the step that returned `losses` diverged: a non-finite loss, or non-finite
        parameters at an evaluation step (checked there only: it costs a pass over the weights)."""
        return not _finite(losses) or (self.eval_due() and not self.model.is_finite())

    def eval_due(self) -> bool:
        """Whether an in-training evaluation falls on the current step (the final one is separate)."""
        every = self.spec.eval.every
        return bool(every) and self.step % every == 0 and not self.budget.spent(self.step, self.train_seconds)


def train(
    spec: RunSpec,
    device: str = "cpu",
    progress: ProgressFn | None = None,
    checkpoint_path: Path | None = None,
    stop: threading.Event | None = None,
    until: int | None = None,
) -> RunResult:
    """Train one run to its budget and evaluate it; return status, metrics and trajectory.

    Evaluation time does not count against a seconds budget, so variants with costlier
    metrics are not penalised; evaluation draws its noise from its own generator, so how
    often a run is evaluated does not change its training. With `checkpoint_path`, the run
    continues from the checkpoint there (if any) and saves every `spec.checkpoint.every` steps,
    at the end of training and when `stop` is set (checked between steps): then it returns
    status `interrupted`. With `until` (a step below the budget: a rung of successive halving) it
    checkpoints there and returns `paused`, its metrics those of the evaluation at that step. An
    exception raised on the way is raised as RunFailed, which carries the run's failed result.
    """
    run, restarted = resume(spec, device, checkpoint_path)
    run.trackers.run_folder = Path(checkpoint_path).parent if checkpoint_path else None  # TensorBoard's
    started = time.perf_counter()
    try:
        status = loop(run, progress, checkpoint_path, stop, until)
        if status == Status.OK and not run.model.is_finite():
            status = Status.DIVERGED
        if checkpoint_path and status in (Status.OK, Status.INTERRUPTED, Status.PAUSED):
            run.save(checkpoint_path)  # before the final evaluation, which a resumed run repeats exactly
        out = result(run, status, started)
    except Exception as exc:
        run.trackers.failed(run.step)  # the MLflow run ends FAILED; TensorBoard's files are closed
        raise RunFailed(failed(run, exc, started).replace(restarted=restarted)) from exc
    return out.replace(restarted=restarted) if restarted else out


def failed(run: Trainer, exc: Exception, started: float) -> RunResult:
    """The failed result of `run`, which raised `exc` (being handled): the step it failed at, its
    trajectory up to there, the traceback."""
    error = f"{type(exc).__name__}: {exc} (at step {run.step})"
    return RunResult.failed(error, traceback.format_exc()).replace(
        steps=run.step,
        train_seconds=run.train_seconds,
        wall_seconds=time.perf_counter() - started,
        last_losses=run.last_losses,
        eval_seconds=run.eval_seconds,
        resumed_at=run.resumed_at,
        checkpoints={k: v for k, v in run.saves.items() if k != "step"},
        trajectory=run.trajectory,
    )


def resume(spec: RunSpec, device: str, checkpoint_path: Path | None) -> tuple[Trainer, str | None]:
    """A Trainer of `spec`, continued from the checkpoint at `checkpoint_path` if one is there, and
    None; or, when that checkpoint cannot be loaded or does not fit the run, a fresh Trainer (step
    0) and the note saying why and where the checkpoint was moved."""
    run = Trainer(spec, device)
    if not checkpoint_path:
        return run, None
    state, note = checkpoint.load_or_set_aside(checkpoint_path, spec.run_id)
    if state is None:
        return run, note
    try:
        run.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError) as exc:
        reason = f"its contents do not fit this run ({type(exc).__name__}: {str(exc)[:200]})"
        return Trainer(spec, device), checkpoint.set_aside(Path(checkpoint_path), reason)
    return run, None


def loop(
    run,
    progress: ProgressFn | None,
    checkpoint_path: Path | None,
    stop: threading.Event | None,
    until: int | None = None,
) -> Status:
    """Step `run` (a Trainer, or a group of seeds trained as one) until its budget is spent, with
    its in-training evaluations and checkpoints; return ok, diverged or interrupted (or paused
    at step `until`)."""
    spec = run.spec
    last_report = time.perf_counter()
    if not getattr(run.model, "trains", True):  # samples or a generator made elsewhere: no step
        return Status.OK
    if spec.eval.every and not run.trajectory:
        run.evaluate()  # the untrained model: the start of every anytime curve
    while not run.budget.spent(run.step, run.train_seconds):
        if until is not None and run.step >= until:
            return Status.PAUSED
        if stop is not None and stop.is_set():
            return Status.INTERRUPTED
        losses = run.train_step()
        if run.diverged(losses):
            return Status.DIVERGED
        if run.eval_due():
            run.evaluate()
        if checkpoint_path and run.step % spec.checkpoint.every == 0:
            run.save(checkpoint_path)
        if progress and time.perf_counter() - last_report > REPORT_EVERY_S:
            last_report = time.perf_counter()
            progress(_progress(run.step, spec, run.train_seconds, run.trajectory))
    return Status.OK


def result(run: Trainer, status: Status, started: float) -> RunResult:
    """The result a run sends back (`_result`), after its trackers logged its outcome."""
    out = _result(run, status, started)
    run.trackers.finished(out)
    return out


def _result(run: Trainer, status: Status, started: float) -> RunResult:
    """The result a run sends back: with status ok, after its final evaluation. Only what the
    driver cannot rebuild travels (a toy run's test draw, for its scatter plot, it draws itself)."""
    if status == Status.OK:
        before = run.eval_seconds
        samples = run.evaluate(final=True).samples  # the final evaluation's draw, for the scatter plot
        final_eval_seconds = run.eval_seconds - before
    params = run.spec.metric_params
    outputs = {k for key, m in run.metrics.items() for k in m.outputs_for(params.get(key))}
    final = run.trajectory[-1] if run.trajectory and status in (Status.OK, Status.PAUSED) else {}
    fields = {
        "steps": run.step,
        "train_seconds": run.train_seconds,
        "wall_seconds": time.perf_counter() - started,
        "metrics": {k: final[k] for k in final if k in outputs},
        "extras": {k: v for k, v in final.items() if isinstance(v, list)},
        "last_losses": run.last_losses,
        # with what a family made elsewhere records of its input (its files, a resize)
        "protocol": protocol(run.spec, run.dataset, _shared(run.metric_protocols))
        | getattr(run.model, "input_protocol", {}),
        "metric_protocols": run.metric_protocols,
        "eval_seconds": run.eval_seconds,
        "resumed_at": run.resumed_at,
        "checkpoints": {k: v for k, v in run.saves.items() if k != "step"},
        "trajectory": run.trajectory,
    }
    if status == Status.OK:
        fields.update(final_eval_seconds=final_eval_seconds, pictures=run.pictures())
        toy = run.dataset.kind == "toy2d"  # the driver draws a toy's scatter plot; images send grids
        return RunResult.ok(**fields, samples=samples.cpu().numpy() if toy else None)
    if status == Status.DIVERGED:
        return RunResult.diverged(**fields)
    if status == Status.PAUSED:  # its metrics: the rung's in-training evaluation, at this step
        return RunResult.paused(**fields)
    error = f"interrupted at step {run.step}; the next `genbench run` resumes from its checkpoint"
    return RunResult.interrupted(error, **fields)


def _shared(metric_protocols: dict) -> dict:
    """The protocols of metrics every model gets (not those that need an ability, e.g. nll), so
    that a VAE's and a GAN's FIDs under one protocol share a leaderboard group."""
    return {k: v for k, v in metric_protocols.items() if METRICS.get(metric_name(k)).needs is None}


def _progress(step: int, spec: RunSpec, train_seconds: float, trajectory: list[dict]) -> dict:
    latest = {k: v for k, v in trajectory[-1].items() if isinstance(v, int | float)} if trajectory else {}
    return {
        "step": step,
        "total": spec.budget.steps,
        "steps_per_s": step / train_seconds if train_seconds else 0.0,
        "latest": {k: v for k, v in latest.items() if k not in ("step", "train_seconds")},
    }
