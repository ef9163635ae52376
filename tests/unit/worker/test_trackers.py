"""Trackers in-process (genbench.worker.trackers): a run trained by the real loop logs to TensorBoard
(read back with TensorBoard's own event reader) and to MLflow (a real SQLite tracking store, read
with MlflowClient); a crashed run resumed from its checkpoint logs no step twice."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from genbench.store.protocol import protocol_id
from genbench.store.result import Status
from genbench.suite.config import RunSpec, load_suite
from genbench.worker import checkpoint
from genbench.worker.trackers import mosaic, scatter_picture
from genbench.worker.train import RunFailed, train

pytestmark = pytest.mark.usefixtures("one_thread")

GAN = {"name": "gan", "z_dim": 8, "hidden": 16, "batch_size": 64}
RING = {"name": "ring8", "train_size": 1000, "test_size": 300}
DIGITS = {"name": "digits", "size": 28, "test_size": 100}


def specs_of(
    tmp_path: Path, trackers: list, steps: int = 60, dataset: dict = RING, every: int = 10, name: str = "run"
) -> list[RunSpec]:
    """The runs of a one-run suite file logging to `trackers`, as the CLI loads them."""
    suite = {
        "name": name,
        "seeds": [0],
        "budget": {"steps": steps},
        "eval": {"every": every, "samples": 300},
        "checkpoint": {"every": 30},
        "datasets": [dataset],
        "models": [GAN],
        "metrics": ["mode_coverage"] if dataset is RING else ["parzen"],
        "trackers": trackers,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return load_suite(path)[1]


def events(folder: Path):
    """TensorBoard's own reader over a run's event files, everything loaded."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    reader = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    reader.Reload()
    return reader


class CrashAfter:
    """A stop flag whose `n`+1-th check raises: a run that crashes between two steps, after its
    last checkpoint (the trainer checks the flag once before each step)."""

    def __init__(self, n: int) -> None:
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        if self.checks > self.n:
            raise RuntimeError("the worker crashed")
        return False


def crash_then_resume(spec: RunSpec, run_folder: Path, crash_at: int):
    """Train `spec` until it crashes before step `crash_at + 1`, then again to its end; the second result."""
    path = run_folder / checkpoint.FILENAME
    with pytest.raises(RunFailed):
        train(spec, checkpoint_path=path, stop=CrashAfter(crash_at))
    assert path.exists()  # the checkpoint of step 30, before the crash
    out = train(spec, checkpoint_path=path)
    assert out.status == Status.OK and out.resumed_at == [30]
    return out


def test_tensorboard_has_every_evaluation_its_diagnostics_and_pictures(tmp_path):
    spec = specs_of(tmp_path, ["tensorboard"])[0]
    out = train(spec, checkpoint_path=tmp_path / "run" / checkpoint.FILENAME)
    reader = events(tmp_path / "run")
    steps = [row["step"] for row in out.trajectory]
    assert steps == [0, 10, 20, 30, 40, 50, 60]
    assert [e.step for e in reader.Scalars("eval/modes")] == steps
    assert [e.value for e in reader.Scalars("eval/mode_dist")] == pytest.approx(
        [row["mode_dist"] for row in out.trajectory], rel=1e-6
    )
    assert [e.step for e in reader.Scalars("train/loss_d")] == steps[1:]  # means since the last evaluation
    assert [e.step for e in reader.Scalars("time/train_seconds")] == steps
    pictures = reader.Images("samples")
    assert [p.step for p in pictures] == steps and pictures[0].width == 256
    assert set(reader.Tags()["tensors"]) >= {"genbench/spec/text_summary", "genbench/outcome/text_summary"}


def test_tensorboard_of_an_image_run_has_its_sample_grid(tmp_path):
    spec = specs_of(tmp_path, ["tensorboard"], steps=4, dataset=DIGITS, every=2)[0]
    train(spec, checkpoint_path=tmp_path / "run" / checkpoint.FILENAME)
    grids = events(tmp_path / "run").Images("samples")
    assert [g.step for g in grids] == [0, 2, 4]
    assert (grids[-1].width, grids[-1].height) == (8 * 28, 8 * 28)  # 8 x 8 samples of 28 x 28


def test_tensorboard_resumed_after_a_crash_reads_back_each_step_once(tmp_path):
    spec = specs_of(tmp_path, ["tensorboard"])[0]
    out = crash_then_resume(spec, tmp_path / "run", crash_at=45)  # steps 40 logged after the checkpoint
    assert len(list((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))) == 2
    reader = events(tmp_path / "run")
    assert [e.step for e in reader.Scalars("eval/modes")] == [0, 10, 20, 30, 40, 50, 60]
    assert [e.value for e in reader.Scalars("eval/mode_dist")] == pytest.approx(
        [row["mode_dist"] for row in out.trajectory], rel=1e-6
    )
    assert [p.step for p in reader.Images("samples")] == [0, 10, 20, 30, 40, 50, 60]


