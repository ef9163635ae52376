"""Stop signals (real signals to this process) and the messages of a store that cannot be written."""

from __future__ import annotations

import errno
import os
import signal
import threading

import pytest

from genbench.driver.stopping import (
    StopNow,
    StopSignals,
    checkpoint_unwritable,
    is_storage_error,
    storage_problem,
    worker_problem,
)

CODES = [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)]


@pytest.mark.parametrize("sig, code", CODES, ids=["INT", "TERM", "HUP"])
def test_the_first_signal_sets_stop_a_second_quits_with_its_code(sig, code):
    stop = threading.Event()
    signals = StopSignals(stop)
    before = signal.getsignal(sig)
    signals.install()
    try:
        os.kill(os.getpid(), sig)
        assert stop.is_set() and signals.exit_code == code and signals.name == sig.name
        with pytest.raises(StopNow) as caught:
            os.kill(os.getpid(), signal.SIGINT)  # any second stop signal
        assert caught.value.exit_code == code and isinstance(caught.value, KeyboardInterrupt)
    finally:
        signals.restore()
    assert signal.getsignal(sig) is before


def test_a_second_install_keeps_the_first_handlers_to_restore():
    signals = StopSignals(threading.Event())
    before = signal.getsignal(signal.SIGTERM)
    signals.install()
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # what Ray's start does to a handler, roughly
    signals.install()
    assert signal.getsignal(signal.SIGTERM) == signals.handle
    signals.restore()
    assert signal.getsignal(signal.SIGTERM) is before


def test_storage_errors_and_their_messages(tmp_path):
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert is_storage_error(full) and is_storage_error(OSError(errno.EROFS, "ro"))
    assert not is_storage_error(OSError(errno.EACCES, "denied")) and not is_storage_error(ValueError())
    problem = storage_problem(full, tmp_path / "runs" / "abc")
    assert problem.startswith(f"cannot store results in {tmp_path / 'runs' / 'abc'}: No space left on device")
    assert "(ENOSPC)" in problem and "MiB free there" in problem
    named = OSError(errno.EDQUOT, "Disk quota exceeded", str(tmp_path / ".result.json.x1"))
    assert f"in {tmp_path}: Disk quota exceeded (EDQUOT)" in storage_problem(named, tmp_path / "elsewhere")
    error = checkpoint_unwritable(tmp_path / "checkpoint.pt", full)
    said = worker_problem(error, tmp_path)
    assert said.startswith(f"a run could not write the checkpoint {tmp_path / 'checkpoint.pt'}: No space")
    assert worker_problem("interrupted at step 5", tmp_path) is None
    assert worker_problem(None, tmp_path) is None
