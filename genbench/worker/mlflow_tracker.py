"""A run logged to MLflow: one MLflow run per genbench run, in the experiment named after the suite,
found again by its `genbench.run_id` tag when the genbench run resumes. mlflow is imported inside
functions: it takes seconds to import, and only suites that log to MLflow need it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Iterator

import numpy as np

from genbench.suite.config import RunSpec

RUN_ID_TAG = "genbench.run_id"
MARKER = "train_seconds"  # in every trajectory row: its history says up to which step a run is logged
MAX_PARAM_CHARS = 6000  # MLflow's limit on a parameter's value
UNNAMEABLE = re.compile(r"[^/\w.\- ]")  # characters an MLflow name may not have
PARAMS_PER_CALL, METRICS_PER_CALL = 100, 1000  # MLflow's limits on one log_batch
END_STATUS = {"ok": "FINISHED", "diverged": "FINISHED", "failed": "FAILED"}  # else KILLED: it may go on
WORKER_ENV = {  # a worker's: no run links printed, a few retries (the defaults retry for minutes)
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
CHECK_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}  # preflight's


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block's duration; restore them after."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _client(uri: str):
    """An MlflowClient of the tracking server or store at `uri`."""
    from mlflow import MlflowClient  # slow to import (seconds): only suites that log to MLflow need it

    return MlflowClient(tracking_uri=uri)


def experiment_id(client, name: str) -> str:
    """The id of the experiment `name`, created if there is none; ValueError if it is deleted."""
    from mlflow.exceptions import MlflowException  # see _client

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except MlflowException:  # another worker created it first
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage != "active":
        raise ValueError(
            f"its experiment {name!r} is deleted; restore it (`mlflow experiments restore`) "
            "or rename the suite"
        )
    return found.experiment_id


def check(uri: str, suite: str) -> None:
    """Raise if the tracking server or store at `uri` cannot be reached (one try, 10 s) or its
    experiment `suite` cannot be used; create the experiment if it is not there."""
    with _environment(CHECK_ENV):
        experiment_id(_client(uri), suite)


def _name(key) -> str:
    """`key` as a part of an MLflow name: a metric entry's `fid[inception]` as `fid-inception`."""
    return UNNAMEABLE.sub("_", str(key).replace("[", "-").replace("]", ""))


def _flat(prefix: str, value) -> dict[str, str]:
    """`value` as MLflow parameters: nested keys joined by dots, lists as JSON."""
    if isinstance(value, dict):
        out: dict[str, str] = {}
        for key, inner in value.items():
            out.update(_flat(f"{prefix}.{_name(key)}" if prefix else _name(key), inner))
        return out
    text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
    return {prefix: text[:MAX_PARAM_CHARS]}


def spec_params(spec: RunSpec) -> dict[str, str]:
    """The run's resolved spec as parameters: model, data set, every hyper-parameter, seed, budget,
    evaluation and metric settings."""
    spec_json = spec.model_dump(mode="json", exclude={"suite", "plugins", "label", "resources", "checkpoint"})
    spec_json["plugins"] = [p.module for p in spec.plugins]
    return _flat("", spec_json)


class MlflowTracker:
    """The MLflow run of one genbench run; steps up to `logged_through` are not logged again."""

    def __init__(self, spec: RunSpec, uri: str) -> None:
        for key, value in WORKER_ENV.items():
            os.environ.setdefault(key, value)
        self.client = _client(uri)
        experiment = experiment_id(self.client, spec.suite)
        query = f"tags.`{RUN_ID_TAG}` = '{spec.run_id}'"
        previous = self.client.search_runs(
            [experiment], query, order_by=["attributes.start_time DESC"], max_results=1
        )
        if previous and previous[0].info.status != "FINISHED":  # an interrupted attempt: go on with it
            self.run_id = previous[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            history = self.client.get_metric_history(self.run_id, MARKER)
            self.logged_through = max((m.step for m in history), default=-1)
            return
        tags = {RUN_ID_TAG: spec.run_id, "genbench.suite": spec.suite, "genbench.label": spec.label}
        name = f"{spec.label} | {spec.dataset} seed {spec.seed}"
        self.run_id = self.client.create_run(experiment, run_name=name, tags=tags).info.run_id
        self.logged_through = -1
        self._log_params(spec_params(spec))

    def _log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param  # see _client

        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=items[i : i + PARAMS_PER_CALL])

    def log(self, step: int, scalars: dict[str, float], image: np.ndarray | None) -> None:
        """Log an evaluation's numbers (and its sample picture as an artifact) unless already logged."""
        from mlflow.entities import Metric  # see _client

        if step <= self.logged_through:
            return
        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in scalars.items()]
        for i in range(0, len(items), METRICS_PER_CALL):
            self.client.log_batch(self.run_id, metrics=items[i : i + METRICS_PER_CALL])
        if image is not None:
            self.client.log_image(self.run_id, image, artifact_file=f"samples/step_{step:07d}.png")
        self.logged_through = step

    def close(self, step: int, status: str, tags: dict[str, str], pictures: dict[str, np.ndarray]) -> None:
        """Tag the run with its outcome, upload its final pictures and end it."""
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, value)
        for name, image in pictures.items():
            self.client.log_image(self.run_id, image, artifact_file=f"{name}.png")
        self.client.set_terminated(self.run_id, status=END_STATUS.get(status, "KILLED"))
