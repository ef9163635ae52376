"""A suite's `eval:` settings: when runs are evaluated and with how many samples; metrics read them
through `EvalContext.setting`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EvalSettings(BaseModel):
    """When to evaluate (every N steps and at the end) and how many samples to draw."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    every: int | None = Field(None, gt=0)
    samples: int = Field(2500, gt=0)
    # feature and likelihood metrics (genbench.metrics)
    feature_extractor: str = Field("auto", pattern=r"^(auto|inception|mnist_classifier)$")
    feature_extractor_weights_path: str | None = None
    real_samples: int | None = Field(None, gt=0)  # test images for reference features (None: all)
    nll_k: int = Field(5000, gt=0)  # importance samples of `nll` at the final evaluation
    nll_k_train: int = Field(100, gt=0)  # ... and at in-training evaluations
    nll_examples: int | None = Field(None, gt=0)  # test examples for `nll` (None: all)
    # in-training evaluations of image data sets (the final one keeps the numbers above)
    train_samples: int = Field(1000, gt=0)  # generated samples, at most `samples`
    train_examples: int = Field(500, gt=0)  # test images for elbo, nll and parzen
