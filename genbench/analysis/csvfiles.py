"""The CSV files genbench writes. An id is written with a prefix naming its kind, `run-9e62c2051764`
or `protocol-82e09392`: a hexadecimal id such as `82e09392` or `123456789012` would otherwise be
read as a number by `pandas.read_csv` and spreadsheets (8.2e9393 is inf), which quoting does not
prevent. The run folder of `run-<id>` is `runs/<id>`."""

from __future__ import annotations

import pandas as pd

ID_PREFIXES = {"run_id": "run-", "protocol": "protocol-"}  # column -> the prefix of its ids


def with_id_prefixes(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose id columns hold prefixed ids (empty cells stay empty)."""
    out = frame.copy()
    for column, prefix in ID_PREFIXES.items():
        if column in out.columns:
            out[column] = [prefix + v if isinstance(v, str) and v else v for v in out[column]]
    return out


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """`frame` as the bytes of a CSV file (no index), its ids prefixed."""
    return with_id_prefixes(frame).to_csv(index=False).encode()


def strip_id_prefixes(frame: pd.DataFrame) -> pd.DataFrame:
    """A CSV file's table (read by `pandas.read_csv`) with its ids as in run folders, unprefixed."""
    out = frame.copy()
    for column, prefix in ID_PREFIXES.items():
        if column in out.columns:
            out[column] = [v.removeprefix(prefix) if isinstance(v, str) else v for v in out[column]]
    return out
