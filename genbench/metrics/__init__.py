"""The evaluation layer: metrics are functions of (model, dataset, evaluation context)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import torch

from genbench.data.pixels import to_unit


def metric_name(key: str) -> str:
    """The registered metric of a suite's metric entry `key`: the key itself for a metric listed
    once, `fid` for `fid[inception]` (registered names are lower snake_case, without brackets)."""
    return key.split("[", 1)[0]


def metric_entries(spec) -> list[tuple[str, str]]:
    """(key, metric name) of every metric entry a run computes, in suite order: the keys of its
    `metric_params` (a spec stored without them: its metric names)."""
    return [(key, metric_name(key)) for key in (spec.metric_params or dict.fromkeys(spec.metrics))]


def eval_seed(seed: int, step: int) -> int:
    """The seed of an evaluation's own generator: the run's seed and the step it is taken at."""
    return seed * 100003 + step


class EvalContext:
    """What one evaluation shares between metrics: the sample count, an RNG, one draw of samples,
    whether it is the final evaluation, evaluation settings, the parameters of the metric being
    computed (`params`) and its entry's key (`key`: `fid[inception]` where a suite lists fid
    twice), a cache (e.g. features of the draw) and the protocol each metric records for its
    numbers.

    In-training evaluations are cheaper than the final one: at most `eval.train_examples` test
    examples, and on image data sets at most `eval.train_samples` generated samples
    (`example_count`, `sample_count`); the final evaluation keeps the full protocol."""

    def __init__(
        self,
        model,
        n_samples: int,
        seed: int,
        final: bool = False,
        settings=None,
        data_dir: str | None = None,
    ) -> None:
        self.model = model
        self.n_samples = n_samples
        self.n_requested = n_samples  # eval.samples, before any in-training reduction
        self.generator = torch.Generator().manual_seed(seed)
        self.final = final
        self.settings = settings  # the suite's EvalSettings (None in direct calls: defaults apply)
        self.data_dir = data_dir  # the run's data root, for data a metric needs (the MNIST classifier's)
        self.cache: dict = {}
        self.protocols: dict[str, dict] = {}
        self.params = None  # the parameters of the metric being computed (its entry's schema)
        self.key: str | None = None  # the key of the metric entry being computed (None: its name)

    def setting(self, name: str, default=None):
        """An evaluation setting of the suite, else `default` (None: the EvalSettings default)."""
        value = getattr(self.settings, name, None)
        if value is not None:
            return value
        if default is None:
            from genbench.metrics.settings import EvalSettings  # pydantic: not when metrics register

            default = EvalSettings.model_fields[name].default
        return default

    def sample_count(self, dataset, final: bool | None = None) -> int:
        """Generated samples of an evaluation (final: this one's): `eval.samples`, and at an
        in-training evaluation of an image data set at most `eval.train_samples`."""
        final = self.final if final is None else final
        if final or dataset.kind != "image":
            return self.n_requested
        return min(self.n_requested, self.setting("train_samples"))

    def example_count(self, dataset, n: int, final: bool | None = None) -> int:
        """Test examples of an evaluation out of `n`: all, and at an in-training evaluation at most
        `eval.train_examples` (on every kind of data set)."""
        final = self.final if final is None else final
        if final:
            return n
        return min(n, self.setting("train_examples"))

    def samples_for(self, dataset) -> torch.Tensor:
        """The evaluation's shared draw, of `sample_count(dataset)` samples (unless already drawn)."""
        if "samples" not in self.__dict__:
            self.n_samples = self.sample_count(dataset)
        return self.samples

    def record(self, metric: str, protocol: Callable[[bool], dict]) -> None:
        """Store `metric`'s protocol, `protocol(final)`; at the final evaluation of a run that is
        also evaluated in training, add under `in_training` what the trajectory rows used instead.
        Kept under the key of the entry being computed (`fid[inception]`), which is `metric` itself
        for a metric listed once."""
        proto = protocol(self.final)
        if self.final and self.setting("every", 0):
            train = protocol(False)
            changed = {k: v for k, v in train.items() if proto.get(k) != v}
            if changed:
                proto["in_training"] = changed
        key = self.key if self.key and metric_name(self.key) == metric else metric
        self.protocols[key] = proto

    @cached_property
    def samples(self) -> torch.Tensor:
        """n_samples samples of the model, drawn once and shared by every sample metric (images
        in [0, 1] whatever the model's own pixel range)."""
        return to_unit(self.model.sample(self.n_samples, self.generator), self.model.pixel_range)
