"""What the test modules share (fixtures live in the conftest.py files): the repository's paths,
the real CLI in a subprocess, small suites, the bit-for-bit resume checks, a hand-made results
store, MNIST data roots, plugin sources, and loopback Ray clusters. No test module imports another
test module; they import from here."""

from __future__ import annotations

import contextlib
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import torch
import yaml
from rich.console import Console

from genbench.analysis.csvfiles import strip_id_prefixes
from genbench.driver.suite_run import run_suite
from genbench.store import runs as store
from genbench.store.result import RunResult, Status
from genbench.suite.config import load_suite
from genbench.worker.train import train

ROOT = Path(__file__).resolve().parents[1]  # the repository
SHARED = ROOT.parent / "shared" / "data"  # MNIST and Fashion-MNIST files beside the checkout
TOOLS = ROOT / "tools"
README = ROOT / "README.md"

# --- the real CLI in a subprocess (e2e only) --------------------------------------------------------

GENBENCH = [sys.executable, "-m", "genbench.driver.cli"]


def run_cli(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `genbench ARGS` in `cwd` and return the finished process (text output)."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env["COLUMNS"] = "200"
    return subprocess.run(
        [*GENBENCH, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


# --- small suites, resume checks ----------------------------------------------------------------

API_SUITE = {  # the Python API's suite (tests/unit/test_api.py, tests/e2e/test_api.py)
    "name": "api",
    "seeds": [0, 1],
    "budget": {"steps": 40},
    "eval": {"every": 20, "samples": 300},
    "datasets": [{"name": "ring8", "train_size": 2000, "test_size": 500}],
    "models": [{"name": "gan", "z_dim": 2, "hidden": 16, "batch_size": 32}, {"name": "vae", "hidden": 16}],
    "metrics": ["mode_coverage"],
}

RING = {"name": "ring8", "train_size": 2000, "test_size": 500}
DIGITS = {"name": "digits", "size": 28, "test_size": 100}  # the family checks' digits
DCGAN_DIGITS = {"name": "digits", "size": 32}  # the size DCGAN nets take
DCGAN_NETS = {"arch": "dcgan", "width": 0.125, "z_dim": 8, "batch_size": 16}


def suite_dict(models: list[dict], steps: int, seeds=(0,), every: int | None = 40, ckpt: int = 25) -> dict:
    return {
        "name": "resume",
        "seeds": list(seeds),
        "budget": {"steps": steps},
        "resources": {"cpus": 1, "gpus": 0},
        "eval": {"every": every, "samples": 500},
        "checkpoint": {"every": ckpt},
        "datasets": [RING],
        "models": models,
        "metrics": ["mode_coverage", "elbo"],
    }


def write_suite(tmp_path: Path, suite: dict, name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(suite))
    return path


def canon(result) -> str:
    """Exact, NaN-safe key of everything a run's numbers are (not its wall-clock times)."""
    rows = [{k: v for k, v in row.items() if k != "train_seconds"} for row in result.trajectory]
    keys = ("status", "steps", "metrics", "extras", "last_losses")
    return json.dumps({"rows": rows, **{k: getattr(result, k) for k in keys}}, sort_keys=True)


class StopAfter:
    """A stop flag that turns on after `n` checks: the trainer checks once before each step."""

    def __init__(self, n: int) -> None:
        self.n, self.checks = n, 0

    def is_set(self) -> bool:
        self.checks += 1
        return self.checks > self.n


def _family_spec(tmp_path: Path, model: dict, steps: int, dataset: dict | None):
    suite = suite_dict([model], steps=steps, every=10, ckpt=10)
    if dataset is not None:
        suite["datasets"], suite["metrics"] = [dataset], ["elbo"]  # skipped where it does not apply
    (spec,) = load_suite(write_suite(tmp_path, suite))[1]
    return spec


def check_resume(
    tmp_path: Path, model: dict, dataset: dict | None = None, steps: int = 24, stop_at: int = 13
):
    """Train `model` uninterrupted and stopped at `stop_at` then resumed: the same numbers (every
    new family and option passes this, on ring8 and digits)."""
    torch.set_num_threads(1)
    spec = _family_spec(tmp_path, model, steps, dataset)
    plain = train(spec)
    assert plain.status == "ok" and plain.steps == steps, plain.error
    path = tmp_path / "checkpoint.pt"
    part = train(spec, checkpoint_path=path, stop=StopAfter(stop_at))
    assert part.status == "interrupted" and part.steps == stop_at
    rest = train(spec, checkpoint_path=path)
    assert rest.resumed_at == [stop_at]
    assert canon(rest) == canon(plain)
    if dataset is None:  # toy runs send their final samples back
        assert torch.isfinite(torch.as_tensor(plain.samples)).all()
        assert (rest.samples == plain.samples).all()
    else:
        grids = rest.pictures["grids"]
        assert sorted(grids) == sorted(plain.pictures["grids"])
        assert all((grids[k] == plain.pictures["grids"][k]).all() for k in grids)
    return plain


def check_diverges(tmp_path: Path, model: dict) -> None:
    """A run with an absurd learning rate is recorded `diverged` with a non-finite loss."""
    result = train(_family_spec(tmp_path, model, 200, None))
    assert result.status == "diverged" and result.steps < 200
    assert "non-finite" in result.error


def write_option_suite(tmp_path, model: dict, dataset: dict, steps: int, **extra) -> Path:
    """A one-run suite of `model` on `dataset` (an adversarial family's options), checkpointing often."""
    suite = {
        "name": "opts",
        "seeds": [0],
        "budget": {"steps": steps},
        "eval": {"every": 5, "samples": 200},
        "checkpoint": {"every": 4},
        "datasets": [dataset],
        "models": [model],
        "metrics": ["mode_coverage"] if dataset["name"] == "ring8" else ["elbo"],
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, default_flow_style=None, sort_keys=False))
    return path


def option_spec(tmp_path, model: dict, dataset: dict, steps: int):
    (spec,) = load_suite(write_option_suite(tmp_path, model, dataset, steps))[1]
    return spec


def check_trains_samples_and_resumes(tmp_path, model: dict, dataset: dict, steps: int, stop_at: int):
    """Train `model`; a run stopped at `stop_at` and resumed from its checkpoint equals it bit for bit."""
    spec = option_spec(tmp_path, model, dataset, steps)
    plain = train(spec)
    assert plain.status == "ok", plain.error
    final = plain.samples if plain.samples is not None else plain.pictures["grids"][steps]  # toy or image
    assert torch.isfinite(torch.as_tensor(final)).all()
    path = tmp_path / "checkpoint.pt"
    assert train(spec, checkpoint_path=path, stop=StopAfter(stop_at)).status == "interrupted"
    rest = train(spec, checkpoint_path=path)
    assert rest.resumed_at == [stop_at]
    assert canon(rest) == canon(plain)
    again = rest.samples if rest.samples is not None else rest.pictures["grids"][steps]
    assert (again == final).all()
    return plain


# --- seeds trained together (tests/*/worker/test_seed_group.py) ---------------------------------

SEED_GROUP_SUITE = """\
name: vs
seeds: [0, 1, 2]
budget: {{steps: {steps}}}
eval: {{every: 50, samples: 500}}
vectorize_seeds: {vectorize}
datasets:
  - {{name: ring8, train_size: 5000}}
models:
  - {{name: gan, z_dim: 16, hidden: 32, batch_size: 64}}
  - {{name: vae, hidden: 32, batch_size: 64}}
metrics: [mode_coverage, elbo]
"""


def seed_group_specs(tmp_path, model: str, steps: int = 100, vectorize: str = "true"):
    """The runs of `model` in the seed-group suite (its seeds trained together unless `vectorize`)."""
    path = tmp_path / "vs.yaml"
    path.write_text(SEED_GROUP_SUITE.format(steps=steps, vectorize=vectorize))
    return [s for s in load_suite(path)[1] if s.model == model]


# --- the search grammar (tests/*/suite/test_search.py) ------------------------------------------

SEARCH_HEAD = """\
name: t
seeds: [0, 1]
budget: {steps: 5}
datasets: [{name: ring8}, {name: grid25}]
metrics: [mode_coverage]
"""
SEARCH_MODEL = "  - name: gan\n    search:\n      trials: 4\n      space:\n"  # the space's key is on line 11
BAD_SEARCHES = [  # (case, line, key, line number, message)
    (
        "unknown_distribution",
        "        lr: {logunifrom: [1.0e-5, 1.0e-2]}\n",
        "lr.logunifrom",
        11,
        "did you mean 'loguniform'",
    ),
    ("empty_choice", "        beta1: {choice: []}\n", "beta1.choice", 11, "non-empty"),
    ("low_above_high", "        lr: {uniform: [0.01, 0.001]}\n", "lr.uniform", 11, "low 0.01 > high 0.001"),
    (
        "unknown_key",
        "        lrr: {loguniform: [1.0e-5, 1.0e-2]}\n",
        "space.lrr",
        11,
        "no hyper-parameter 'lrr'",
    ),
    ("loguniform_at_zero", "        lr: {loguniform: [0, 0.1]}\n", "lr.loguniform", 11, "low > 0"),
    ("outside_the_schema", "        beta1: {uniform: [0.5, 1.0]}\n", "beta1.uniform", 11, "less than 1"),
    (
        "two_distributions",
        "        lr: {uniform: [0.1, 1], choice: [1]}\n",
        "space.lr",
        11,
        "one distribution",
    ),
    ("fractional_integer", "        d_steps: {uniform: [1, 5]}\n", "space.d_steps", 11, "valid integer"),
]


# --- successive halving's search (tests/*/driver/test_scheduler.py) ------------------------------

HALVING_HEAD = """\
name: sh
seeds: [0, 1]
budget: {steps: 40}
eval: {every: 10, samples: 300}
datasets: [{name: ring8, train_size: 2000}]
metrics: [mode_coverage]
"""
HALVING_MODELS = """\
models:
  - {name: gan, z_dim: 8, hidden: 16, batch_size: 64}
  - {name: wgan, z_dim: 8, hidden: 16}
"""
HALVING_SEARCH = (
    "search: {trials: 4, seed: 0, scheduler: asha, reduction: 2,"
    " space: {lr: {loguniform: [1.0e-4, 1.0e-2]}}}\n"
)


# --- a hand-made results store with known numbers (leaderboards, stats, reports) -------------------

VARIANT_A, VARIANT_B = "lr=0.001", "lr=0.0001"  # the two GAN variants of the suite below
# made-up metrics per (model, variant) and seed 0, 1, 2
VALUES = {
    ("gan", VARIANT_A): {"mode_dist": [1.0, 3.0, 2.0], "modes": [8, 6, 7]},  # mean 2.0 / 7, std 1.0 / 1.0
    ("gan", VARIANT_B): {"mode_dist": [0.4, 0.6, 0.5], "modes": [5, 6, 7]},  # mean 0.5 / 6, std 0.1 / 1.0
    ("vae", ""): {"mode_dist": [4.0, 5.0, 6.0], "modes": [2, 3, 4]},  # mean 5.0 / 3, std 1.0 / 1.0
}


def leaderboard_specs(tmp_path: Path) -> list:
    """The runs of a suite `lb`: two GAN variants and a VAE, three seeds each."""
    suite = {
        "name": "lb",
        "seeds": [0, 1, 2],
        "budget": {"steps": 10},
        "eval": {"samples": 100},
        "datasets": [{"name": "ring8"}],
        "models": [{"name": "gan", "lr": [1.0e-3, 1.0e-4]}, {"name": "vae"}],
        "metrics": ["mode_coverage"],
    }
    path = tmp_path / "lb.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return load_suite(path)[1]


def leaderboard_protocol(spec, samples: int = 100) -> dict:
    return {
        "dataset": spec.dataset,
        "dataset_params": spec.dataset_params,
        "split": "test",
        "samples": samples,
        "eval_seed": "seed * 100003 + step",
        "genbench": "0.1.0",
        "torch": "2.x",
        "seed": spec.seed,
    }


def build_store(tmp_path: Path, directions: dict, skip=(), samples=None) -> tuple[Path, list]:
    """Store every run of the suite with VALUES as its metrics, except the runs in `skip`."""
    specs = leaderboard_specs(tmp_path)
    suite_path = store.suite_dir(tmp_path / "results", "lb")
    store.write_manifest(suite_path, specs, "lb.yaml", directions)
    for spec in specs:
        key = (spec.model, spec.variant, spec.seed)
        if key in skip:
            continue
        values = VALUES[(spec.model, spec.variant)]
        metrics = {name: values[name][spec.seed] for name in directions}
        protocol = leaderboard_protocol(spec, (samples or {}).get(key, 100))
        result = RunResult(Status("ok"), steps=10, train_seconds=0.5, metrics=metrics, protocol=protocol)
        store.write_run(suite_path, spec, result)
    return suite_path, specs


# --- the report's tiny suite (run in-process, serially) -----------------------------------------

REPORT_SUITE = """\
name: tiny
seeds: [0, 1, 2]
budget: {steps: 40}
eval: {every: 10, samples: 300}
datasets:
  - {name: ring8, train_size: 2000, test_size: 500}
models:
  - {name: gan, loss: minimax, z_dim: 8, hidden: 16, batch_size: 64}
  - {name: gan, loss: nonsaturating, z_dim: 8, hidden: 16, batch_size: 64}
  - {name: wgan, z_dim: 8, hidden: 16, critic_steps: 2}
  - {name: wgan, z_dim: 8, hidden: 16, lr: 1.0e+30}   # diverges at once
  - {name: vae, hidden: 16}
metrics: [mode_coverage, elbo]
"""
REPORT_VARIANTS = [
    "gan loss=minimax z_dim=8 hidden=16 batch_size=64",
    "gan loss=nonsaturating z_dim=8 hidden=16 batch_size=64",
    "wgan z_dim=8 hidden=16 critic_steps=2",
    "wgan z_dim=8 hidden=16 lr=1e+30",
    "vae hidden=16",
]


def run_report_suite(work: Path) -> Path:
    """Run the tiny suite serially in `work` (`genbench run` writes the report at its end)."""
    (work / "tiny.yaml").write_text(REPORT_SUITE)
    code = run_suite(work / "tiny.yaml", work / "results", Console(file=io.StringIO()), serial=True)
    assert code == 0
    return work / "results" / "tiny"


# --- data roots -------------------------------------------------------------------------------


def data_root_with(tmp_path: Path, name: str, folder: str) -> Path:
    """A data root holding links to the shared gzip files of `name`, as torchvision expects them."""
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    for f in (SHARED / name).glob("*.gz"):
        (raw / f.name).symlink_to(f)
    return tmp_path


# --- plugin sources the plugin tests write into their temporary directories ---------------------
# (outside the package: a small GAN variant, a metric with a parameter, a toy data set with modes)

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


# --- loopback Ray clusters (e2e only) -----------------------------------------------------------
# Each node is a `ray start --block` process in a session of its own (start_new_session), with its
# own --temp-dir in a short directory of its own (a Unix socket path has at most 107 bytes, too few
# for pytest's tmp paths), removed afterwards. Ray rewrites 127.0.0.1 given as --node-ip-address to
# the machine's routable address, so the nodes use 127.0.0.2: still loopback, and Ray keeps it.
# Authentication is Ray's token mode with a random token given to every process through
# RAY_AUTH_TOKEN. Teardown kills every process of the sessions it created, and only those.

NODE_IP = "127.0.0.2"
STARTED = "Ray runtime started"  # what `ray start` prints once its node is up
RAY = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    """Every live process of session `sid` (Ray puts its workers in process groups of their own)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def kill_session(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to every process of the session that `proc` leads."""
    for pid in _session_pids(proc.pid):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def _alive_nodes(address: str, env: dict) -> int:
    code = (
        f"import ray; ray.init(address={address!r}, logging_level='error', log_to_driver=False); "
        "print('ALIVE', sum(n['Alive'] for n in ray.nodes()))"
    )
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
        )
    except subprocess.TimeoutExpired:
        return 0
    words = proc.stdout.split()
    return int(words[words.index("ALIVE") + 1]) if "ALIVE" in words else 0


@contextlib.contextmanager
def loopback_cluster(logs: Path, nodes: list[list[str]]) -> Iterator[tuple[str, dict, list]]:
    """A cluster of `nodes` (each node's own `ray start` options, the head first) on 127.0.0.2;
    yields (address, env, node processes). Stops exactly the processes it started."""
    port = _free_port()
    address = f"{NODE_IP}:{port}"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32), COLUMNS="200")
    head_env = {**env, "RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}
    common = ["--node-ip-address", NODE_IP, "--object-store-memory", str(80 * 2**20)]
    common += ["--disable-usage-stats", "--block"]
    ray_tmp = Path(tempfile.mkdtemp(prefix="gb-ray-"))
    head_cmd = [RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false"]
    head_cmd += ["--ray-client-server-port", str(_free_port()), "--temp-dir", str(ray_tmp / "head")]
    cmds = [(head_cmd, head_env)]
    for i in range(1, len(nodes)):
        cmds.append(([RAY, "start", "--address", address, "--temp-dir", str(ray_tmp / f"n{i}")], env))
    procs, files = [], [logs / f"node{i}.log" for i in range(len(nodes))]
    try:
        for (cmd, node_env), options, log in zip(cmds, nodes, files, strict=True):
            with open(log, "w") as out:
                procs.append(
                    subprocess.Popen(
                        [*cmd, *options, *common],
                        env=node_env,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        _wait_for(lambda: all(STARTED in f.read_text() for f in files), procs, files)
        _wait_for(lambda: _alive_nodes(address, env) >= len(nodes), procs, files)
        yield address, env, procs
    finally:
        for proc in reversed(procs):
            kill_session(proc, signal.SIGTERM)
        for proc in reversed(procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            kill_session(proc)
            proc.wait(timeout=10)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _wait_for(condition, procs: list, logs: list[Path], patience_s: float = 120) -> None:
    deadline = time.monotonic() + patience_s
    while not condition():
        assert time.monotonic() < deadline, f"the cluster did not come up in {patience_s:.0f} s"
        assert all(p.poll() is None for p in procs), "".join(log.read_text()[-2000:] for log in logs)
        time.sleep(1)


def read_csv_ids(path) -> pd.DataFrame:
    """A CSV file genbench wrote, its ids as in run folders (CSV files prefix them: run-<id>)."""

    return strip_id_prefixes(pd.read_csv(path))
