"""The examples a user would copy must run as documented (offline, on the shipped catalog)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "LLMFIT_OFFLINE": "1"})


def test_fit_api_example_prints_three_verdicts():
    proc = run(str(EXAMPLES / "fit_api.py"), "--hardware", "workstation-4090")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 3
    assert lines[0].split()[1] == "runs"  # 8B Q4_K_M on a 24 GiB card
    assert lines[2].split()[1] == "offload"  # 70B Q4_K_M does not fit 24 GiB of VRAM


def test_batch_example_answers_every_line():
    proc = run("-m", "llmfit_core.cli.main", "fit", "--batch", str(EXAMPLES / "batch_queries.jsonl"), "--offline")
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(out) == 4 and all("error" not in o for o in out)
    assert out[1]["context"] == 16384
    assert out[0]["memory"]["weights_bytes"] < out[1]["memory"]["weights_bytes"]  # Q4_K_M < Q8_0
    assert out[3]["hardware"]["name"] == "dual-3090"


def test_hardware_profile_example_is_valid():
    proc = run("-m", "llmfit_core.cli.main", "hardware", "validate", str(EXAMPLES / "hardware_profile.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_readme_main_job_commands_run_offline():
    """The README's "main job" block, run as written (comments stripped)."""
    import re
    import shlex

    readme = (EXAMPLES.parent / "README.md").read_text()
    block = re.search(r"## The main job.*?```sh\n(.*?)```", readme, re.S).group(1)
    commands = [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]
    assert len(commands) == 3 and all(c.startswith("llmfit ") for c in commands)
    for command in commands:
        argv = shlex.split(command)[1:]
        proc = run("-m", "llmfit_core.cli.main", *argv)
        assert proc.returncode == 0, (command, proc.stderr)
        assert proc.stdout.strip(), command


def test_every_example_is_run_by_these_tests():
    """A new example script without a test here fails this (third_party_plugin/ is installed and run by
    test_plugins)."""
    source = Path(__file__).read_text()
    shipped = [p.name for p in EXAMPLES.glob("*.py")]
    assert shipped and [name for name in shipped if f'"{name}"' not in source] == []
    assert (EXAMPLES / "third_party_plugin").is_dir() and "third_party_plugin" in \
        (Path(__file__).parent / "test_plugins.py").read_text()


def test_guard_download_example_blocks_then_downloads(hf_env, fake_hub, tmp_path):
    """examples/guard_download.py imports hf_hub_download before installing the guard: still checked."""
    pytest.importorskip("huggingface_hub")
    script = str(EXAMPLES / "guard_download.py")
    tiny_box = tmp_path / "tiny-box.json"  # small enough that Tiny-GGUF does not fit: a miss costs a few MB
    tiny_box.write_text(json.dumps({"name": "tiny-box", "cpu": {"model": "x", "cores": 2, "threads": 2,
                                                                "mem_bandwidth_gbs": 20},
                                    "memory": {"total_gb": 0.02, "available_gb": 0.02}, "gpus": []}))
    env = {k: v for k, v in hf_env["env"].items() if not k.startswith("LLMFIT_")}
    cached = hf_env["cache"] / "models--fake-org--Tiny-GGUF"
    proc = subprocess.run([sys.executable, script, "fake-org/Tiny-GGUF", "tiny-Q4_K_M.gguf"], capture_output=True,
                          text=True, timeout=120, env=dict(env, LLMFIT_HARDWARE=str(tiny_box)))
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.startswith("not downloaded: fake-org/Tiny-GGUF does not fit") and "tiny-box" in proc.stdout
    assert not list(cached.glob("snapshots/*/tiny-Q4_K_M.gguf"))
    proc = subprocess.run([sys.executable, script, "fake-org/Tiny-GGUF", "tiny-Q8_0.gguf"], capture_output=True,
                          text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    path = proc.stdout.strip().removeprefix("downloaded to ")
    assert os.path.getsize(path) == fake_hub.repos["fake-org/Tiny-GGUF"].files["tiny-Q8_0.gguf"].size
    assert "llmfit: fits: fake-org/Tiny-GGUF" in proc.stderr
    # offline, as a new user might first run it: one line from the guard (it fails open), one from the script
    proc = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=120,
                          env=dict(env, HF_HUB_OFFLINE="1"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "could not plan the download" in proc.stderr and "download failed: " in proc.stderr
