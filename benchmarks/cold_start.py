"""Cold start of the `llmfit` command as a user feels it: fresh processes, median of N runs, wall and CPU time.

    python benchmarks/cold_start.py [--runs 7] [--ref GIT_REV] [--only help,fit,...]

Method (fixed, so figures from different days compare):
- each command runs as `python -m llmfit_core.cli.main ...` with PYTHONPATH set to the tree being measured (this
  checkout, and with --ref a temporary `git worktree` of that revision, e.g. the previous release), so both trees
  use the same interpreter, the same installed libraries and the same model files;
- every (tree, command) pair runs once untimed first (page cache, .pyc files written as an installed package has
  them), then N timed rounds; inside a round the commands and the trees alternate, so a change of machine load
  falls on both trees alike;
- stdout is a 120x40 pseudo-terminal, as a user's (`fit` prints its rich table, not the piped layout);
- `fit` and `check` run as a user types them (this machine's hardware detected, which asks the installed
  llama.cpp build and a local Ollama server) and with `--hardware workstation-4090` (no detection);
- per pair: the median wall time (perf_counter around the child) and the median CPU time (user + system of the
  child, from getrusage). On a loaded machine the wall time also counts waiting for a core, the CPU time much less;
- the load average (1, 5, 15 min) is read before and after the runs and printed and saved with the result.
The GGUF for `check` is a real-shaped Llama-3.1-8B Q4_K_M header (32 layers, 128,256 tokens, 280,147 merges as the
published GGUF has them; tensor data a sparse hole), written once, outside the timed runs.
Targets (issue 15, medians on the 2-core reference machine): --help <= 0.15 s, fit CATALOG_NAME --offline <= 0.35 s,
recommend --top 10 <= 0.5 s, check of a local GGUF <= 0.3 s. Writes benchmarks/results/cold_start.{md,json}.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
CATALOG_NAME = "meta-llama/Llama-3.1-8B-Instruct"
HARDWARE = ["--hardware", "workstation-4090"]
TERMINAL_SIZE = (120, 40)  # columns, lines of the pseudo-terminal the commands write to
TARGETS_S = {"help": 0.15, "fit": 0.35, "fit --json": 0.35, "fit --hardware": 0.35, "recommend": 0.5, "check 8B": 0.3,
             "check 8B --hardware": 0.3}

# Llama-3.1-8B as its GGUF conversions store it (config.json of meta-llama/Llama-3.1-8B-Instruct; tokenizer sizes
# of the published GGUF: 128,256 tokens, 280,147 merges)
LLAMA_8B_CONFIG = dict(model_type="llama", hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, intermediate_size=14336, vocab_size=128256,
                       max_position_embeddings=131072, torch_dtype="bfloat16")
LLAMA_8B_MERGES = 280147

WRITE_8B = """
import random, sys
from llmfit_core.readers.hf_config import spec_from_config
from llmfit_core.synth import finish_sparse_gguf, header_gguf_writer
config, merges = {config!r}, {merges}
spec = spec_from_config(config, "Llama-3.1-8B-Instruct")
w, tensors = header_gguf_writer(sys.argv[1], spec, "Q4_K_M")
rng = random.Random(0)
letters = "abcdefghijklmnopqrstuvwxyz\u0120"
tokens = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) for _ in range(spec.vocab_size)]
w.add_tokenizer_model("gpt2")
w.add_tokenizer_pre("llama-bpe")
w.add_token_list(tokens)
w.add_token_types([1] * spec.vocab_size)
w.add_token_merges([tokens[rng.randrange(spec.vocab_size)] + " " + tokens[rng.randrange(spec.vocab_size)]
                    for _ in range(merges)])
w.add_bos_token_id(128000)
w.add_eos_token_id(128009)
w.add_chat_template("{{% for message in messages %}}{{{{ message['content'] }}}}{{% endfor %}}" * 70)
finish_sparse_gguf(w, sys.argv[1], tensors)
"""


def commands(gguf_8b: Path) -> dict[str, list[str]]:
    """As a user types them (this machine's hardware detected, Ollama and llama.cpp asked), and with a named
    profile (no detection: the same work on every machine)."""
    return {
        "help": ["--help"],
        "fit": ["fit", CATALOG_NAME, "--offline"],
        "fit --json": ["fit", CATALOG_NAME, "--offline", "--json"],
        "fit --hardware": ["fit", CATALOG_NAME, "--offline", *HARDWARE],
        "recommend": ["recommend", "--top", "10", *HARDWARE],
        "check 8B": ["check", str(gguf_8b)],
        "check 8B --hardware": ["check", str(gguf_8b), *HARDWARE],
    }


def llama_8b_gguf(tree: Path, out: Path) -> Path:
    """The real-shaped Llama-3.1-8B Q4_K_M header (sparse data), written by `tree`'s synthetic writer."""
    path = out / "Llama-3.1-8B-Instruct-Q4_K_M.gguf"
    code = WRITE_8B.format(config=LLAMA_8B_CONFIG, merges=LLAMA_8B_MERGES)
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=_env(tree), cwd=tree, capture_output=True)
    return path


