"""Vision projector memory against what libmtmd (tools/mtmd/clip.cpp) allocates at load.

Writes gemma3-style projectors (SigLIP encoders of real widths, zero weights) with llmfit_core.synth, loads each
beside a tiny text model through llama-cpp-python's libmtmd in a subprocess (warmup on, CPU) with flash attention
on and off, and compares clip.cpp's logged weights and compute buffer with companions.mmproj_from_header. The
compute buffer does not depend on the number of blocks (the allocator reuses one block's tensors), so two blocks
stand in for the full depth. Prints a table and writes benchmarks/results/mmproj_compute.md.

    python benchmarks/mmproj_compute.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from llmfit_core.companions import read_mmproj
from llmfit_core.llamacpp_runner import MIB, load_and_measure
from llmfit_core.synth import VisionShape, write_synthetic_gguf, write_synthetic_mmproj

RESULTS = Path(__file__).parent / "results"
TEXT_EMBD = 256  # llama-tiny's n_embd
SHAPES = {  # encoder widths of projectors people load (their config.json vision_config)
    "Gemma 3 SigLIP-so400m 896px": VisionShape(1152, 4304, 16, 896, 14, 2, TEXT_EMBD),
    "SigLIP-so400m 384px": VisionShape(1152, 4304, 16, 384, 14, 2, TEXT_EMBD),
    "CLIP ViT-L/14 336px": VisionShape(1024, 4096, 16, 336, 14, 2, TEXT_EMBD),
    "SigLIP-base 224px": VisionShape(768, 3072, 12, 224, 16, 2, TEXT_EMBD),
}


def old_estimate(shape: VisionShape) -> int:
    """The figure used before this benchmark: 4 x patches x n_ff + patches^2 x heads, f32, whatever the attention."""
    p = (shape.image_size // shape.patch_size) ** 2
    return p * (4 * shape.n_ff + p * shape.n_head) * 4


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        text = write_synthetic_gguf(Path(tmp) / "text.gguf", "llama-tiny", "F16")
        for name, shape in SHAPES.items():
            mm = write_synthetic_mmproj(Path(tmp) / "mmproj.gguf", shape)
            for fa in (True, False):
                log = load_and_measure(text, n_ctx=256, flash_attn=fa, mmproj=mm).log
                real = sum(log.mmproj_compute_mib.values())
                ours = read_mmproj(str(mm), flash_attn=fa).compute_bytes / MIB
                rows.append((name, "on" if fa else "off", real, ours, old_estimate(shape) / MIB))
    head = "| projector | flash attn | clip.cpp compute MiB | ours MiB | error | before MiB |"
    lines = [head, "|" + "---|" * 6]
    for name, fa, real, ours, old in rows:
        lines.append(f"| {name} | {fa} | {real:.2f} | {ours:.2f} | {100 * (ours - real) / real:+.1f}% | {old:.2f} |")
    table = "\n".join(lines)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "mmproj_compute.md").write_text(
        "# Vision projector compute buffer: ours vs clip.cpp's log\n\n"
        "`python benchmarks/mmproj_compute.py` (llama-cpp-python 0.3.36, libmtmd on the CPU, warmup image "
        "= clip.vision.image_size).\n\n" + table + "\n")


if __name__ == "__main__":
    main()
