"""`mlx_lm.generate`-style timing runs usable as calibration records.

`write_tiny_model(dir)` writes a random-weight fp16 llama in the mlx-lm layout (config.json +
model.safetensors); `time_generation(dir)` times prefill and decode with mlx-lm's own `generate_step`
(token ids, no tokenizer needed); `make_record(run, hardware, spec)` turns it into a record shaped like
`llmfit bench` records (runtime "mlx"). 4-bit MLX on a CPU is far too slow to time here: use fp16 tiny models.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from llmfit_core.bench.records import record_head
from llmfit_core.errors import BenchError, ModelReadError
from llmfit_core.readers.hf_config import spec_from_config


@dataclass
class MLXRun:
    """One timed run: prompt processing and generation throughput, peak MLX memory."""

    model_dir: str
    prompt_tokens: int
    gen_tokens: int
    prefill_s: float
    decode_s: float
    prompt_tps: float
    generation_tps: float
    peak_memory_bytes: int
    device: str
    mlx_version: str

    def to_dict(self) -> dict:
        return asdict(self)


def write_tiny_model(path, hidden: int = 64, layers: int = 2, heads: int = 4, kv_heads: int = 2, ffn: int = 128,
                     vocab: int = 256, dtype: str = "float16", seed: int = 0) -> Path:
    """A random-weight llama in mlx-lm's layout; returns the directory."""
    import mlx.core as mx  # lazy: optional runner (this module imports without mlx)
    from mlx.utils import tree_flatten  # lazy: optional runner (this module imports without mlx)
    from mlx_lm.models import llama  # lazy: optional runner (this module imports without mlx)

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {"model_type": "llama", "hidden_size": hidden, "num_hidden_layers": layers, "intermediate_size": ffn,
              "num_attention_heads": heads, "num_key_value_heads": kv_heads, "rms_norm_eps": 1e-5,
              "vocab_size": vocab, "max_position_embeddings": 2048, "tie_word_embeddings": True,
              "torch_dtype": dtype}
    mx.random.seed(seed)
    model = llama.Model(llama.ModelArgs(**{k: v for k, v in config.items() if k != "torch_dtype"}))
    weights = {k: v.astype(getattr(mx, dtype)) for k, v in tree_flatten(model.parameters())}
    mx.save_safetensors(str(path / "model.safetensors"), weights, metadata={"format": "mlx"})
    (path / "config.json").write_text(json.dumps(config, indent=1))
    return path


def time_generation(model_dir, prompt_tokens: int = 64, gen_tokens: int = 16, seed: int = 0,
                    warmup: bool = True) -> MLXRun:
    """Load an mlx-lm model directory and time prefill + decode (like mlx_lm.generate's verbose stats).

    `warmup` runs a 2-token generation first so one-time kernel setup is not counted as prefill."""
    try:
        import mlx.core as mx  # lazy: optional runner (this module imports without mlx)
        from mlx_lm.generate import generate_step  # lazy: optional runner (this module imports without mlx)
        from mlx_lm.utils import load_model  # lazy: optional runner (this module imports without mlx)
    except ImportError as exc:
        raise BenchError(f"mlx / mlx-lm not importable: {exc}") from None
    if prompt_tokens < 1 or gen_tokens < 2:
        raise BenchError("need at least 1 prompt token and 2 generated tokens")
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise BenchError(f"{model_dir}: not an mlx-lm model directory (no config.json)")
    try:
        model, config = load_model(model_dir)
    except Exception as exc:  # mlx-lm raises ValueError/KeyError/FileNotFoundError for bad dirs
        raise BenchError(f"{model_dir}: mlx-lm cannot load it: {type(exc).__name__}: {exc}") from None
    vocab = int(config.get("vocab_size") or 256)
    mx.random.seed(seed)
    prompt = mx.random.randint(0, vocab, (prompt_tokens,))
    mx.eval(prompt)
    if warmup:
        for _ in generate_step(prompt[:8], model, max_tokens=2):
            pass
    mx.reset_peak_memory()
    t0 = time.perf_counter()
    steps = generate_step(prompt, model, max_tokens=gen_tokens)
    next(steps)  # mlx-lm evaluates each token before yielding it (as a Python int)
    t1 = time.perf_counter()  # prefill + the first sampled token, as mlx_lm.generate reports it
    n = 1
    for _ in steps:
        n += 1
    t2 = time.perf_counter()
    decode_s = t2 - t1
    device = "gpu" if mx.metal.is_available() else "cpu"
    return MLXRun(model_dir=str(model_dir), prompt_tokens=prompt_tokens, gen_tokens=n, prefill_s=t1 - t0,
                  decode_s=decode_s, prompt_tps=prompt_tokens / (t1 - t0),
                  generation_tps=(n - 1) / decode_s if decode_s > 0 else 0.0,
                  peak_memory_bytes=int(mx.get_peak_memory()), device=device, mlx_version=mx.__version__)


def spec_for_dir(model_dir, ref: str | None = None):
    """ModelSpec of an mlx-lm directory from its config.json (quantization included) via the readers."""
    model_dir = Path(model_dir)
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelReadError(f"{model_dir}/config.json: {exc}") from None
    spec = spec_from_config(config, ref or str(model_dir))
    files = sorted(model_dir.glob("*.safetensors"))
    if files:
        spec.file_bytes = sum(f.stat().st_size for f in files)
    return spec


def make_record(run: MLXRun, hardware, spec=None, source: str = "mlx") -> dict:
    """A calibration record shaped like `llmfit bench` records, with runtime "mlx" (`source` "observed": a
    generation of normal use, llmfit_mlx.observe)."""
    return {
        **record_head(source, hardware, spec, run.model_dir),
        "settings": {"n_prompt": run.prompt_tokens, "n_gen": run.gen_tokens, "n_gpu_layers": 0 if run.device == "cpu" else -1},
        "results": {
            "pp": {"test": f"pp{run.prompt_tokens}", "n_tokens": run.prompt_tokens, "tok_s": run.prompt_tps,
                   "tok_s_std": None, "seconds": run.prefill_s},
            "tg": {"test": f"tg{run.gen_tokens}", "n_tokens": run.gen_tokens, "tok_s": run.generation_tps,
                   "tok_s_std": None, "seconds": run.decode_s},
        },
        "peak_rss_bytes": None,
        "peak_mlx_memory_bytes": run.peak_memory_bytes,
        "prediction": None,
        "runtime": {"name": "mlx", "device": run.device, "mlx": run.mlx_version},
    }
