"""Fixtures of the driver's fault tests: `genbench run` as a background subprocess in a session of
its own (what it starts, Ray's processes included, is ended at teardown), and waiting on it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import GENBENCH, kill_session

PATIENCE_S = 180.0


class Driver:
    """A `genbench run` subprocess; its stdout and stderr go to files."""

    def __init__(self, work: Path, args: list[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["COLUMNS"] = "200"
        stamp = time.monotonic_ns()
        self.out_path, self.err_path = work / f"driver.{stamp}.out", work / f"driver.{stamp}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(
                [*GENBENCH, "run", *args], cwd=work, env=env, stdout=out, stderr=err, start_new_session=True
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> tuple[str, str]:
        """Its stdout and stderr so far."""
        return self.out_path.read_text(), self.err_path.read_text()

    def wait_for(self, condition, what: str) -> None:
        """Wait until `condition()` holds; fail if the driver ends first or PATIENCE_S passes."""
        deadline = time.monotonic() + PATIENCE_S
        while not condition():
            assert self.proc.poll() is None, f"the driver ended before {what}:\n" + "\n".join(self.output())
            assert time.monotonic() < deadline, f"never {what}"
            time.sleep(0.1)

    def finish(self) -> tuple[int, str, str]:
        """Wait for it to end (killed past PATIENCE_S); its exit code, stdout and stderr."""
        try:
            code = self.proc.wait(timeout=PATIENCE_S)
        finally:
            if self.proc.poll() is None:
                kill_session(self.proc)
                self.proc.wait()
        return (code, *self.output())


@pytest.fixture
def start_driver(tmp_path):
    """Start `genbench run ARGS` in `tmp_path` (a Driver); every one started is ended at teardown,
    with whatever its session still holds (Ray's processes when it was killed)."""
    started: list[Driver] = []

    def start(*args: str) -> Driver:
        started.append(Driver(tmp_path, list(args)))
        return started[-1]

    yield start
    for driver in started:
        if driver.proc.poll() is None:
            driver.proc.send_signal(signal.SIGKILL)
            driver.proc.wait()
        kill_session(driver.proc)
