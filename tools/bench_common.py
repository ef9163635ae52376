"""What tools/bench_ray.py and tools/bench_eval.py share: running a command while sampling its
process tree (Linux /proc), the header of a results file (machine, versions, date, load), and
"median [min-max]" cells.

The sampler reads every process's VmHWM, the kernel's own high-water mark of its resident set, at
each sample and keeps the last value read, so a peak is missed only if it comes within one
sampling interval of the process's exit. It also keeps each process's CPU seconds and the times
its title changed (Ray workers rename themselves: ray::IDLE, ray::RunWorker.__init__, ...).
One scan of /proc costs a few ms per interval.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from bench_report import machine  # next to this script: CPU, versions, date

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK")
RAY_AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent")

__all__ = ["machine", "header", "cell", "run_sampled", "write_results"]


def _stat(pid: int) -> tuple[int, int, float] | None:
    """(parent pid, start time in clock ticks since boot, CPU seconds) of `pid`; None if it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the fields after "pid (comm) ", from state on
    return int(fields[1]), int(fields[19]), (int(fields[11]) + int(fields[12])) / TICKS


def _memory_kib(pid: int) -> int:
    """VmHWM of `pid` in KiB (0 if it is gone)."""
    try:
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _title(pid: int) -> str:
    """The command line of `pid` as `ps` shows it."""
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


def _short(title: str) -> str:
    """A process title without the machine's paths: program and script names only."""
    if title.startswith("ray::"):
        return title[:80]
    words = [w for w in title.split()[:3] if not w.startswith("-")]
    return " ".join(Path(w).name for w in words)[:80]


def scrub(text: str) -> str:
    """`text` without this machine's paths: the repository, the interpreter's prefix, the home
    and temporary directories become placeholders."""
    repo = str(Path(__file__).resolve().parent.parent)
    for path, name in [
        (sys.prefix, "<venv>"),
        (repo, "<repo>"),
        (tempfile.gettempdir(), "<tmp>"),
        (str(Path.home()), "~"),
    ]:
        if len(path) > 1:
            text = text.replace(path, name)
    return text


def role(titles: Iterable[str], is_root: bool) -> str:
    """driver (the command itself), worker (a Ray actor of genbench), idle worker, or ray daemon."""
    titles = list(titles)
    if is_root:
        return "driver"
    if any(t.startswith("ray::") and not t.startswith(("ray::IDLE", *RAY_AGENTS)) for t in titles):
        return "worker"
    return "idle worker" if any(t.startswith("ray::IDLE") for t in titles) else "ray daemon"


class TreeSampler(threading.Thread):
    """Samples, every `interval` seconds, `root` and every process descended from it."""

    def __init__(self, root: int, t0: float, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.t0, self.interval = root, t0, interval
        self.procs: dict[tuple[int, int], dict] = {}  # (pid, start ticks) -> record
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling."""
        self._halt.set()
        self.join()

    def sample(self) -> None:
        """Read the tree once: every process's VmHWM, CPU seconds and title."""
        now = round(time.perf_counter() - self.t0, 3)
        children: dict[int, list[int]] = {}
        stats: dict[int, tuple[int, int, float]] = {}
        for entry in PROC.iterdir():
            stat = _stat(int(entry.name)) if entry.name.isdigit() else None
            if stat:
                children.setdefault(stat[0], []).append(int(entry.name))
                stats[int(entry.name)] = stat
        todo = [self.root]
        while todo:
            pid = todo.pop()
            if pid not in stats:
                continue
            todo.extend(children.get(pid, []))
            title = _title(pid)
            if not title:
                continue
            rec = self.procs.setdefault((pid, stats[pid][1]), {"pid": pid, "first_s": now, "titles": {}})
            rec.update(last_s=now, cpu_s=stats[pid][2])
            rec["hwm_kib"] = max(rec.get("hwm_kib", 0), _memory_kib(pid))
            rec["titles"].setdefault(title, now)

    def alive(self) -> list[int]:
        """Sampled processes other than the root that still run (the same processes: start time checked)."""
        out = []
        for pid, start in self.procs:
            stat = _stat(pid)
            if pid != self.root and stat is not None and stat[1] == start:
                out.append(pid)
        return out

    def records(self) -> list[dict]:
        """Every process seen: pid, role, first and last time seen (s from start), CPU s, peak MiB, titles."""
        out = []
        for rec in self.procs.values():
            titles = {_short(t): s for t, s in rec["titles"].items()}
            out.append(
                {
                    "pid": rec["pid"],
                    "role": role(rec["titles"], rec["pid"] == self.root),
                    "first_s": rec["first_s"],
                    "last_s": rec["last_s"],
                    "cpu_s": round(rec["cpu_s"], 2),
                    "peak_mib": round(rec["hwm_kib"] / 1024, 1),
                    "titles": titles,
                }
            )
        return out


def run_sampled(cmd: list[str], env: dict, cwd: Path, log: Path, interval: float = 0.25) -> dict:
    """Run `cmd` (output to `log`) while sampling its process tree; afterwards end any process of
    the tree still alive (only processes this command started). Returns the exit code, the wall
    time, the epoch time of the start and the sampled processes."""
    with open(log, "w") as out:
        started_epoch, tick = time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(proc.pid, tick, interval)
        sampler.start()
        code = proc.wait()
        wall = time.perf_counter() - tick
        sampler.stop()
    stray = sampler.alive()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in sampler.alive():
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        time.sleep(0.5 if stray else 0)
    return {
        "returncode": code,
        "wall_s": wall,
        "started_epoch": started_epoch,
        "processes": sampler.records(),
        "left_running": len(stray),
    }


def peak_by_role(processes: list[dict]) -> dict[str, dict]:
    """Per role: processes seen, the largest peak resident set (MiB), the sum of peaks, CPU seconds."""
    out: dict[str, dict] = {}
    for rec in processes:
        row = out.setdefault(rec["role"], {"count": 0, "peak_mib": 0.0, "sum_peaks_mib": 0.0, "cpu_s": 0.0})
        row["count"] += 1
        row["peak_mib"] = max(row["peak_mib"], rec["peak_mib"])
        row["sum_peaks_mib"] += rec["peak_mib"]
        row["cpu_s"] += rec["cpu_s"]
    return out


def cell(values: Iterable[float], fmt: str = "{:.2f}") -> str:
    """'median [min-max]' of `values` (just the value when there is one)."""
    values = [v for v in values if v is not None]
    if not values:
        return "-"
    med = fmt.format(statistics.median(values))
    if len(values) == 1 or min(values) == max(values):
        return med
    return f"{med} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def header(title: str, command: str, info: dict, loads: tuple, threads: str) -> list[str]:
    """The first lines of a results file: title, reproduction command, machine, versions, load."""
    load = [", ".join(f"{x:.2f}" for x in avg) for avg in loads]
    return [
        f"# {title}",
        "",
        f"`{command}` ({threads}).",
        "",
        f"Machine: {info['cpu']}; Python {info['python']}, torch {info['torch']}, "
        f"genbench {info['genbench']}; {info['date']}. Load average (1, 5, 15 min): "
        f"{load[0]} at start, {load[1]} at end.",
        "",
    ]


def write_results(out: Path, text: str, raw: dict) -> None:
    """Write the Markdown to `out` and the raw numbers to the JSON file beside it, both without this
    machine's paths (`scrub`); print the Markdown."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(scrub(text))
    out.with_suffix(".json").write_text(scrub(json.dumps(raw, indent=1, default=str)) + "\n")
    print(scrub(text))
