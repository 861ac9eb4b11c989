"""MLX timing runs on tiny random fp16 llamas (mlx-lm's generate_step), as calibration records would be made.

4-bit MLX on a CPU is far too slow to time here; these fp16 shapes take seconds.
Run: python benchmarks/mlx_tiny.py
Prints a table and writes benchmarks/results/mlx_tiny.md.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from llmfit_mlx import mlx_device
from llmfit_mlx.calibrate import spec_for_dir, time_generation, write_tiny_model

RESULTS = Path(__file__).parent / "results" / "mlx_tiny.md"
SHAPES = [(64, 2, 128), (256, 4, 512), (512, 8, 1024)]  # hidden, layers, ffn


def main() -> None:
    lines = [f"# MLX tiny fp16 runs on {mlx_device()} ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", "",
             "| hidden | layers | params | weight MiB | pp64 tok/s | tg32 tok/s | peak MLX MiB |", "|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for hidden, layers, ffn in SHAPES:
            d = write_tiny_model(Path(tmp) / f"h{hidden}", hidden=hidden, layers=layers, heads=4, kv_heads=2, ffn=ffn,
                                 vocab=1024)
            spec = spec_for_dir(d)
            run = time_generation(d, prompt_tokens=64, gen_tokens=32)
            lines.append(f"| {hidden} | {layers} | {spec.params} | {spec.weight_bytes / 2**20:.1f} | "
                         f"{run.prompt_tps:.0f} | {run.generation_tps:.0f} | {run.peak_memory_bytes / 2**20:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
