"""The `hf` shim in front of the real `hf` CLI (huggingface_hub) talking to the fake Hub on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llmfit_core import shims

REAL_HF = Path(sys.executable).parent / "hf"

pytestmark = pytest.mark.skipif(not REAL_HF.exists(), reason="the hf CLI is not installed beside this Python")


@pytest.fixture
def hf_shim(hf_env, tmp_path):
    d = tmp_path / "shims"
    shims.install(d, tools=("hf",), python=sys.executable)
    env = {k: v for k, v in hf_env["env"].items() if not k.startswith("LLMFIT_")}
    env.update(PATH=f"{d}:{REAL_HF.parent}:/usr/bin:/bin", LLMFIT_HARDWARE="cpu-only-16gb")
    return env


def test_real_hf_download_that_fits_completes(hf_shim, fake_hub, tmp_path):
    out = tmp_path / "dl dir"
    r = subprocess.run(["hf", "download", "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf", "--local-dir", str(out)],
                       capture_output=True, text=True, env=hf_shim, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "llmfit: " in r.stderr and "runs" in r.stderr
    got = out / "tiny-Q8_0.gguf"
    assert got.is_file() and got.stat().st_size == fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q8_0.gguf"].size
    with open(got, "rb") as fh:
        assert fh.read(4) == b"GGUF"


def test_real_hf_download_that_does_not_fit_never_starts(hf_shim, fake_hub, tmp_path):
    fake_hub.reset_counts()
    out = tmp_path / "dl"
    r = subprocess.run(["hf", "download", "fake-org/Huge-GGUF", "huge-Q4_K_M.gguf", "--local-dir", str(out)],
                       capture_output=True, text=True, env=hf_shim, timeout=300)
    assert r.returncode == 3
    assert len(r.stderr.splitlines()) == 1 and "no-fit" in r.stderr
    assert not (out / "huge-Q4_K_M.gguf").exists()
    assert fake_hub.served("fake-org/Huge-GGUF", "huge-Q4_K_M.gguf") < 8 << 20  # header reads only


def test_real_hf_dry_run_is_checked_and_runs(hf_shim, fake_hub, tmp_path):
    out = tmp_path / "dl"
    r = subprocess.run(["hf", "download", "fake-org/Huge-GGUF", "huge-Q4_K_M.gguf", "--local-dir", str(out), "--dry-run"],
                       capture_output=True, text=True, env=hf_shim, timeout=300)
    assert r.returncode == 0, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("llmfit")]
    assert line.startswith("llmfit: dry run: hf download fake-org/Huge-GGUF") and "no-fit" in line
    assert "huge-Q4_K_M.gguf" in r.stdout  # hf's own dry run ran after the verdict
    assert not (out / "huge-Q4_K_M.gguf").exists()


def test_ollama_pull_of_a_hub_gguf_is_checked_against_the_hub(hf_env, fake_hub, tmp_path):
    from fakeollama import dead_host

    real = tmp_path / "real"
    real.mkdir()
    (real / "ollama").write_text("#!/bin/sh\necho real-ollama \"$@\"\n")
    (real / "ollama").chmod(0o755)
    d = tmp_path / "shims"
    shims.install(d, tools=("ollama",), python=sys.executable)
    env = {k: v for k, v in hf_env["env"].items() if not k.startswith(("LLMFIT_", "OLLAMA_"))}
    env.update(PATH=f"{d}:{real}:/usr/bin:/bin", LLMFIT_HARDWARE="cpu-only-16gb", OLLAMA_HOST=dead_host(),
               OLLAMA_MODELS=str(tmp_path / "models"))
    r = subprocess.run(["ollama", "pull", "hf.co/fake-org/Huge-GGUF:Q4_K_M"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 3 and r.stdout == "" and "no-fit" in r.stderr
    r = subprocess.run(["ollama", "pull", "hf.co/fake-org/Tiny-GGUF:Q8_0"], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0 and r.stdout == "real-ollama pull hf.co/fake-org/Tiny-GGUF:Q8_0\n"