@pytest.fixture(scope="module")
def mlflow_uri(tmp_path_factory) -> str:
    """A real SQLite tracking store, made once for the module (its schema takes seconds)."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # a new store's default experiment keeps artifacts in ./mlruns: here
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        MlflowClient(uri).search_experiments()
    return uri


@pytest.fixture
def mlflow_store(mlflow_uri, tmp_path, request):
    """The store's client and an experiment of this test's own (artifacts under tmp_path), named
    after the test: the suite's name."""
    from mlflow import MlflowClient

    client = MlflowClient(mlflow_uri)
    name = request.node.name.removeprefix("test_")[:60]
    client.create_experiment(name, artifact_location=(tmp_path / "artifacts").as_uri())
    return mlflow_uri, client, name


def tracked_runs(client, name: str) -> list:
    return client.search_runs([client.get_experiment_by_name(name).experiment_id])


def test_mlflow_run_has_params_metrics_tags_and_pictures(tmp_path, mlflow_store):
    uri, client, name = mlflow_store
    spec = specs_of(tmp_path, [{"name": "mlflow", "uri": uri}], name=name)[0]
    out = train(spec, checkpoint_path=tmp_path / "run" / checkpoint.FILENAME)
    [run] = tracked_runs(client, name)
    assert run.info.status == "FINISHED"
    assert run.data.tags["genbench.run_id"] == spec.run_id
    assert run.data.tags["genbench.protocol_id"] == protocol_id(out.protocol)
    assert run.data.tags["genbench.status"] == "ok"
    params = run.data.params
    assert (params["model"], params["dataset"], params["seed"]) == ("gan", "ring8", "0")
    assert (params["budget.steps"], params["hparams.z_dim"], params["hparams.lr"]) == ("60", "8", "0.0001")
    assert params["dataset_params.train_size"] == "1000" and params["eval.every"] == "10"
    history = client.get_metric_history(run.info.run_id, "mode_dist")
    assert [(m.step, m.value) for m in history] == [(r["step"], r["mode_dist"]) for r in out.trajectory]
    assert run.data.metrics["modes"] == out.metrics["modes"]  # the final evaluation's, last
    losses = client.get_metric_history(run.info.run_id, "train.loss_g")
    assert [m.step for m in losses] == [10, 20, 30, 40, 50, 60]  # means since the last evaluation
    artifacts = [f.path for f in client.list_artifacts(run.info.run_id, "samples")]
    assert artifacts == [f"samples/step_{s:07d}.png" for s in range(0, 70, 10)]


def test_mlflow_resumed_after_a_crash_continues_its_run_without_duplicates(tmp_path, mlflow_store):
    uri, client, name = mlflow_store
    spec = specs_of(tmp_path, [{"name": "mlflow", "uri": uri}], name=name)[0]
    out = crash_then_resume(spec, tmp_path / "run", crash_at=45)
    [run] = tracked_runs(client, name)  # the crashed attempt's run, continued
    assert run.info.status == "FINISHED" and run.data.tags["genbench.status"] == "ok"
    for key in ("modes", "mode_dist", "train_seconds"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, key)]
        assert steps == [0, 10, 20, 30, 40, 50, 60], key
    history = client.get_metric_history(run.info.run_id, "mode_dist")
    assert [m.value for m in history] == [row["mode_dist"] for row in out.trajectory]  # 40: the first try's


def test_a_finished_run_trained_again_gets_a_new_mlflow_run(tmp_path, mlflow_store):
    uri, client, name = mlflow_store
    spec = specs_of(tmp_path, [{"name": "mlflow", "uri": uri}], steps=20, name=name)[0]
    train(spec, checkpoint_path=tmp_path / "a" / checkpoint.FILENAME)
    train(spec, checkpoint_path=tmp_path / "b" / checkpoint.FILENAME)  # e.g. `genbench run --fresh`
    runs = tracked_runs(client, name)
    assert len(runs) == 2 and {r.data.tags["genbench.run_id"] for r in runs} == {spec.run_id}
    for run in runs:
        assert [m.step for m in client.get_metric_history(run.info.run_id, "modes")] == [0, 10, 20]


def test_scatter_and_mosaic_pictures():
    real = np.array([[-1.0, -1.0], [1.0, 1.0]])
    picture = scatter_picture(np.array([[0.0, 0.0], [math.nan, 0.0], [50.0, 0.0]]), real, side=101)
    assert picture.shape == (101, 101, 3) and picture.dtype == np.uint8
    assert (picture[50, 50] == (31, 119, 180)).all()  # the sample at the centre, in blue
    assert (picture == (31, 119, 180)).all(2).sum() == 4  # one 2 x 2 dot: NaN and far-off samples left out
    grey = np.zeros((10, 1, 2, 3), np.uint8) + np.arange(10, dtype=np.uint8)[:, None, None, None]
    tiled = mosaic(grey, 4)
    assert tiled.shape == (3 * 2, 4 * 3, 3)  # 3 rows of 4, the last padded with black
    assert tiled[2, 3, 0] == 5 and tiled[5, 11, 0] == 0
