"""Cold start of the `llmfit` command as a user feels it: wall time of a fresh process, median of N runs.

    python benchmarks/cold_start.py [--runs 5] [--ref GIT_REV]

Each command runs as `python -m llmfit_core.cli.main ...` with PYTHONPATH set to the tree being measured
(this checkout, and with --ref a temporary `git worktree` of that revision, e.g. the previous release), so
both trees are timed with the same interpreter, the same installed libraries and the same method, one
after the other for each run. Targets (issue 15, medians on the 2-core reference machine): --help <= 0.15 s,
fit CATALOG_NAME --offline <= 0.35 s, recommend --top 10 <= 0.5 s, check of a local GGUF <= 0.3 s.
Writes benchmarks/results/cold_start.md and .json: median wall time and median CPU time (user + system) of the
process; on a loaded machine the wall time also counts waiting for a core, the CPU time much less. Quote the load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
TARGETS_S = {"help": 0.15, "fit": 0.35, "recommend": 0.5, "check": 0.3}


def commands(gguf: Path) -> dict[str, list[str]]:
    return {
        "help": ["--help"],
        "fit": ["fit", "meta-llama/Llama-3.1-8B-Instruct", "--offline", "--json", "--hardware", "workstation-4090"],
        "recommend": ["recommend", "--top", "10", "--hardware", "workstation-4090"],
        "check": ["check", str(gguf), "--hardware", "workstation-4090"],
    }


def tiny_gguf(tree: Path, out: Path) -> Path:
    """A small real GGUF written by the measured tree's own synthetic writer (outside the timed runs)."""
    path = out / "tiny-Q4_K_M.gguf"
    code = ("from llmfit_core.synth import write_synthetic_gguf, SHAPES; import sys; "
            "write_synthetic_gguf(sys.argv[1], SHAPES['llama-tiny'], 'Q4_K_M')")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=_env(tree), capture_output=True)
    return path


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'plugins'}", LLMFIT_GUARD="", NO_COLOR="1")
    # an installed package has its .pyc files (pip compiles them): with PYTHONDONTWRITEBYTECODE set (as in
    # the sandboxes here) every timed run would compile every module from source instead
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["HF_HUB_OFFLINE"] = "1"
    return env


def run_once(tree: Path, args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one fresh `llmfit` process."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", *args], env=_env(tree),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{tree}: llmfit {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return elapsed, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--ref", help="a git revision to compare with (checked out in a temporary worktree)")
    args = ap.parse_args()
    trees = {"this tree": REPO}
    tmp = Path(tempfile.mkdtemp(prefix="llmfit-cold-"))
    if args.ref:
        ref_dir = tmp / "ref"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(ref_dir), args.ref], check=True)
        trees[args.ref] = ref_dir
    try:
        gguf = tiny_gguf(REPO, tmp)
        cmds = commands(gguf)
        times: dict[str, dict[str, list[float]]] = {t: {c: [] for c in cmds} for t in trees}
        cpu_times: dict[str, dict[str, list[float]]] = {t: {c: [] for c in cmds} for t in trees}
        for tree_name, tree in trees.items():
            for argv in cmds.values():
                run_once(tree, argv)  # warm the page cache and .pyc files once, not timed
        for _ in range(args.runs):
            for name, argv in cmds.items():
                for tree_name, tree in trees.items():
                    wall, cpu = run_once(tree, argv)
                    times[tree_name][name].append(wall)
                    cpu_times[tree_name][name].append(cpu)
    finally:
        if args.ref:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "ref")], check=False)
    load = os.getloadavg()[0]
    rows = []
    for name in cmds:
        row = {"command": name, "target_s": TARGETS_S[name]}
        for tree_name in trees:
            row[tree_name] = round(statistics.median(times[tree_name][name]), 3)
            row[f"{tree_name} cpu"] = round(statistics.median(cpu_times[tree_name][name]), 3)
        rows.append(row)
    # CPU time (user + system) is what the process itself costs; wall time on a loaded machine also
    # counts the time it waited for a core, so both are shown
    header = ["command", "target s", *[f"{t} {kind}" for t in trees for kind in ("wall s", "cpu s")]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join([r["command"], f"{r['target_s']:.2f}", *[f"{r[k]:.3f}" for t in trees for k in (t, f"{t} cpu")]]) + " |")
    text = (f"# Cold start, median of {args.runs} runs ({os.cpu_count()} cores, load average {load:.1f})\n\n"
            + "\n".join(lines) + "\n")
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cold_start.md").write_text(text)
    (RESULTS / "cold_start.json").write_text(json.dumps({"runs": args.runs, "load_average": load, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
