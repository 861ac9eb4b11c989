"""The local bench store: an append-only JSONL file in the user data dir.

Each record is written with a single `os.write` on an `O_APPEND` descriptor, under an advisory lock,
and fsynced, so an out-of-memory kill or an interrupt can never damage earlier lines. The one write a kill
cuts short may leave a torn line (the kernel stops a multi-page write at a fatal signal); the next append
starts on a new line, and a line that does not parse (that, or a torn last line after a power cut) is
skipped with a warning when reading.
"""

from __future__ import annotations

import fcntl
import json
import os
import warnings
from pathlib import Path

from llmfit_core.dirs import data_dir

STORE_NAME = "bench.jsonl"
MAX_LINE_BYTES = 1 << 20  # a record is a few KiB; anything larger is not ours


class StoreWarning(UserWarning):
    """A line of the store could not be read and was skipped."""


def store_path(directory: Path | None = None) -> Path:
    return (directory or data_dir()) / STORE_NAME


def append_line(path: Path, obj: dict) -> None:
    """Append one JSON object as one line, atomically with respect to other lines."""
    line = (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A torn last line (crash during an earlier write) must not swallow this record.
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
        written = os.write(fd, line)
        if written != len(line):
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)  # also releases the lock


def append_record(record: dict, directory: Path | None = None) -> Path:
    """Append a bench record to the store; returns the store path."""
    path = store_path(directory)
    append_line(path, record)
    return path


def read_jsonl(path: Path) -> list[dict]:
    """Read a JSONL file, skipping (with a warning) lines that are not JSON objects."""
    out: list[dict] = []
    if not path.exists():
        return out
    with open(path, "rb") as fh:
        no = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)  # bounded: a hostile file cannot exhaust memory
            if not raw:
                break
            no += 1
            if len(raw) > MAX_LINE_BYTES:
                while raw and not raw.endswith(b"\n"):  # skip the rest of the long line
                    raw = fh.readline(MAX_LINE_BYTES + 1)
                warnings.warn(f"{path}:{no}: line too long, skipped", StoreWarning, stacklevel=2)
                continue
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                warnings.warn(f"{path}:{no}: corrupt line skipped", StoreWarning, stacklevel=2)
                continue
            if not isinstance(obj, dict):
                warnings.warn(f"{path}:{no}: not a record, skipped", StoreWarning, stacklevel=2)
                continue
            out.append(obj)
    return out


def read_records(directory: Path | None = None) -> list[dict]:
    """All readable records of the local store, oldest first."""
    return read_jsonl((directory or data_dir(create=False)) / STORE_NAME)
