"""Will these models run here? The Python API in a few lines (works offline on the shipped catalog).

    python examples/fit_api.py [--hardware NAME|PATH]
"""

import argparse

import llmfit_core

parser = argparse.ArgumentParser()
parser.add_argument("--hardware", default=None, help="built-in device/profile name or profile JSON (default: this machine)")
args = parser.parse_args()

for ref in ("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-Coder-32B-Instruct", "meta-llama/Llama-3.1-70B-Instruct"):
    report = llmfit_core.fit(ref, hardware=args.hardware, quant="Q4_K_M", context="8k", offline=True)
    gib = report.memory.total_bytes / 2**30
    print(f"{ref:40s} {report.verdict:8s} {gib:6.1f} GiB  {report.decode_tok_s:7.1f} tok/s  score {report.score}")
