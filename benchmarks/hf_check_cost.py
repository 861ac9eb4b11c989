"""What a pre-download check costs: bytes pulled from the Hub and wall time, on the fake Hub (127.0.0.1).

For GGUF repos of growing vocabulary (the header grows with it) this measures:
- `resolve` (llmfit fit org/name:Q4_K_M): bytes served vs header size vs file size;
- the same against a server that ignores Range (bytes before we hang up);
- `hf ls` (one header per repo) and `hf ls --exact` (every header);
- `hf search` over 20 repos: requests made and GGUF bytes read (should be 0).
Prints a table and writes benchmarks/results/hf_check_cost.{md,json}.

    python benchmarks/hf_check_cost.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakehub import FakeHub, GGUFShape  # noqa: E402

SHAPES = {
    "32k vocab, 8B": GGUFShape(n_layers=32, hidden=4096, ffn=14336, n_heads=32, n_kv_heads=8, vocab=32000),
    "152k vocab, 70B": GGUFShape(n_layers=80, hidden=8192, ffn=28672, n_heads=64, n_kv_heads=8, vocab=152064),
    "256k vocab, 27B": GGUFShape(n_layers=62, hidden=5376, ffn=21504, n_heads=32, n_kv_heads=16, vocab=262144),
}


def mib(n: float) -> str:
    return f"{n / 2**20:.2f}"


def main() -> None:
    hub = FakeHub()
    repos = {}
    for i, (label, shape) in enumerate(SHAPES.items()):
        repo = f"bench/m{i}-GGUF"
        hub.add_gguf_repo(repo, {f"m{i}-Q4_K_M.gguf": shape, f"m{i}-Q8_0.gguf": dataclasses.replace(shape, quant="Q8_0")})
        repos[label] = repo
    small = GGUFShape()
    for j in range(17):  # filler repos for the search measurement
        hub.add_gguf_repo(f"bench/filler{j}-GGUF", {f"f{j}-Q4_K_M.gguf": small})
    hub.start()
    home = tempfile.mkdtemp()
    os.environ.update(hub.env(home))

    from llmfit_hf.listing import ls_repo, search
    from llmfit_hf.resolver import resolve_repo

    rows = []
    for label, repo in repos.items():
        f = hub.repos[repo].files[next(n for n in hub.repos[repo].files if n.endswith("Q4_K_M.gguf"))]
        row = {"model": label, "file_gib": round(f.size / 2**30, 1), "header_mib": float(mib(len(f.head)))}
        hub.reset_counts()
        t = time.perf_counter()
        resolve_repo(repo, quant="Q4_K_M")
        row["resolve_s"] = round(time.perf_counter() - t, 2)
        row["resolve_read_mib"] = float(mib(hub.served(repo)))
        row["requests"] = sum(1 for r in hub.requests if r[2] is not None)
        hub.reset_counts()
        hub.ignore_range = True
        resolve_repo(repo, quant="Q4_K_M")
        hub.ignore_range = False
        time.sleep(0.2)
        row["no_range_read_mib"] = float(mib(hub.served(repo)))
        hub.reset_counts()
        t = time.perf_counter()
        ls_repo(repo)
        row["ls_s"] = round(time.perf_counter() - t, 2)
        row["ls_read_mib"] = float(mib(hub.served(repo)))
        hub.reset_counts()
        t = time.perf_counter()
        ls_repo(repo, exact=True)
        row["ls_exact_s"] = round(time.perf_counter() - t, 2)
        row["ls_exact_read_mib"] = float(mib(hub.served(repo)))
        rows.append(row)

    hub.reset_counts()
    t = time.perf_counter()
    found = search("bench", limit=20)
    search_s = time.perf_counter() - t
    search_info = {"repos": len(found), "seconds": round(search_s, 2), "requests": len(hub.requests),
                   "gguf_bytes_read": sum(v for (_, n), v in hub.bytes_served.items() if n.endswith(".gguf"))}
    hub.stop()

    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    lines += ["", f"search over {search_info['repos']} GGUF repos: {search_info['seconds']} s, "
                  f"{search_info['requests']} requests, {search_info['gguf_bytes_read']} GGUF bytes read"]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "hf_check_cost.md").write_text(
        "# Pre-download check cost (fake Hub on 127.0.0.1, 2 shared cores)\n\n"
        "MiB read = body bytes the server sent for GGUF files; header = real GGUF header size.\n\n" + text + "\n")
    (out / "hf_check_cost.json").write_text(json.dumps({"rows": rows, "search": search_info}, indent=2))


if __name__ == "__main__":
    main()
