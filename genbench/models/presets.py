"""The toy networks and optimiser settings of the papers, by name (`preset:` of gan and wgan).

A preset's values become defaults of the keys a suite entry does not set; every value carries the
file of the authors' repository it was read from. Values for keys this family does not have
(`SKIPPED`) are left out: they belong to options another part of genbench adds (WGAN-GP's penalty
and Adam), and `genbench list` shows them so nobody mistakes the preset for the whole setting.
"""

from __future__ import annotations

from typing import Any, Literal

PACGAN = "fjxmlzn/PacGAN synthetic_data_experiments/"
PACGAN_CONFIG = PACGAN + "2DRing_GAN&PacGAN/config.py"
PACGAN_TASK = PACGAN + "2DGrid_GAN&PacGAN/pacgan_task.py"
PACGAN_BRICKS = PACGAN + "PacGAN/pacgan/bricks.py"
UNROLLED = 'poolio/unrolled_gan "Unrolled GAN demo.ipynb"'
GAN_TOY = "igul222/improved_wgan_training gan_toy.py"

GANPreset = Literal["pacgan", "unrolled"]
WGANPreset = Literal["wgan_gp_toy"]

# family -> preset -> key -> (value, source)
PRESETS: dict[str, dict[str, dict[str, tuple[Any, str]]]] = {
    "gan": {
        # G: z in R^2 -> 4 x [Linear 400 without bias, BatchNorm, ReLU] -> Linear(2) (with bias);
        # D: 3 x LinearMaxout(200 units, 5 pieces) -> Linear(1); N(0, 0.02) weights, zero biases.
        # D and G update once per step (ali_algorithm); the m slots of a fake pack are separate
        # generator calls there, one call here (see models/pack.py). Their Adam's beta2 is blocks'
        # default, 0.999 (not set in their config).
        "pacgan": {
            "z_dim": (2, PACGAN_CONFIG + " num_zdim"),
            "hidden": (400, PACGAN_CONFIG + " gen_hidden_size"),
            "depth": (4, PACGAN_TASK + " decoder MLP dims"),
            "g_bias": (False, PACGAN_TASK + " use_bias=False (the output layer keeps its bias)"),
            "g_batchnorm": (True, PACGAN_TASK + " BatchNormalization in decoder_h1..h4"),
            "activation": ("relu", PACGAN_CONFIG + " gen_activation Rectifier"),
            "d_hidden": (200, PACGAN_CONFIG + " disc_hidden_size"),
            "d_depth": (3, PACGAN_TASK + " discriminator_h1..h3"),
            "d_maxout": (5, PACGAN_CONFIG + " disc_maxout_pieces"),
            "init": ("normal", PACGAN_CONFIG + " weights_init_std, biases_init Constant(0)"),
            "init_scale": (0.02, PACGAN_CONFIG + " weights_init_std"),
            "lr": (1e-4, PACGAN_CONFIG + " learning_rate"),
            "beta1": (0.8, PACGAN_CONFIG + " beta1"),
            "batch_size": (100, PACGAN_CONFIG + " batch_size (packs per step)"),
            "d_steps": (1, PACGAN_TASK + " ali_algorithm: one D and one G update per batch"),
            "loss": ("nonsaturating", PACGAN_BRICKS + " generator_loss softplus(-sample_preds)"),
        },
        # 2 x 128 tanh MLPs, orthogonal init gain 1.4; its ring has 7 distinct modes:
        # linspace(0, 2 pi, 8) puts the first and last centre on the same point.
        "unrolled": {
            "hidden": (128, UNROLLED + " generator/discriminator n_hidden"),
            "depth": (2, UNROLLED + " n_layer"),
            "activation": ("tanh", UNROLLED + " activation_fn=tf.nn.tanh"),
            "init": ("orthogonal", UNROLLED + " orthogonal_initializer"),
            "init_scale": (1.4, UNROLLED + " orthogonal_initializer(gain=1.4)"),
            "z_dim": (256, UNROLLED + " params z_dim"),
            "lr_d": (1e-4, UNROLLED + " disc_learning_rate"),
            "lr_g": (1e-3, UNROLLED + " gen_learning_rate"),
            "beta1": (0.5, UNROLLED + " beta1"),
            "batch_size": (512, UNROLLED + " batch_size"),
            "unroll": (5, UNROLLED + " unrolling_steps"),
            "loss": ("minimax", UNROLLED + " g_train_opt.minimize(-unrolled_loss)"),
        },
    },
    "wgan": {
        # 3 x 512 ReLU generator and critic, z in R^2, tflib 'he' init on the hidden layers
        "wgan_gp_toy": {
            "hidden": (512, GAN_TOY + " DIM"),
            "depth": (3, GAN_TOY + " ReLULayer x 3"),
            "z_dim": (2, GAN_TOY + " tf.random_normal([n_samples, 2])"),
            "init": ("he", GAN_TOY + " initialization='he'"),
            "critic_steps": (5, GAN_TOY + " CRITIC_ITERS"),
            "batch_size": (256, GAN_TOY + " BATCH_SIZE"),
            "lr": (1e-4, GAN_TOY + " AdamOptimizer(learning_rate=1e-4)"),
            "lipschitz": ("gp", GAN_TOY + " MODE = 'wgan-gp'"),
            "gp_lambda": (0.1, GAN_TOY + " LAMBDA"),
            "betas_g": ((0.5, 0.9), GAN_TOY + " beta1=0.5, beta2=0.9"),
            "betas_d": ((0.5, 0.9), GAN_TOY + " beta1=0.5, beta2=0.9"),
        },
    },
}


def fill(data: Any, family: str, fields: dict) -> Any:
    """`data` (a suite entry's keys) with the named preset's values for the keys it does not set."""
    if not isinstance(data, dict) or data.get("preset") not in PRESETS[family]:
        return data  # no preset, or an unknown name: the Literal field reports it
    values = PRESETS[family][data["preset"]]
    return {**{k: v for k, (v, _) in values.items() if k in fields}, **data}


def skipped(family: str, preset: str, fields: dict) -> list[str]:
    """The preset's keys this family's schema does not have (left out by `fill`)."""
    return [k for k in PRESETS[family][preset] if k not in fields]


def description(family: str) -> str:
    """The `preset` field's text for `genbench list`: names, values and their sources."""
    parts = []
    for name, values in PRESETS[family].items():
        items = ", ".join(f"{k}={v!r} ({src})" for k, (v, src) in values.items())
        parts.append(f"{name}: {items}")
    return "the papers' toy settings as defaults of unset keys; " + "; ".join(parts)
