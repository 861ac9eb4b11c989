"""The local bench store: append-only, atomic lines, tolerant reading."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import warnings

import pytest

from llmfit_core.bench import store
from llmfit_core.bench.store import StoreWarning, append_record, read_records, store_path


def test_append_and_read_in_order(tmp_path):
    for i in range(5):
        append_record({"id": f"{i:032x}", "n": i}, tmp_path)
    recs = read_records(tmp_path)
    assert [r["n"] for r in recs] == [0, 1, 2, 3, 4]
    assert store_path(tmp_path).read_text().count("\n") == 5


def test_data_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFIT_DATA_DIR", str(tmp_path / "d"))
    assert store.data_dir() == tmp_path / "d"
    append_record({"x": 1})
    assert read_records() == [{"x": 1}]


def test_corrupt_lines_are_skipped_with_warning(tmp_path):
    append_record({"n": 1}, tmp_path)
    with open(store_path(tmp_path), "ab") as fh:
        fh.write(b"{not json\n[1, 2]\n\xff\xfe\n")
    append_record({"n": 2}, tmp_path)
    with pytest.warns(StoreWarning) as caught:
        recs = read_records(tmp_path)
    assert [r["n"] for r in recs] == [1, 2]
    assert len(caught) == 3


def test_torn_last_line_does_not_swallow_next_record(tmp_path):
    append_record({"n": 1}, tmp_path)
    with open(store_path(tmp_path), "ab") as fh:  # a write cut off by a crash: no newline
        fh.write(b'{"n": 2, "resu')
    append_record({"n": 3}, tmp_path)
    with pytest.warns(StoreWarning):
        recs = read_records(tmp_path)
    assert [r["n"] for r in recs] == [1, 3]


def test_overlong_line_is_skipped_without_reading_it_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "MAX_LINE_BYTES", 100)
    append_record({"n": 1}, tmp_path)
    with open(store_path(tmp_path), "ab") as fh:
        fh.write(b'{"pad": "' + b"x" * 1000 + b'"}\n')
    append_record({"n": 2}, tmp_path)
    with pytest.warns(StoreWarning, match="too long"):
        assert [r["n"] for r in read_records(tmp_path)] == [1, 2]


_WRITER = """
import sys
from pathlib import Path
from llmfit_core.bench.store import append_record
d = Path(sys.argv[1]); tag = sys.argv[2]
i = 0
while True:
    append_record({"writer": tag, "i": i, "pad": "y" * 3000}, d)
    i += 1
    if i == 20:
        print("ready", flush=True)
"""


def test_killed_and_concurrent_writers_never_damage_finished_records(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(tmp_path), tag], stdout=subprocess.PIPE, text=True)
             for tag in ("a", "b")]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        time.sleep(0.2)
    finally:
        for p in procs:  # SIGKILL mid-stream, like the OOM killer
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    raw = store_path(tmp_path).read_bytes()
    parsed, torn = [], []
    for ln in raw.splitlines():
        try:
            parsed.append(json.loads(ln))
        except ValueError:
            torn.append(ln)
    # Every finished record is a whole line. The only line that may not parse is the one write each SIGKILL cut
    # short (the kernel stops a multi-page write at a fatal signal), and it is a prefix of a record, never a mix
    # of two (the lock serialises the writers).
    assert len(torn) <= len(procs)
    assert all(t.startswith(b'{"i":') and t.count(b'{"i":') == 1 for t in torn)
    assert len(parsed) >= 40
    for tag in ("a", "b"):
        seq = [r["i"] for r in parsed if r["writer"] == tag]
        assert seq == list(range(len(seq)))  # nothing lost or duplicated before the kill
    # the reader returns exactly the whole records (a torn one is skipped with a warning), and the next append
    # after the kill starts on a line of its own
    append_record({"writer": "after", "i": 0}, tmp_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recs = read_records(tmp_path)
    assert recs == parsed + [{"writer": "after", "i": 0}]
    assert len([w for w in caught if issubclass(w.category, StoreWarning)]) == len(torn)
