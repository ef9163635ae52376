"""The suite's `trackers:` key: where each run is logged as it runs (TensorBoard, MLflow). Not part
of the run id; genbench.worker.trackers does the logging."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from genbench.suite.reader import SuiteErrors

EXTRAS = {"tensorboard": "tensorboard", "mlflow": "mlflow"}  # tracker -> the package it needs
URI_ENV = "MLFLOW_TRACKING_URI"


class TrackerEntry(BaseModel):
    """One entry of `trackers:`: a name (`tensorboard`, `mlflow`) or `{name: mlflow, uri: ...}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Literal["tensorboard", "mlflow"]
    uri: str | None = None  # mlflow's tracking URI (default: $MLFLOW_TRACKING_URI on the driver)

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _usable(self) -> TrackerEntry:
        if self.name == "tensorboard" and self.uri is not None:
            raise ValueError("tensorboard takes no uri: its event files go into each run's folder")
        package = EXTRAS[self.name]
        if importlib.util.find_spec(package) is None:
            raise ValueError(
                f"the {self.name} tracker needs the {package!r} package, which is not installed here: "
                f"pip install 'genbench[{self.name}]'"
            )
        return self


def _absolute_uri(uri: str, base: Path) -> str:
    """`uri` with a relative local path (a folder, `file:` or `sqlite:///`) made absolute from `base`:
    Ray workers run in folders of their own."""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return "sqlite:///" + str((base / uri.removeprefix("sqlite:///")).resolve())
    if uri.startswith("file:") and not uri.startswith("file:/"):
        return (base / uri.removeprefix("file:")).resolve().as_uri()
    if uri != "databricks" and not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri):  # no scheme: a folder
        return (base / Path(uri).expanduser()).resolve().as_uri()
    return uri


def resolve_trackers(suite, base: Path, errors: SuiteErrors) -> list[TrackerEntry]:
    """The suite's trackers with mlflow's URI filled in (the entry's, relative paths from the suite
    file's folder, or $MLFLOW_TRACKING_URI's, from the working directory); problems go to `errors`."""
    resolved, seen = [], set()
    for i, entry in enumerate(suite.trackers):
        if entry.name in seen:
            errors.add(("trackers", i), f"{entry.name} is listed twice")
            continue
        seen.add(entry.name)
        if entry.name == "tensorboard" and suite.vectorize_seeds:
            errors.add(
                ("trackers", i),
                "tensorboard writes into each run's folder, which seeds trained together "
                "(vectorize_seeds) do not get; set one of them",
            )
        if entry.name == "mlflow":
            uri = _absolute_uri(entry.uri, base) if entry.uri else None
            if uri is None and os.environ.get(URI_ENV):
                uri = _absolute_uri(os.environ[URI_ENV], Path.cwd())
            if uri is None:
                errors.add(("trackers", i), f"mlflow needs a tracking URI: give `uri:` or set {URI_ENV}")
                continue
            entry = entry.model_copy(update={"uri": uri})
        resolved.append(entry)
    return resolved
