"""Does the order of the two updates decide how many ring modes the Unrolled GAN notebook's plain GAN
keeps? An experiment behind a disagreement of the paper suites (README, "Reproductions").

genbench's `gan` follows algorithm 13.1: D steps on a batch, then G steps against the updated D on
a fresh z (alternating). The notebook (poolio/unrolled_gan, "Unrolled GAN demo.ipynb", cell
"Train!": `sess.run([[loss, unrolled_loss], g_train_op, d_train_op])`) runs both ops in one call on
one batch and one z, so with unrolling_steps = 0 both gradients are taken at the same parameters
(simultaneous). genbench's `unroll: k` path already updates that way for k >= 1; this script trains
the notebook's networks (`preset: unrolled`, `loss: minimax`, `unroll: 0`) both ways, through
genbench's own Trainer (data, noise, evaluation), and prints modes and high-quality share per
evaluation as Markdown.

    python tools/update_order.py [--steps 25000] [--seeds 0 1 2] [--every 5000] [--modes 7]
"""

from __future__ import annotations

import argparse
import types

import torch

from genbench.models.gan import discriminator_loss
from genbench.suite.config import load_suite
from genbench.worker.train import Trainer


def simultaneous_step(model, next_batch, step: int) -> dict[str, float]:
    """One step with both gradients at the current parameters, on one real batch and one z."""
    real = next_batch()
    fake = model.generator(model.noise(len(real), model.hp.z_dim))
    real_logits, fake_logits = model.discriminator(real), model.discriminator(fake)
    loss_d = discriminator_loss(real_logits, fake_logits, model.hp.loss, model.hp.divergence)
    d_params, g_params = list(model.discriminator.parameters()), list(model.generator.parameters())
    grads_d = torch.autograd.grad(loss_d, d_params, retain_graph=True)
    grads_g = torch.autograd.grad(-loss_d, g_params)  # minimax: G maximises the saddle objective
    for params, grads in ((d_params, grads_d), (g_params, grads_g)):
        for p, g in zip(params, grads, strict=True):
            p.grad = g
    model.opt_d.step()
    model.opt_g.step()
    return {"loss_d": loss_d.item(), "loss_g": -loss_d.item()}


def spec(steps: int, every: int, seed: int, modes: int):
    suite = {
        "name": "update_order",
        "seeds": [seed],
        "budget": {"steps": steps},
        "eval": {"every": every, "samples": 2500},
        "datasets": [{"name": "ring8", "n_modes": modes}],
        "models": [{"name": "gan", "preset": "unrolled", "loss": "minimax", "unroll": 0}],
        "metrics": ["mode_coverage"],
    }
    return load_suite(suite)[1][0]


def train(order: str, steps: int, every: int, seed: int, modes: int) -> list[dict]:
    """The evaluations (step, modes, hq_frac) of one run trained with `order`."""
    run = Trainer(spec(steps, every, seed, modes))
    if order == "simultaneous":
        run.model.train_step = types.MethodType(simultaneous_step, run.model)
    run.evaluate()
    while run.step < steps:
        run.train_step()
        if run.step % every == 0:
            run.evaluate()
    return [{k: row[k] for k in ("step", "modes", "hq_frac")} for row in run.trajectory]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25000)
    parser.add_argument("--every", type=int, default=5000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--modes", type=int, default=7, help="the ring's modes (the notebook's: 7)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(
        "| update | seed | " + " | ".join(f"step {s:,}" for s in range(0, args.steps + 1, args.every)) + " |"
    )
    print("|---|---|" + "---|" * (args.steps // args.every + 1))
    for order in ("alternating", "simultaneous"):
        for seed in args.seeds:
            rows = train(order, args.steps, args.every, seed, args.modes)
            cells = " | ".join(f"{r['modes']:.0f} ({100 * r['hq_frac']:.0f} %)" for r in rows)
            print(f"| {order} | {seed} | {cells} |", flush=True)
    print("\ncells: modes captured (share of high-quality samples) of 2,500 samples")


if __name__ == "__main__":
    main()