def _env(tree: Path) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=f"{tree}{os.pathsep}{tree / 'plugins'}", LLMFIT_GUARD="", NO_COLOR="1")
    # an installed package has its .pyc files (pip compiles them): with PYTHONDONTWRITEBYTECODE set (as in
    # the sandboxes here) every timed run would compile every module from source instead
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["HF_HUB_OFFLINE"] = "1"
    return env


def _drain(fd: int) -> None:
    """Read a pseudo-terminal until its last writer closes (a full terminal buffer would block the child)."""
    while True:
        try:
            if not os.read(fd, 1 << 16):
                return
        except OSError:  # EIO: the child side is closed
            return


def run_once(tree: Path, args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds user + system) of one fresh `llmfit` process writing to a terminal."""
    # stdout is a pseudo-terminal of TERMINAL_SIZE, as a user's: `fit` prints its rich table, not the piped layout
    leader, follower = os.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", TERMINAL_SIZE[1], TERMINAL_SIZE[0], 0, 0))
    reader = threading.Thread(target=_drain, args=(leader,), daemon=True)
    reader.start()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # cwd=tree: `python -m` puts the working directory first on sys.path, ahead of PYTHONPATH
    proc = subprocess.run([sys.executable, "-m", "llmfit_core.cli.main", *args], env=_env(tree), cwd=tree,
                          stdout=follower, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    os.close(follower)
    reader.join()
    os.close(leader)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{tree}: llmfit {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return elapsed, cpu


def measure(trees: dict[str, Path], cmds: dict[str, list[str]], runs: int) -> dict[str, dict[str, list[tuple]]]:
    """tree name -> command name -> [(wall, cpu)] over `runs` rounds, after one untimed run of each pair."""
    for tree in trees.values():
        for argv in cmds.values():
            run_once(tree, argv)
    samples: dict[str, dict[str, list[tuple]]] = {t: {c: [] for c in cmds} for t in trees}
    for _ in range(runs):
        for name, argv in cmds.items():
            for tree_name, tree in trees.items():
                samples[tree_name][name].append(run_once(tree, argv))
    return samples


def table(samples: dict, runs: int, load_before: tuple, load_after: tuple) -> tuple[str, list[dict]]:
    trees = list(samples)
    rows = []
    for name in next(iter(samples.values())):
        row = {"command": name, "target_s": TARGETS_S[name]}
        for t in trees:
            row[f"{t} wall"] = round(statistics.median(w for w, _ in samples[t][name]), 3)
            row[f"{t} cpu"] = round(statistics.median(c for _, c in samples[t][name]), 3)
        rows.append(row)
    header = ["command", "target s", *[f"{t} {kind} s" for t in trees for kind in ("wall", "cpu")]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["command"], f"{r['target_s']:.2f}", *[f"{r[f'{t} {k}']:.3f}" for t in trees for k in ("wall", "cpu")]]
        lines.append("| " + " | ".join(cells) + " |")
    loads = f"load average {'/'.join(f'{x:.2f}' for x in load_before)} before, {'/'.join(f'{x:.2f}' for x in load_after)} after"
    text = (f"# Cold start, median of {runs} runs ({os.cpu_count()} cores, {loads})\n\n" + "\n".join(lines) + "\n")
    return text, rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--ref", help="a git revision to compare with (checked out in a temporary worktree)")
    ap.add_argument("--only", help=f"comma-separated commands to time (default all: {', '.join(TARGETS_S)})")
    args = ap.parse_args()
    trees = {"this tree": REPO}
    tmp = Path(tempfile.mkdtemp(prefix="llmfit-cold-"))
    if args.ref:
        ref_dir = tmp / "ref"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(ref_dir), args.ref], check=True)
        trees[args.ref] = ref_dir
    try:
        cmds = commands(llama_8b_gguf(REPO, tmp))
        if args.only:
            wanted = [c.strip() for c in args.only.split(",")]
            unknown = [c for c in wanted if c not in cmds]
            if unknown:
                raise SystemExit(f"unknown command {unknown[0]!r}; choose from: {', '.join(cmds)}")
            cmds = {c: cmds[c] for c in wanted}
        load_before = os.getloadavg()
        samples = measure(trees, cmds, args.runs)
        load_after = os.getloadavg()
    finally:
        if args.ref:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tmp / "ref")], check=False)
        shutil.rmtree(tmp, ignore_errors=True)
    text, rows = table(samples, args.runs, load_before, load_after)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cold_start.md").write_text(text)
    (RESULTS / "cold_start.json").write_text(json.dumps(
        {"runs": args.runs, "cores": os.cpu_count(), "load_average_before": load_before,
         "load_average_after": load_after, "trees": list(trees),
         "samples_wall_cpu": samples, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
