"""The reference feature sets a suite's runs will read: per data set, evaluation settings and
feature space of their metrics, the cache file and key of the real test images' features, where
those images come from, and a recipe that builds the space's extractor in any process. The driver
extracts each set once before any run starts (across Ray actors when it is large:
`genbench.driver.extract`); runs then read it from the cache (`fidelity.reference_features`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from genbench.metrics import EvalContext, feature_cache, fidelity
from genbench.metrics.feature_choice import params_of, spaces_of

# the metrics that compare generated features with the real test images' features
REFERENCE_METRICS = ("fid", "kid", "precision_recall", "density_coverage", "cmmd")


@dataclass(frozen=True)
class ReferenceSet:
    """One reference feature set: its cache file and key, its images and its extractor's recipe."""

    label: str
    path: Path
    key: dict
    source: feature_cache.Source
    recipe: Callable[[], feature_cache.Embed]

    @property
    def count(self) -> int:
        return self.key["count"]

    def cached(self) -> bool:
        """Whether the set is in the cache and sound (a damaged file is reported when read)."""
        return feature_cache.load(self.path, self.key, report=False) is not None

    def extract_here(self) -> feature_cache.FeatureSet:
        """The set, from the cache or extracted in this process."""
        source = self.source
        batches = lambda: source.batches(0, self.count, feature_cache.FEATURE_BATCH)  # noqa: E731
        return feature_cache.cached_features(self.path, self.key, batches, self.recipe())


def recipe_of(space: str, fe, weights: str | None, sha256: str | None) -> Callable[[], feature_cache.Embed]:
    """A picklable recipe of the extractor `fe` of `space`: a backbone's space, weights and hash;
    a torch-fidelity extractor's registered name, weights file and feature layer."""
    from genbench.metrics import backbones, extractors  # torch-fidelity: on first use

    if space in backbones.BACKBONES:
        return feature_cache.BackboneRecipe(space, weights, sha256)
    layer = extractors.LAYERS[space]["features"]
    return feature_cache.ExtractorRecipe(fe.get_name(), extractors.weights_path_of(fe), layer)


def reference_sets(specs: list, dataset_of: Callable) -> list[ReferenceSet]:
    """Every distinct reference feature set the runs' metrics read, in the order runs need them."""
    found: dict[Path, ReferenceSet] = {}
    for spec in specs:
        for key, space in spaces_of(spec, REFERENCE_METRICS).items():
            params = params_of(spec, key)
            weights, sha256 = getattr(params, "weights", None), getattr(params, "sha256", None)
            dataset = dataset_of(spec)
            ctx = EvalContext(None, 1, 0, settings=spec.eval, data_dir=spec.dataset_params.get("data_dir"))
            ctx.params = params
            fe, info = fidelity.extractor_of(space, dataset, ctx)
            n_real = min(ctx.setting("real_samples", len(dataset.test)), len(dataset.test))
            path = fidelity.reference_path(dataset, fe, info, n_real)
            if path in found:
                continue
            found[path] = ReferenceSet(
                label=f"{dataset.name} test, {space}, {n_real:,} images",
                path=path,
                key=feature_cache.key_of(dataset, "test", fe.get_name(), info["weights_hash"], n_real),
                source=feature_cache.source_of(dataset),
                recipe=recipe_of(space, fe, weights, sha256),
            )
    return list(found.values())
