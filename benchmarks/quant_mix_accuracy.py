"""How well quant.apply_quant predicts llama.cpp's real quantizer, file type by file type.

Writes small random-weight F16 GGUFs (dense GQA and an 8-expert MoE), quantizes each with
llama-cpp-python's `llama_model_quantize` (in a subprocess), and compares the predicted weight bytes
and per-tensor ggml types with the real file's header. Prints a table and saves it under
benchmarks/results/quant_mix_accuracy.{md,json}.

    python benchmarks/quant_mix_accuracy.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.models.gen import make_gguf  # noqa: E402

from llmfit_core.quant import FILE_TYPES, _mix_context, apply_quant, llamacpp_tensor_types  # noqa: E402
from llmfit_core.readers.gguf import read_gguf  # noqa: E402

QUANTIZE = textwrap.dedent("""
    import ctypes, sys, llama_cpp
    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = int(sys.argv[3]); p.nthread = 1
    sys.exit(llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(p)))
""")
# file types llama.cpp quantizes without an importance matrix
TYPES = ["Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_0", "Q5_1", "Q4_K_M", "Q4_K_S", "Q4_0", "Q4_1", "IQ4_XS",
         "IQ4_NL", "Q3_K_L", "Q3_K_M", "Q3_K_S", "IQ3_M", "IQ3_S", "Q2_K", "TQ2_0", "BF16"]
MODELS = {
    "dense-gqa4 (16 layers)": dict(n_layers=16, hidden=512, heads=8, kv=2, ff=1024, vocab=512),
    "odd width 352 (fallback types)": dict(n_layers=8, hidden=352, heads=11, kv=1, ff=960, vocab=320),
    "moe-8x (8 layers)": dict(n_layers=8, hidden=256, heads=8, kv=2, ff=256, vocab=256, experts=8, experts_used=2),
}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for mname, kw in MODELS.items():
            src = make_gguf(Path(tmp) / "src.gguf", **kw)
            spec = read_gguf(src)
            for q in TYPES:
                out = Path(tmp) / f"{q}.gguf"
                t0 = time.time()
                r = subprocess.run([sys.executable, "-c", QUANTIZE, str(src), str(out), str(int(FILE_TYPES[q]))],
                                   capture_output=True, text=True, timeout=600)
                if r.returncode != 0:
                    rows.append({"model": mname, "quant": q, "error": (r.stderr.strip().splitlines() or ["?"])[-1]})
                    continue
                real = read_gguf(out)
                pred = apply_quant(spec, q)
                want = [t.name for t in llamacpp_tensor_types(spec.tensors, q, _mix_context(spec))]
                have = {n: t for n, _, t in real.tensors}
                same = sum(1 for (n, _, _), t in zip(spec.tensors, want) if have.get(n) == t)
                rows.append({"model": mname, "quant": q, "real_bytes": real.weight_bytes,
                             "predicted_bytes": pred.weight_bytes,
                             "error_pct": 100.0 * (pred.weight_bytes - real.weight_bytes) / real.weight_bytes,
                             "tensor_types_matching": f"{same}/{len(spec.tensors)}",
                             "seconds": round(time.time() - t0, 1)})
                out.unlink()
    lines = ["| model | quant | real bytes | predicted | error % | tensor types matching |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['quant']} | quantize failed: {r['error'][:60]} | | | |")
        else:
            lines.append(f"| {r['model']} | {r['quant']} | {r['real_bytes']} | {r['predicted_bytes']} | "
                         f"{r['error_pct']:+.3f} | {r['tensor_types_matching']} |")
    table = "\n".join(lines)
    print(table)
    ok = [abs(r["error_pct"]) for r in rows if "error_pct" in r]
    summary = f"worst |error| {max(ok):.3f}% over {len(ok)} quantized files" if ok else "no results"
    print(summary)
    res = ROOT / "benchmarks" / "results"
    res.mkdir(parents=True, exist_ok=True)
    (res / "quant_mix_accuracy.md").write_text(
        "# apply_quant vs llama.cpp's quantizer (llama-cpp-python 0.3.36)\n\n" + table + "\n\n" + summary + "\n")
    (res / "quant_mix_accuracy.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
