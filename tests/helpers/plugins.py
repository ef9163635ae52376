"""Plugin sources the plugin tests write into their temporary directories (outside the
package: a small GAN variant, a metric with a parameter, a toy data set with modes)."""

from __future__ import annotations

from pathlib import Path

PLUGIN_MODEL = '''\
"""A least-squares GAN variant: a genbench model plugin."""
import os

import pandas as pd
import torch
from pydantic import BaseModel, Field
from torch import nn

import genbench


class TinyHParams(BaseModel):
    z_dim: int = Field(2, ge=1)
    hidden: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(64, ge=1)


class TinyGAN(genbench.GenerativeModel):
    def __init__(self, hp, dataset):
        super().__init__()
        self.hp, self.batch_size, d = hp, hp.batch_size, dataset.dim
        self.g = nn.Sequential(nn.Linear(hp.z_dim, hp.hidden), nn.ReLU(), nn.Linear(hp.hidden, d))
        self.d = nn.Sequential(nn.Linear(d, hp.hidden), nn.ReLU(), nn.Linear(hp.hidden, 1))
        self.opt_g = torch.optim.Adam(self.g.parameters(), hp.lr, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.d.parameters(), hp.lr, betas=(0.5, 0.999))

    def train_step(self, next_batch, step):
        x = next_batch()
        fake = self.g(self.noise(len(x), self.hp.z_dim))
        loss_d = ((self.d(x) - 1) ** 2).mean() + (self.d(fake.detach()) ** 2).mean()
        self.opt_d.zero_grad()
        loss_d.backward()
        self.opt_d.step()
        d_fake = self.d(fake)
        loss_g = ((d_fake - 1) ** 2).mean()
        self.opt_g.zero_grad()
        loss_g.backward()
        self.opt_g.step()
        # where this code runs: the worker's copy of the file (shipped by Ray) and its process
        where = {"plugin_file": __file__, "pid": os.getpid()}
        self.__class__.last_where = where
        return {"loss_d": loss_d.item(), "loss_g": loss_g.item(), "lsq_d_fake": d_fake.mean().item()}

    @torch.no_grad()
    def sample(self, n, generator):
        return self.g(self.noise(n, self.hp.z_dim, generator)).cpu()


genbench.register_model(
    "tiny_lsgan",
    TinyHParams,
    lambda hp, dataset, device: TinyGAN(hp, dataset).to(device),
    doc="least-squares GAN, one D step per G step",
    diagnostics=[genbench.Diagnostic("lsq_d_fake", "mean D(G(z)) of the least-squares GAN", "Mao et al. eq. 2")],
)
'''  # noqa: E501

PLUGIN_EXTRAS = '''\
"""A metric with a parameter and a toy data set with modes: genbench plugins."""
import math

import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

import genbench


class SpreadParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    power: float = Field(2.0, gt=0, description="the norm's power")


def spread(model, dataset, ctx):
    x = ctx.samples_for(dataset)
    value = x.abs().pow(ctx.params.power).sum(1).mean().pow(1 / ctx.params.power).item()
    where = getattr(type(model), "last_where", {})
    return {"spread": value, "where": [where.get("plugin_file", ""), str(where.get("pid", ""))]}


class LineParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_modes: int = Field(3, ge=2)
    std: float = Field(0.05, gt=0)


class Line:
    kind, dim = "toy2d", 2

    def __init__(self, p):
        self.name, self.std = "line", p.std
        self.modes = torch.stack([torch.linspace(-1, 1, p.n_modes), torch.zeros(p.n_modes)], 1)
        self.train = self.draw(2000, torch.Generator().manual_seed(0))
        self.test = self.draw(500, torch.Generator().manual_seed(1))

    def draw(self, n, generator):
        which = torch.randint(len(self.modes), (n,), generator=generator)
        return self.modes[which] + self.std * torch.randn(n, 2, generator=generator)

    def batch(self, batch_size, generator):
        return self.train[torch.randint(len(self.train), (batch_size,), generator=generator)]


genbench.register_metric("spread", spread, {"spread": "min"}, params=SpreadParams, doc="L^p spread of samples")
genbench.register_dataset(
    "line", LineParams, Line, "toy2d", doc="Gaussians on a line", modes=genbench.Modes(lambda p: p.n_modes, "modes")
)
assert math.isfinite(1.0)
'''  # noqa: E501


def plugin_suite(plugins: str, name: str = "plug", seeds: str = "[0]", extra: str = "") -> str:
    """A tiny suite that runs the plugin model beside the built-in gan on ring8 and the plugin's line."""
    return f"""\
name: {name}
seeds: {seeds}
budget: {{steps: 30}}
eval: {{every: 15, samples: 200}}
plugins: {plugins}
datasets: [{{name: ring8, train_size: 2000, test_size: 500}}, {{name: line}}]
models: [{{name: gan, z_dim: 2, hidden: 16, batch_size: 32}}, {{name: tiny_lsgan, hidden: 16}}]
metrics: [mode_coverage, {{name: spread, power: 1.0}}]
{extra}"""


def write_plugins(folder: Path) -> Path:
    """The two plugin files in `folder`/plugins and a suite naming them in `folder`; the suite's path."""
    (folder / "plugins").mkdir(parents=True, exist_ok=True)
    (folder / "plugins" / "tiny_lsgan.py").write_text(PLUGIN_MODEL)
    (folder / "plugins" / "gb_extras.py").write_text(PLUGIN_EXTRAS)
    path = folder / "plug.yaml"
    path.write_text(plugin_suite("[plugins/tiny_lsgan.py, plugins/gb_extras.py]"))
    return path
