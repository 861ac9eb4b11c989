"""End to end: `llmfit bench` runs a real (tiny, synthetic) model in a child process and records it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from llmfit_core.bench.runner import BenchSettings, _explain_failure, run_bench
from llmfit_core.errors import BenchError


def _llmfit(args, tmp_path, timeout=120):
    env = dict(os.environ, LLMFIT_DATA_DIR=str(tmp_path / "data"), LLMFIT_CACHE_DIR=str(tmp_path / "cache"))
    return subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.slow
def test_bench_synthetic_through_cli_appends_a_record(tmp_path):
    pytest.importorskip("llama_cpp")
    r = _llmfit(["bench", "--synthetic", "llama-tiny:Q4_0", "--pp", "64", "--tg", "16", "-r", "1", "--json"], tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    lines = (tmp_path / "data" / "bench.jsonl").read_text().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["id"] == out["id"] and rec["source"] == "synthetic"
    assert rec["results"]["pp"]["test"] == "pp64" and rec["results"]["tg"]["test"] == "tg16"
    assert rec["results"]["pp"]["tok_s"] > 0 and rec["results"]["tg"]["tok_s"] > 0
    assert rec["model"]["quant"] == "Q4_0" and rec["model"]["file_bytes"] > 0
    assert rec["peak_rss_bytes"] > rec["model"]["file_bytes"] and 0 < rec["baseline_rss_bytes"] < rec["peak_rss_bytes"]
    assert rec["settings"]["pp"] == 64 and rec["settings"]["repeats"] == 1
    # the cached synthetic model is complete and reused
    assert [p.name for p in (tmp_path / "cache" / "synthetic").iterdir()] == ["llama-tiny-Q4_0.gguf"]

    # a broken model fails with one line and leaves the record intact
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4000))
    r = _llmfit(["bench", str(bad), "--pp", "8", "--tg", "2", "-r", "1"], tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("llmfit: error:")
    assert (tmp_path / "data" / "bench.jsonl").read_text().splitlines() == lines


def test_bad_input_is_refused_before_running(tmp_path):
    not_gguf = tmp_path / "x.bin"
    not_gguf.write_bytes(b"hello")
    with pytest.raises(BenchError, match="not a GGUF"):
        run_bench(not_gguf, BenchSettings(pp=8, tg=2, repeats=1))
    with pytest.raises(BenchError, match="no such file"):
        run_bench(tmp_path / "missing.gguf", BenchSettings())
    for bad in (BenchSettings(pp=0, tg=0), BenchSettings(repeats=0), BenchSettings(threads=0),
                BenchSettings(pp=512, n_ctx=64), BenchSettings(cache_type_k="q9_9"), BenchSettings(flash_attn="x")):
        with pytest.raises(BenchError):
            bad.validate()


def test_crash_signals_become_clear_messages():
    assert "SIGSEGV" in _explain_failure("m.gguf", -signal.SIGSEGV, None, "") and "--repack" in _explain_failure(
        "m.gguf", -signal.SIGSEGV, None, "")
    assert "out of memory" in _explain_failure("m.gguf", -signal.SIGKILL, None, "")
    assert "could not load" in _explain_failure("m.gguf", 2, "llama.cpp could not load the model file", "")


def test_cli_bench_needs_exactly_one_model(tmp_path):
    r = _llmfit(["bench"], tmp_path, timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("llmfit: error: give either")


def test_memory_preflight_refuses_what_cannot_fit(monkeypatch):
    import psutil

    from llmfit_core.bench.runner import check_memory
    from llmfit_core.synth import shape_spec

    spec = shape_spec("llama-0.5b")

    class VM:
        available = 2 * 2**30

    monkeypatch.setattr(psutil, "virtual_memory", lambda: VM)
    assert check_memory(spec, BenchSettings(pp=512, tg=128)) < VM.available
    with pytest.raises(BenchError, match="lower --ctx"):
        check_memory(spec, BenchSettings(pp=512, tg=128, n_ctx=1 << 20))


@pytest.mark.slow
def test_interrupted_bench_keeps_records_and_leaves_no_child(tmp_path):
    pytest.importorskip("llama_cpp")
    import psutil

    from llmfit_core.bench.store import append_record, store_path

    append_record({"id": "0" * 32, "earlier": True}, tmp_path / "data")
    before = store_path(tmp_path / "data").read_bytes()
    env = dict(os.environ, LLMFIT_DATA_DIR=str(tmp_path / "data"), LLMFIT_CACHE_DIR=str(tmp_path / "cache"),
               PYTHONFAULTHANDLER="1")  # a hang below is diagnosed: SIGABRT then prints every thread's stack
    p = subprocess.Popen([sys.executable, "-m", "llmfit_core.cli.main", "bench", "--synthetic", "llama-tiny:F16",
                          "--pp", "8", "--tg", "4000", "-r", "50"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         # a test run started in the background (no job control) inherits SIGINT as ignored, and
                         # Python then never turns SIGINT into KeyboardInterrupt: give the CLI a user's Ctrl-C
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        parent = psutil.Process(p.pid)
        children = []
        for _ in range(300):  # wait for the benchmark child to start
            children = parent.children()
            if children:
                break
            time.sleep(0.1)
        assert children, "bench child never started"
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        try:
            _, err = p.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGABRT)
            _, err = p.communicate(timeout=30)
            pytest.fail(f"bench did not exit within 60 s of SIGINT; its stacks:\n{err[-6000:]}")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130 and "interrupted" in err
    assert store_path(tmp_path / "data").read_bytes() == before
    time.sleep(0.2)
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


@pytest.mark.slow
def test_peak_memory_is_the_childs_own_not_the_parents(tmp_path):
    # Linux carries a parent's RSS high-water mark into a fork+exec'd child's ru_maxrss: a parent that has
    # just generated a large synthetic model must not inflate the peak memory the bench reports
    pytest.importorskip("llama_cpp")
    from llmfit_core.bench.synthetic import synthetic_model

    path = synthetic_model("llama-tiny:Q4_0", tmp_path)
    ballast = bytearray(600 * 2**20)  # touched pages: this process's RSS rises by 600 MiB
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    res = run_bench(path, BenchSettings(pp=16, tg=4, repeats=1))
    assert len(ballast) == 600 * 2**20
    assert 0 < res.baseline_rss_bytes < res.peak_rss_bytes < 500 * 2**20, res.peak_rss_bytes
