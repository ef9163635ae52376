"""Many seeds of one model as one batched model: every nn.Linear of S copies becomes one SeedLinear
whose weights carry a leading seed dimension, so one optimizer step updates all S at once.

Rows of every batch are interleaved by seed (row r belongs to seed r % S). A family's update rule
runs unchanged: its reshapes (e.g. the VAE's M samples of z, stacked in front of the batch) keep
whole blocks of S*b rows, so the interleaving survives them. Its losses are means over all S*b
rows, i.e. (1/S) x the sum of the seeds' own means; a gradient hook multiplies by S, so each seed
gets exactly the gradient of its own loss (Adam, RMSProp and weight clipping act per element, so
each seed's update is its own). Seeds share nothing but the batched matrix products.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from genbench.models.base import optimizers

ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid)  # activations that keep any layout


class SeedLinear(nn.Module):
    """S independent linear layers: weight (S, out, in), bias (S, 1, out). Takes interleaved rows
    (N, in) or seed-major (S, b, in); gives interleaved rows, or seed-major where `seed_major_out`
    (inside an MLP, so that the next SeedLinear needs no copy)."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]).unsqueeze(1))
        self.seed_major_out = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seeds = self.weight.shape[0]
        if x.dim() == 2:  # rows s, s+S, s+2S, ... belong to seed s
            x = x.reshape(x.shape[0] // seeds, seeds, -1).transpose(0, 1)
        out = torch.baddbmm(self.bias, x, self.weight.transpose(1, 2))  # (S, b, out)
        return out if self.seed_major_out else out.transpose(0, 1).reshape(-1, out.shape[-1])


class SeedBatch:
    """A family's model with its linear layers batched over the seeds of `members` (equal
    architectures); `model` trains all of them; `copy_to_members` gives each member its weights."""

    def __init__(self, members: list[nn.Module]) -> None:
        self.seeds = len(members)
        self.model = copy.deepcopy(members[0])  # its optimizers come along, bound to the copy
        self.model.batch_size = members[0].batch_size * self.seeds
        self.layers: dict[str, SeedLinear] = {}
        self.member_layers: list[dict[str, nn.Linear]] = []
        replaced: dict[int, nn.Parameter] = {}
        linears = [name for name, m in self.model.named_modules() if isinstance(m, nn.Linear)]
        for member in members:
            modules = dict(member.named_modules())
            self.member_layers.append({name: modules[name] for name in linears})
        for name in linears:
            old = self.model.get_submodule(name)
            new = SeedLinear([layers[name] for layers in self.member_layers]).to(old.weight.device)
            replaced.update({id(old.weight): new.weight, id(old.bias): new.bias})
            parent, _, attr = name.rpartition(".")
            setattr(self.model.get_submodule(parent), attr, new)
            self.layers[name] = new
        if any(not isinstance(m, SeedLinear) for m in self._param_modules()):
            raise ValueError("only models whose parameters all sit in nn.Linear layers train seeds together")
        for seq in (m for m in self.model.modules() if isinstance(m, nn.Sequential)):
            for first, act, second in zip(seq, seq[1:], seq[2:], strict=False):  # Linear, ReLU, Linear
                if (
                    isinstance(first, SeedLinear)
                    and isinstance(act, ELEMENTWISE)
                    and isinstance(second, SeedLinear)
                ):
                    first.seed_major_out = True
        for opt in optimizers(self.model).values():  # no state yet: re-point its params
            for group in opt.param_groups:
                group["params"] = [replaced[id(p)] for p in group["params"]]
        # gradient of the mean over S*b rows, times S: each seed's own gradient; 0 for dropped seeds
        self.grad_scale = torch.full((self.seeds, 1, 1), float(self.seeds), device=self.model.device)
        for layer in self.layers.values():
            for param in layer.parameters():
                param.register_hook(lambda grad: grad * self.grad_scale)

    def _param_modules(self) -> list[nn.Module]:
        return [m for m in self.model.modules() if any(True for _ in m.parameters(recurse=False))]

    @torch.no_grad()
    def finite_seeds(self) -> torch.Tensor:
        """(S,) bool: whether every parameter of each seed is finite."""
        ok = torch.ones(self.seeds, dtype=torch.bool, device=self.grad_scale.device)
        for param in self.model.parameters():
            ok &= torch.isfinite(param).flatten(1).all(1)
        return ok.cpu()

    @torch.no_grad()
    def drop(self, seed: int) -> None:
        """Stop training seed `seed` (it diverged): its weights and optimizer state become zeros
        and its gradients are scaled by 0, so it neither moves nor poisons the others' losses."""
        self.grad_scale[seed] = 0.0
        for opt in optimizers(self.model).values():
            for param in (p for group in opt.param_groups for p in group["params"]):
                param[seed].zero_()
                for value in opt.state.get(param, {}).values():
                    if torch.is_tensor(value) and value.shape == param.shape:
                        value[seed].zero_()

    @torch.no_grad()
    def copy_to_members(self, seeds: list[int]) -> None:
        """Give members `seeds` their current weights (before they are evaluated or saved)."""
        for name, layer in self.layers.items():
            for seed in seeds:
                target = self.member_layers[seed][name]
                target.weight.copy_(layer.weight[seed])
                target.bias.copy_(layer.bias[seed, 0])
