"""Shim benchmark: what the drop-in wrappers cost, and how few bytes a pre-pull check reads.

- pass-through: a non-download command (`ollama list`) run directly vs. through the shim (sh + PATH walk);
- check: `ollama pull` through the shim against the fake Ollama registry (tests/fakeollama.py) for a
  model that fits (tiny) and one that does not (~70B, 40 GB blob): wall time and blob bytes served.

Run: python benchmarks/shims_overhead.py [--runs 20]
Prints a table and writes benchmarks/results/shims_overhead.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakeollama import FakeOllama, fake_env, make_model  # noqa: E402

from llmfit_core import shims  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "shims_overhead.md"
FAKE_REAL = "#!/bin/sh\nexit 0\n"


def _time(cmd, env, runs):
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env=env, capture_output=True)
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out), min(out), r.returncode


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, FakeOllama() as fake:
        tmp = Path(tmp)
        real = tmp / "real"
        real.mkdir()
        (real / "ollama").write_text(FAKE_REAL)
        (real / "ollama").chmod(0o755)
        shim_dir = tmp / "shims"
        shims.install(shim_dir, python=sys.executable)
        (tmp / "models").mkdir()
        hw = tmp / "hw.json"
        hw.write_text('{"name": "bench-8g", "cpu": {"cores": 4, "threads": 4, "mem_bandwidth_gbs": 40},'
                      ' "memory": {"total_gb": 8, "available_gb": 6}, "gpus": []}')
        huge = fake.add(make_model("huge", "70b", "big"))
        fake.add(make_model("tiny", "latest", "tiny"))
        env = dict(os.environ, **fake_env(fake, tmp / "models"), LLMFIT_HARDWARE=str(hw),
                   PATH=f"{shim_dir}:{real}:/usr/bin:/bin")
        direct_env = dict(env, PATH=f"{real}:/usr/bin:/bin")

        med, best, _ = _time(["ollama", "list"], direct_env, args.runs)
        rows.append(("ollama list, direct", med, best, "-", "-"))
        med, best, _ = _time(["ollama", "list"], env, args.runs)
        rows.append(("ollama list, through the shim", med, best, "-", "-"))
        n = max(3, args.runs // 5)
        for name, model in (("tiny", None), ("huge:70b", huge)):
            fake.blob_bytes.clear()
            med, best, rc = _time(["ollama", "pull", name], env, n)
            served = sum(fake.blob_bytes.values()) // n
            blob = model.blobs[model.model_digest].size if model else None
            rows.append((f"ollama pull {name} (check, exit {rc})", med, best, served, blob))

    lines = [f"# Shim overhead ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
             f"{args.runs} runs)", "",
             "| command | median ms | best ms | blob bytes read per check | model blob bytes |", "|---|---|---|---|---|"]
    for label, med, best, served, blob in rows:
        lines.append(f"| {label} | {med:.1f} | {best:.1f} | {served} | {blob or '-'} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
