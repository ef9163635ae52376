"""Run every benchmark of genbench, one after another, each writing its results/bench/*.md (+ .json).

    python tools/bench_all.py --mnist-files DIR      # about an hour on a 2-core CPU
    python tools/bench_all.py --quick --out-dir OUT  # a minimal setting of each: checks they work

The trainer benchmark first (it times CPU work and wants the machine quiet), then Ray scaling,
then the evaluation share, then many seeds in one process. Without MNIST (--mnist-files,
--data-dir or $GENBENCH_DATA) the evaluation benchmark runs its toy cases only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
OUT_DIR = TOOLS.parent / "results" / "bench"
QUICK = {  # name -> arguments of a minimal run (the test suite uses the same)
    "trainer": ["--cases", "vae", "--steps", "3", "--repeats", "1", "--warmup", "2"],
    "ray": ["--quick"],
    "eval": ["--quick", "--cases", "toy_gan", "mnist_vae"],
    "seeds": ["--quick", "--cases", "vae_small"],
}


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks in turn; stop at the first that fails."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=list(QUICK), default=list(QUICK))
    parser.add_argument("--quick", action="store_true", help="a minimal setting of each benchmark")
    parser.add_argument("--out-dir", type=Path, default=OUT_DIR, help="where the .md and .json files go")
    parser.add_argument("--mnist-files", help="folder with MNIST's four .gz files (evaluation benchmark)")
    parser.add_argument("--data-dir", help="genbench data root with MNIST (evaluation benchmark)")
    args = parser.parse_args(argv)
    for name in args.only:
        cmd = [sys.executable, str(TOOLS / f"bench_{name}.py"), "--out", str(args.out_dir / f"{name}.md")]
        cmd += QUICK[name] if args.quick else []
        if name == "eval":
            cmd += ["--mnist-files", args.mnist_files] if args.mnist_files else []
            cmd += ["--data-dir", args.data_dir] if args.data_dir else []
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        tick = time.perf_counter()
        if subprocess.run(cmd, check=False).returncode != 0:
            print(f"== {name} failed", file=sys.stderr)
            return 1
        print(f"== {name} done in {time.perf_counter() - tick:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
