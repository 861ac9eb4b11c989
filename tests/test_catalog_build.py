"""The shipped catalog is what the build script makes from the copied source data (never edited by hand)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_build_reproduces_the_shipped_catalog(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "training" / "build_catalog.py"), "--out-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for name in ("catalog.json.gz", "catalog_build_report.md", "catalog_group_bpw.json", "catalog_columns.npz"):
        assert (tmp_path / name).read_bytes() == (ROOT / "llmfit_core" / "data" / name).read_bytes(), name
