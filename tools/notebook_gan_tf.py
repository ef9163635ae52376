"""The Unrolled GAN notebook's plain GAN (k = 0), trained by TensorFlow itself, scored by genbench.

A reference-implementation check behind the VEEGAN table 1 rows (docs: Reproductions). genbench's
GAN with the notebook's settings ends on the ring spread over 6-8 modes with few high-quality
samples, where VEEGAN's table gives a GAN on one mode at 99.3 %. Is that genbench's torch code? This
script trains the notebook's configuration (poolio/unrolled_gan, "Unrolled GAN demo.ipynb") in
TensorFlow: 2 x 128 tanh MLPs with a linear output, TensorFlow's orthogonal initialiser (gain 1.4)
and zero biases, z ~ N(0, I_256), batch 512, fresh data and z every step, TensorFlow's Adam (D 1e-4,
G 1e-3, beta1 0.5, eps 1e-8), the saddle objective with G minimising its negative (`minimize(
-unrolled_loss)` with unrolling_steps = 0), and both updates from one evaluation of the graph (the
notebook's `sess.run([..., g_train_op, d_train_op])`). Samples are scored by genbench's
`mode_coverage` (2,500 samples, 3 std), as a run of `suites/papers/veegan_table1.yaml` is.

TensorFlow is not a genbench dependency: pass the Python of an environment that has it.

    python tools/notebook_gan_tf.py --tf-python ENV/bin/python [--ring ring8|notebook]
        [--seeds 0 1 2] [--steps 25000] [--every 5000] [--out FILE.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

RINGS = {
    "ring8": "8 equal modes at 2 pi k / 8 (genbench's ring8, PacGAN's)",
    "notebook": "the notebook's np.linspace(0, 2 pi, 8): 8 components, two at one point",
}


def train_in_tensorflow(ring: str, seed: int, steps: int, every: int, samples: int) -> dict:
    """(Run in the TensorFlow environment.) Train; return samples and D's logits on the ring at
    each evaluation step."""
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.random.set_seed(seed)
    rng = np.random.default_rng(seed)
    thetas = np.linspace(0, 2 * np.pi, 8) if ring == "notebook" else 2 * np.pi * np.arange(8) / 8
    centres = tf.constant(np.stack([np.sin(thetas), np.cos(thetas)], 1), tf.float32)

    def orthogonal(shape, gain=1.4):  # tf.orthogonal_initializer: QR of a normal matrix, sign-fixed
        return tf.Variable(tf.keras.initializers.Orthogonal(gain=gain, seed=int(rng.integers(2**31)))(shape))

    def mlp(sizes):
        return [
            (orthogonal((a, b)), tf.Variable(tf.zeros(b))) for a, b in zip(sizes[:-1], sizes[1:], strict=True)
        ]

    def forward(layers, h):
        for i, (w, b) in enumerate(layers):
            h = h @ w + b
            h = tf.tanh(h) if i < len(layers) - 1 else h
        return h

    gen, disc = mlp([256, 128, 128, 2]), mlp([2, 128, 128, 1])
    g_vars = [v for layer in gen for v in layer]
    d_vars = [v for layer in disc for v in layer]
    opt_d = tf.compat.v1.train.AdamOptimizer(1e-4, beta1=0.5, epsilon=1e-8)
    opt_g = tf.compat.v1.train.AdamOptimizer(1e-3, beta1=0.5, epsilon=1e-8)
    bce = tf.nn.sigmoid_cross_entropy_with_logits

    @tf.function
    def step():
        k = tf.random.uniform([512], 0, 8, tf.int32)
        data = tf.gather(centres, k) + 0.01 * tf.random.normal([512, 2])
        with tf.GradientTape(persistent=True) as tape:
            real, fake = forward(disc, data), forward(disc, forward(gen, tf.random.normal([512, 256])))
            loss = tf.reduce_mean(
                bce(labels=tf.ones_like(real), logits=real) + bce(labels=tf.zeros_like(fake), logits=fake)
            )
            neg = -loss
        grads_d, grads_g = tape.gradient(loss, d_vars), tape.gradient(neg, g_vars)
        opt_d.apply_gradients(
            zip(grads_d, d_vars, strict=True)
        )  # both gradients were taken before either update
        opt_g.apply_gradients(zip(grads_g, g_vars, strict=True))
        return loss

    angles = np.linspace(0, 2 * np.pi, 512, endpoint=False)
    on_ring = tf.constant(np.stack([np.sin(angles), np.cos(angles)], 1), tf.float32)
    out = {"tensorflow": tf.__version__, "centres": centres.numpy().tolist(), "evals": []}
    for i in range(steps + 1):
        if i % every == 0:
            x = forward(gen, tf.random.normal([samples, 256])).numpy()
            logits = forward(disc, on_ring).numpy()[:, 0]
            out["evals"].append({"step": i, "samples": x.tolist(), "d_logit_sd": float(logits.std())})
        if i < steps:
            step()
    return out


def score(run: dict) -> list[dict]:
    """genbench's mode coverage of each evaluation's samples (the ring's std 0.01)."""
    import torch

    from genbench.metrics.mog import mode_coverage

    centres = torch.tensor(run["centres"])
    unique = torch.unique(centres.round(decimals=6), dim=0)  # the notebook's ring repeats one centre
    rows = []
    for ev in run["evals"]:
        m = mode_coverage(torch.tensor(ev["samples"]), unique, 0.01)
        rows.append(
            {
                "step": ev["step"],
                "modes": m["modes"],
                "of": len(unique),
                "hq": m["hq_frac"],
                "d_logit_sd": ev["d_logit_sd"],
            }
        )
    return rows


def markdown(ring: str, table: dict[int, list[dict]], steps: int, tensorflow: str) -> str:
    seeds = " ".join(str(seed) for seed in table)
    lines = [
        f"# The notebook's plain GAN in TensorFlow, {RINGS[ring]}",
        "",
        f"`python tools/notebook_gan_tf.py --ring {ring} --steps {steps} --seeds {seeds}`:",
        "modes captured and",
        "high-quality share of 2,500 samples (genbench's `mode_coverage`), and the spread (sd) of",
        "D's logit along the ring (0 = a flat D that gives G no direction along it).",
        f"TensorFlow {tensorflow} on the CPU, one thread.",
        "",
        "| seed | step | modes | high quality | sd of D's logit on the ring |",
        "|---|---|---|---|---|",
    ]
    for seed, rows in table.items():
        for r in rows:
            hq, sd = f"{100 * r['hq']:.1f} %", f"{r['d_logit_sd']:.3f}"
            lines.append(f"| {seed} | {r['step']:,} | {r['modes']} of {r['of']} | {hq} | {sd} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tf-python", help="the Python of an environment with TensorFlow")
    p.add_argument("--ring", choices=sorted(RINGS), default="ring8")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=25000)
    p.add_argument("--every", type=int, default=5000)
    p.add_argument("--out", help="write the Markdown table here (default: print it)")
    p.add_argument("--train-one", type=int, help=argparse.SUPPRESS)  # the TensorFlow side
    args = p.parse_args(argv)
    if args.train_one is not None:
        json.dump(train_in_tensorflow(args.ring, args.train_one, args.steps, args.every, 2500), sys.stdout)
        return 0
    if not args.tf_python:
        p.error("--tf-python is required (TensorFlow is not a genbench dependency)")
    table = {}
    for seed in args.seeds:
        cmd = [
            args.tf_python,
            __file__,
            "--ring",
            args.ring,
            "--steps",
            str(args.steps),
            "--every",
            str(args.every),
            "--train-one",
            str(seed),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode:
            print(done.stderr[-2000:], file=sys.stderr)
            return 1
        run = json.loads(done.stdout)
        table[seed], tensorflow = score(run), run["tensorflow"]
        last = table[seed][-1]
        print(f"seed {seed}: {last['modes']} modes, {100 * last['hq']:.1f} % high quality", file=sys.stderr)
    text = markdown(args.ring, table, args.steps, tensorflow)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
