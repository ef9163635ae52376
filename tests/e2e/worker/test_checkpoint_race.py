"""Two processes saving and loading one checkpoint at once: a load never removes the other
process's save in progress (before, most of its renames failed with FileNotFoundError)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import torch

from genbench.worker import checkpoint

SAVES = 100


def save_and_load(path: str, seed: int, errors) -> None:
    """Save and load `path` SAVES times; put every exception's name on `errors`."""
    state = {"run_id": "race", "weights": torch.randn(20_000, generator=torch.Generator().manual_seed(seed))}
    for _ in range(SAVES):
        try:
            checkpoint.save(Path(path), state)
            assert checkpoint.load(Path(path), "race")["weights"].shape == (20_000,)
        except BaseException as exc:  # noqa: BLE001 - every failure counts
            errors.put(f"{type(exc).__name__}: {exc}")


def test_two_processes_saving_one_checkpoint_lose_no_save(tmp_path):
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no torch state forked
    errors = context.Queue()
    path = tmp_path / checkpoint.FILENAME
    writers = [context.Process(target=save_and_load, args=(str(path), seed, errors)) for seed in (0, 1)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=300)
    assert [w.exitcode for w in writers] == [0, 0]
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.FILENAME]  # no temporary file left
    assert checkpoint.load(path, "race")["weights"].shape == (20_000,)
