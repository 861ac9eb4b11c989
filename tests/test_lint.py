"""The lint rules of pyproject.toml's [tool.ruff] (pyflakes, bugbear, import order) hold on the whole tree.

Run as a test so that CI (`python -m pytest`, the README's command) runs it too."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    cmd = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    proc = subprocess.run([*cmd, "check", "--no-cache", "--output-format", "concise", str(ROOT)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert "No module named ruff" not in proc.stderr, "ruff is in the dev extra: pip install -e '.[dev]'"
    assert proc.returncode == 0, proc.stdout + proc.stderr
